"""The test harness's own Redis: a CI machine whose Redis has stopped still runs the Redis tests."""

from __future__ import annotations

import shutil

import pytest

from tests import redis_service
from tests.conftest import in_ci


def test_a_private_redis_is_started_when_the_machine_one_does_not_answer(monkeypatch):
    if shutil.which("redis-server") is None:
        if in_ci():
            pytest.fail("CI=true but redis-server is not installed (scripts/test installs it)")
        pytest.skip("SKIPPED, NOT TESTED: redis-server is not installed")
    monkeypatch.setattr(redis_service, "MACHINE_REDIS", ("127.0.0.1", 1))  # nothing listens
    service = redis_service.start()
    try:
        assert service.problem is None and service.process is not None
        port = int(service.url.removeprefix("redis://127.0.0.1:").removesuffix("/0"))
        assert port != 6379
        assert redis_service.ping_problem("127.0.0.1", port) is None
    finally:
        service.stop()
    assert service.process.returncode is not None
    assert redis_service.ping_problem("127.0.0.1", port) is not None
