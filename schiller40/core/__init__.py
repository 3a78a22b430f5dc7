"""Cross-cutting pieces every feature package uses: time, audit log, clock."""
