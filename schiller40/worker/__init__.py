"""The worker: delivers the outbox and runs the periodic jobs.

``flask --app schiller40 worker`` runs continuously; ``flask --app schiller40 tick`` makes one
pass (for cron or a systemd timer). On the embedded default the web process runs the same
pass in a background thread (``embedded``). Any number of them may run at once: every job
takes the same locks the web requests take, and outbox entries are claimed row by row.
"""
