"""The embedded default runs the worker in a thread of the web process.

Started by the first request rather than by ``create_app``, so ``flask seed-demo``, ``flask db
upgrade`` and the reloader's watcher process never start one; only a process that serves
pages does. Several such processes (gunicorn workers) are harmless: they claim outbox rows
and take locks like separate workers would.
"""

from __future__ import annotations

import threading

from flask import Flask

from .runner import run_forever

_started: set[int] = set()
_lock = threading.Lock()


def init_app(app: Flask) -> None:
    if not app.config.get("WORKER_EMBEDDED") or app.config.get("TESTING"):
        return

    @app.before_request
    def start_worker_thread() -> None:
        if id(app) in _started:
            return
        with _lock:
            if id(app) in _started:
                return
            _started.add(id(app))
        stop = threading.Event()
        app.extensions["schiller40.worker_stop"] = stop
        thread = threading.Thread(
            target=run_forever, name="schiller40-worker", daemon=True,
            kwargs={
                "app": app, "interval": float(app.config["WORKER_INTERVAL_SECONDS"]),
                "stop": stop, "clock": app.extensions["schiller40.clock"],
            },
        )
        app.extensions["schiller40.worker_thread"] = thread
        thread.start()
