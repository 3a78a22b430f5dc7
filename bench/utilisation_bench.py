"""Benchmark: the utilisation report's computation for many spaces over a whole year.

    .venv/bin/python bench/utilisation_bench.py                 # 40 spaces, 52 weeks
    .venv/bin/python bench/utilisation_bench.py --spaces 80 --runs 5

Pure: no database. Every space is open Monday to Saturday 08:00-20:00 and booked 09:00-15:00
every open day (the worst case for clipping: one booking per space and day). Measures:

    compute    compute(): open time cut into local hours, bookings clipped, all sums
    csv rows   csv_rows(): the open-data export's rows (one per space, day and open hour)

Prints p50 and max in milliseconds. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time as clock
from datetime import UTC, datetime, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schiller40.booking.rules import Interval, LocationRules
from schiller40.core.time import BERLIN
from schiller40.models import ResourceKind
from schiller40.reports.utilisation import (
    ResourceInfo,
    WeekRange,
    compute,
    csv_rows,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    rules = LocationRules(tz=BERLIN, opening_hours={d: ((time(8), time(20)),) for d in range(6)})
    spaces = [ResourceInfo(i, f"desk-{i}", f"Desk {i}", ResourceKind.DESK, "Open Space", 1)
              for i in range(args.spaces)]
    weeks = WeekRange((2025, 48), (2026, 47))
    days = weeks.days()
    booked = {
        space.id: [
            Interval(datetime.combine(day, time(9), BERLIN).astimezone(UTC),
                     datetime.combine(day, time(15), BERLIN).astimezone(UTC))
            for day in days if day.weekday() < 6
        ]
        for space in spaces
    }
    timings: dict[str, list[float]] = {"compute": [], "csv rows": []}
    rows = 0
    for run in range(args.runs):
        start = clock.perf_counter()
        report = compute(weeks, spaces, {1: rules}, booked)
        timings["compute"].append((clock.perf_counter() - start) * 1000)
        start = clock.perf_counter()
        rows = sum(1 for _ in csv_rows(report))
        timings["csv rows"].append((clock.perf_counter() - start) * 1000)
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    print(f"{args.spaces} spaces x {weeks.week_count} weeks, {rows} CSV rows")
    print(f"{'':10} {'p50 ms':>10} {'max ms':>10}")
    for name, values in timings.items():
        print(f"{name:10} {statistics.median(values):10.1f} {max(values):10.1f}")


if __name__ == "__main__":
    main()
