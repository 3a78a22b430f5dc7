"""The Redis that the "several app servers" tests share their counters in.

The machine's own Redis (127.0.0.1:6379) is used when it answers. When it does not, and the
``redis-server`` binary is installed, this test process starts a private one on a free port
(nothing kept on disk) and stops it at the end: a CI machine whose Redis service has stopped
still runs the Redis tests instead of failing on the machine rather than on the code. Only
with neither is it a skip (locally) or a failure (CI=true).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

MACHINE_REDIS = ("127.0.0.1", 6379)


@dataclass
class RedisService:
    url: str | None
    problem: str | None
    process: subprocess.Popen | None = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def ping_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` is not a Redis that answers PING, or None when it is."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                return f"{host}:{port} answered, but not like Redis"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start() -> RedisService:
    """The machine's Redis if it answers, else a private redis-server, else why neither."""
    machine_problem = ping_problem(*MACHINE_REDIS)
    if machine_problem is None:
        return RedisService(url="redis://127.0.0.1:6379/0", problem=None)
    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if binary is None:
        return RedisService(url=None, problem=(
            f"Redis is not reachable at 127.0.0.1:6379 ({machine_problem}) and redis-server "
            "is not installed to start one"))
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="schiller40-redis-")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", workdir, "--logfile", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    service = RedisService(url=f"redis://127.0.0.1:{port}/0", problem=None, process=process)
    deadline = time.monotonic() + 60  # a loaded CI machine may take its time to start it
    while (problem := ping_problem("127.0.0.1", port)) is not None:
        if process.poll() is not None or time.monotonic() > deadline:
            service.stop()
            return RedisService(url=None, problem=(
                f"Redis is not reachable at 127.0.0.1:6379 ({machine_problem}) and the "
                f"redis-server started on port {port} did not answer ({problem})"))
        time.sleep(0.05)
    return service
