"""The performance suite (bench/suite.py) runs end to end on a tiny data set.

Not a benchmark: one short wrk run per scenario, so that the one command documented in
docs/performance.md keeps working (seeding, both gunicorn servers, every wrk script, the JSON
report). Its figures mean nothing here and are not checked, only the report's shape. Needs
PostgreSQL and wrk; without wrk it is skipped outside CI (scripts/test installs it when it
runs as root) and fails under CI=true, like a missing PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import DEFAULT_PG_URL, in_ci

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {
    "hello", "app_floor", "token_floor", "availability", "availability_cold", "bookings_post",
    "contention", "feed_304", "feed_full", "feed_full_cold", "availability_latency",
    "availability_latency_baseline",
}
TARGETS = {
    "availability", "bookings_post", "contention", "feed_304", "feed_full",
    "availability_scaling", "memory",
}


@pytest.fixture
def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        reason = "wrk is not installed, so the performance suite cannot run (apt-get install wrk)"
        if in_ci():
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return found


def test_the_suite_runs_on_a_tiny_data_set(wrk, backend, database_server, tmp_path):
    if backend != "postgresql":
        pytest.skip("the suite runs on PostgreSQL only (as production does)")
    server = make_url(os.environ.get("SCHILLER40_TEST_DATABASE_URL") or DEFAULT_PG_URL)
    output = tmp_path / "suite.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite.py"),
         "--database-url", server.render_as_string(hide_password=False),
         "--bookings", "400", "--baseline-bookings", "40", "--members", "4",
         "--feed-events", "30", "--duration", "1", "--warmup", "0",
         "--connections", "4", "--contention-connections", "8", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(output.read_text())
    assert set(report["scenarios"]) == SCENARIOS
    for name, result in report["scenarios"].items():
        assert result["requests"] > 0, name
        for key in ("req_per_s", "p50_ms", "p99_ms", "ratio_to_hello", "statuses", "errors"):
            assert key in result, (name, key)
        if name != "hello":
            assert result["peak_rss_mb_per_worker"] > 0, name
    assert {t["scenario"] for t in report["targets"]} == TARGETS
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    # What the load did is checked by the suite itself; on any machine these hold:
    contention = report["scenarios"]["contention"]
    assert set(contention["statuses"]) <= {"201", "409"}
    # One short second of load may not take all ten slots; never more than ten.
    assert contention["statuses"].get("201", 0) <= contention["bookings_in_database"] <= 10
    post = report["scenarios"]["bookings_post"]
    assert post["statuses"].get("201") == post["requests"], post["statuses"]
    assert report["scenarios"]["feed_304"]["statuses"] == {
        "304": report["scenarios"]["feed_304"]["requests"]}
    for floor in ("app_floor", "token_floor"):
        found = report["scenarios"][floor]
        assert found["statuses"] == {"200": found["requests"]}, (floor, found["statuses"])
    assert report["data"]["feed_events"] == 30
    assert report["data"]["bookings"] == 400
    assert report["data"]["baseline_bookings"] == 40
    assert "PostgreSQL" in done.stdout and "targets:" in done.stdout
