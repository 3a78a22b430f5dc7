"""Where one request of each hot kind spends its time, in-process (no gunicorn, no wrk).

    .venv/bin/python bench/profile_requests.py                      # every kind, 300 requests each
    .venv/bin/python bench/profile_requests.py availability -n 1000 --top 40
    .venv/bin/python bench/profile_requests.py feed_full --sort cumulative

The suite (bench/suite.py) says *how fast*; this says *where*. It seeds a throwaway
PostgreSQL database exactly as the suite does (a smaller one by default: --bookings), builds
the app with the suite's settings, sends each kind of request through Flask's test client,
and prints the mean wall time per request, the SQL statements per request and the top of a
cProfile of the measured requests. cProfile inflates call-heavy code about twofold, so read
its shares, not its seconds; the "mean ms" column is measured without the profiler.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from feed_bench import Database, progress  # noqa: E402
from suite import DEFAULT_SERVER, Seeder, app_env  # noqa: E402

KINDS = ("availability", "bookings_post", "contention_409", "feed_304", "feed_full")


def build_app(database_url: str, tmp: Path):
    """The app with the suite's settings (app_env), as gunicorn's worker would build it."""
    for key, value in app_env(database_url, tmp).items():
        os.environ[key] = value
    from schiller40 import create_app

    return create_app()


def count_statements(app) -> Callable[[], int]:
    from sqlalchemy import event

    from schiller40.extensions import db

    counter = {"n": 0}
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: object) -> None:
        counter["n"] += 1

    def take() -> int:
        value, counter["n"] = counter["n"], 0
        return value

    return take


def _status(response) -> int:
    response.get_data()
    response.close()
    return response.status_code


def requests_for(kind: str, data, feed_path: str, etag: str) -> Callable[[object, int], int]:
    """One request of ``kind`` number ``i``, sent through the test client; returns its status.

    Every body is read to its end: a streamed feed is rendered while it is read."""
    member = {"Authorization": f"Bearer {data.member_token}"}
    if kind == "availability":
        path = f"/api/v1/availability?date={data.availability_day}"
        return lambda client, i: _status(client.get(path, headers=member))
    if kind == "bookings_post":
        def post(client, i: int) -> int:
            headers = {"Authorization": f"Bearer {data.actor_tokens[i % len(data.actor_tokens)]}"}
            return _status(client.post("/api/v1/bookings", json=data.post_slots[i],
                                       headers=headers))
        return post
    if kind == "contention_409":
        def refused(client, i: int) -> int:
            headers = {"Authorization": f"Bearer {data.actor_tokens[i % len(data.actor_tokens)]}"}
            body = data.contended[i % len(data.contended)]
            return _status(client.post("/api/v1/bookings", json=body, headers=headers))
        return refused
    if kind == "feed_304":
        return lambda client, i: _status(client.get(feed_path,
                                                    headers={"If-None-Match": etag}))
    if kind == "feed_full":
        return lambda client, i: _status(client.get(feed_path))
    raise SystemExit(f"unknown kind {kind}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", help=f"any of {', '.join(KINDS)} (default: all)")
    parser.add_argument("-n", "--requests", type=int, default=300)
    parser.add_argument("--bookings", type=int, default=20_000)
    parser.add_argument("--feed-events", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--json", type=Path, help="also write the timings here")
    options = parser.parse_args(argv)
    kinds = options.kinds or list(KINDS)
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")

    database = Database(options.database_url)
    seeder = None
    timings: dict[str, dict[str, float]] = {}
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        seeder = Seeder(database.url, now)
        # Each kind has its own posts: warm-up, timed and profiled runs, for every kind.
        data = seeder.prepare(members=50, post_slots=3 * options.requests + 100)
        seeder.add_bookings(options.bookings)
        seeder.feed(options.feed_events)
        seeder.analyze()
        feed_path = seeder.feed_path()
        seeder.close()
        seeder = None

        app = build_app(database.url, Path(database.tmp.name))
        statements = count_statements(app)
        client = app.test_client()
        etag = client.get(feed_path).headers["ETag"]
        # The contention kind needs its ten slots taken first: then every request is a 409.
        for body in data.contended:
            client.post("/api/v1/bookings", json=body,
                        headers={"Authorization": f"Bearer {data.actor_tokens[0]}"})
        post_offset = 0
        for kind in kinds:
            send = requests_for(kind, data, feed_path, etag)
            n = options.requests
            base = post_offset if kind == "bookings_post" else 0
            for i in range(20):  # warm-up: first-request work, compiled SQL caches
                send(client, base + i)
            base += 20
            statements()
            started = time.perf_counter()
            codes: dict[int, int] = {}
            for i in range(n):
                code = send(client, base + i)
                codes[code] = codes.get(code, 0) + 1
            elapsed = time.perf_counter() - started
            per_request = statements() / n
            base += n
            profile = cProfile.Profile()
            profile.enable()
            for i in range(min(n, 200)):
                send(client, base + i)
            profile.disable()
            base += min(n, 200)
            if kind == "bookings_post":
                post_offset = base
            mean_ms = elapsed / n * 1000
            timings[kind] = {"mean_ms": round(mean_ms, 3), "statements": per_request,
                             "statuses": codes}
            print(f"\n=== {kind}: {mean_ms:.2f} ms per request, {per_request:.1f} SQL "
                  f"statements, statuses {codes}")
            out = io.StringIO()
            pstats.Stats(profile, stream=out).strip_dirs().sort_stats(
                options.sort).print_stats(options.top)
            print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
        from schiller40.extensions import db

        with app.app_context():
            db.engine.dispose()
    finally:
        if seeder is not None:
            seeder.close()
        database.close()
    if options.json:
        options.json.write_text(json.dumps(timings, indent=2) + "\n")
    progress("\n" + "\n".join(f"{k:16} {v['mean_ms']:8.2f} ms  {v['statements']:5.1f} stmts"
                              for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
