"""Benchmark: what one ``core.locking.write`` block costs on PostgreSQL, with and without the
``SET LOCAL lock_timeout`` it issues (issue 18).

    .venv/bin/python bench/write_bench.py                       # 127.0.0.1:5432, 5 x 2000
    .venv/bin/python bench/write_bench.py --runs 9 --blocks 5000
    SCHILLER40_BENCH_PG=postgresql://user@host:5432/postgres .venv/bin/python bench/write_bench.py

Creates and drops a scratch database ``s40_bench_write``. Each block begins, runs one
``SELECT 1`` and commits: the fixed cost every write use case pays before its own work.
Prints the median microseconds per block of each variant and the difference. Speed is
measured here and written down in docs/performance.md, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy import text

from schiller40 import create_app
from schiller40.core.locking import LOCK_TIMEOUT_OPTION, write
from schiller40.extensions import db

SCRATCH = "s40_bench_write"


def measure(url: str, *, timeout_ms: int, runs: int, blocks: int) -> float:
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": url})
    with app.app_context():
        db.engine.update_execution_options(**{LOCK_TIMEOUT_OPTION: timeout_ms})
        rounds = []
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(blocks):
                with write(db.session) as session:
                    session.execute(text("SELECT 1"))
            rounds.append((time.perf_counter() - start) / blocks * 1e6)
        db.session.remove()
        db.engine.dispose()
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=2000)
    args = parser.parse_args()
    admin = os.environ.get("SCHILLER40_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        conn.execute(f"CREATE DATABASE {SCRATCH}")
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + SCRATCH
    try:
        with_set = measure(url, timeout_ms=10_000, runs=args.runs, blocks=args.blocks)
        without = measure(url, timeout_ms=0, runs=args.runs, blocks=args.blocks)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
    print(f"write block with SET LOCAL lock_timeout: {with_set:6.0f} µs")
    print(f"write block without:                     {without:6.0f} µs")
    print(f"difference:                              {with_set - without:6.0f} µs per write")


if __name__ == "__main__":
    main()
