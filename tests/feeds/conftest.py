"""Fixtures for the feed tests.

- ``client``: every calendar (text/calendar) it receives is run through the strict checker in
  ics_checks.py, so no test can fetch a malformed feed without failing (test_feeds.py wraps
  its logged-in clients the same way).
- ``icaljs``: parses a calendar with ical.js under node (tests/js/parse_ics.mjs). Outside CI a
  machine without node (or without ``npm ci --prefix tests/js``) skips those tests with the
  reason; under CI=true that is a failure, as a missing PostgreSQL is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ..conftest import in_ci
from . import ics_checks

JS_DIR = Path(__file__).resolve().parents[1] / "js"
PARSE_ICS = JS_DIR / "parse_ics.mjs"


@pytest.fixture
def client(client: FlaskClient) -> FlaskClient:
    return ics_checks.checking(client)


def _icaljs_problem() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed, so the ical.js feed test cannot run"
    installed = JS_DIR / "node_modules" / "ical.js" / "package.json"
    if not installed.exists():
        return "ical.js is not installed: run scripts/test (or npm ci --prefix tests/js)"
    wanted = json.loads((JS_DIR / "package.json").read_text())["dependencies"]["ical.js"]
    have = json.loads(installed.read_text())["version"]
    if have != wanted:
        return f"tests/js has ical.js {have}, package.json pins {wanted}: run npm ci --prefix tests/js"
    return None


@pytest.fixture(scope="session")
def icaljs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bytes], dict]:
    problem = _icaljs_problem()
    if problem:
        if in_ci():
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)
    node = shutil.which("node")
    assert node is not None
    folder = tmp_path_factory.mktemp("ics")
    counter = iter(range(1_000_000))

    def parse(body: bytes) -> dict:
        path = folder / f"feed-{next(counter)}.ics"
        path.write_bytes(body)
        done = subprocess.run(
            [node, str(PARSE_ICS), str(path)], capture_output=True, timeout=60, check=False,
            env={"PATH": "/usr/bin:/bin", "TZ": "Pacific/Chatham"},  # an odd zone on purpose
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return json.loads(done.stdout)

    return parse
