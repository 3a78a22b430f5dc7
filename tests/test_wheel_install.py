"""The app installed the way the README offers besides scripts/setup: a wheel built from the
checkout, installed into a fresh virtualenv outside it, with its dependencies from the
package index (pip's cache makes that quick). Then the installed app runs its migrations on an
empty database and serves /login in German under gunicorn, with nothing of the checkout on
its path.

Building the wheel and the virtualenv costs some 30-90 seconds, once per test run (shared by
pytest-xdist's workers). The wheel is built from a copy of the checkout, so the checkout gets
no ``build/`` folder.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from schiller40 import create_app, i18n
from schiller40.settings import ConfigError
from tests.security.test_faults_process_kill import free_port, until
from tests.test_config import GOOD_PRODUCTION

ROOT = Path(__file__).resolve().parents[1]
# Neither copied nor built: local state, caches, what git ignores.
NOT_COPIED = (".git", ".venv", ".venv-audit", "build", "dist", "instance", "node_modules",
              "test-artifacts", "__pycache__", "*.egg-info", "*.pyc", "*.mo", ".*_cache",
              ".hypothesis")
PIP_TIMEOUT = 600  # a clean machine downloads every dependency
START_TIMEOUT = 60.0


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without anything that would put the checkout or its
    virtualenv on the installed app's path, plus ``SCHILLER40_*`` ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCHILLER40_", "PYTHON", "VIRTUAL_ENV", "FLASK_"))}
    env.update({f"SCHILLER40_{k}": v for k, v in settings.items()})
    return env


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = PIP_TIMEOUT) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env or clean_env(),
                            capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel and a fresh virtualenv (no system site-packages) with it and its
    dependencies installed. Made once per test run: pytest-xdist's workers share the folder
    above their own temporary folders, and a lock lets the first one build for all."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # this run's folder, above the worker's own
    shared = base / "schiller40-wheel"
    shared.mkdir(exist_ok=True)
    ready = shared / "ready"
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            _build(shared)
            ready.touch()
    (wheel,) = (shared / "dist").glob("schiller40-*.whl")
    return wheel, shared / "venv"


def _build(base: Path) -> None:
    source = base / "source"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_COPIED))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
        base / "dist", source, cwd=base)
    (wheel,) = (base / "dist").glob("schiller40-*.whl")
    run(sys.executable, "-m", "venv", "--clear", base / "venv", cwd=base)
    run(base / "venv" / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-compile",
        wheel, cwd=base)


@pytest.fixture
def wheel(built: tuple[Path, Path]) -> Path:
    return built[0]


@pytest.fixture
def venv(built: tuple[Path, Path]) -> Path:
    return built[1]


def test_the_wheel_carries_everything_the_app_needs(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    for needed in (
        "config.py", "wsgi.py",
        "schiller40/translations/de/LC_MESSAGES/messages.mo",
        "schiller40/translations/en/LC_MESSAGES/messages.mo",
        "schiller40/templates/base.html", "schiller40/templates/accounts/login.html",
        "schiller40/static/css/app.css", "schiller40/static/favicon.svg",
        "schiller40/migrations/env.py", "schiller40/migrations/alembic.ini",
    ):
        assert needed in names, f"{needed} is not in the wheel"
    assert len([n for n in names if n.startswith("schiller40/migrations/versions/")]) == len(
        list((ROOT / "migrations" / "versions").glob("*.py")))
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "instance/"))]
    # The SPDX licence field (setuptools >= 77), not the deprecated table.
    assert b"\nLicense-Expression: EUPL-1.2\n" in metadata


@pytest.fixture
def empty_database(backend: str, database_server, tmp_path: Path) -> Iterator[str]:
    """A database without a single table, for the installed app's migrations."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'installed.db'}"
        return
    admin = make_url(database_server.pg_admin_url)
    name = f"schiller40_wheel_{os.getpid()}_{tmp_path.name[-12:]}".lower().replace("-", "_")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin.set(database=name).render_as_string(hide_password=False)
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def test_the_installed_wheel_migrates_and_serves_login_in_german(venv, empty_database,
                                                                  tmp_path):
    bin_dir = venv / "bin"
    env = clean_env(ENV="development", DATABASE_URL=empty_database, AUTO_MIGRATE="false",
                    WORKER_EMBEDDED="false")
    where = run(bin_dir / "python", "-c",
                "import config, schiller40, wsgi; print(config.__file__, schiller40.__file__)",
                cwd=tmp_path, env=env)
    assert str(ROOT) not in where
    assert all(path.startswith(str(venv)) for path in where.split())

    run(bin_dir / "flask", "--app", "schiller40", "db", "upgrade", cwd=tmp_path, env=env)

    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [bin_dir / "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--no-control-socket", "wsgi:app"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert server.poll() is None, f"gunicorn exited:\n{log.read_text()}"
        try:
            return requests.get(f"{base}/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # not listening yet, or still starting
            return False

    try:
        until(answers, "the installed app to answer", START_TIMEOUT)
        login = requests.get(f"{base}/login", timeout=10)
        assert login.status_code == 200, login.text
        assert '<html lang="de"' in login.text
        assert "Anmelden" in login.text and "Log in" not in login.text
        assert requests.get(f"{base}/static/css/app.css", timeout=10).status_code == 200
        ready = requests.get(f"{base}/readyz", timeout=10)  # the schema is the newest
        assert ready.status_code == 200, ready.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()


# --- a missing catalogue at start-up -------------------------------------------------------


@pytest.fixture
def without_catalogues(tmp_path, monkeypatch) -> Path:
    """The translations folder as a broken install would have it: .po files, no .mo."""
    for name in [k for k in os.environ if k.startswith("SCHILLER40_")]:
        monkeypatch.delenv(name)  # the app's settings are the test's alone
    folder = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATIONS, folder, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(i18n, "TRANSLATIONS", folder)
    return folder


def test_production_refuses_to_start_without_a_compiled_catalogue(without_catalogues):
    with pytest.raises(ConfigError, match=r"Refusing to start in production: .*\bde\b"):
        create_app(GOOD_PRODUCTION)
    i18n.compile_catalogs(without_catalogues)
    assert create_app(GOOD_PRODUCTION).config["ENV_NAME"] == "production"


def test_development_warns_about_a_missing_catalogue(without_catalogues, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        create_app({"ENV_NAME": "development", "AUTO_MIGRATE": False,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"})
    assert "no compiled translation catalogue (messages.mo) for de, en" in caplog.text
