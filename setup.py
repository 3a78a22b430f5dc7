"""Build hook: a wheel of Schiller40 is complete and self-sufficient.

Everything else about the project is declared in pyproject.toml. This adds what setuptools
cannot declare: the top-level ``templates/``, ``static/`` and ``migrations/`` folders of the
repository are copied *into* the package of the wheel (``schiller40/templates`` ...; the app
looks there first, see ``schiller40/__init__.py``), and the translation catalogues are
compiled into it (``.mo`` files are build output, not in git). The repository keeps its
layout; an editable install (``scripts/setup``) uses the folders where they are and is left
alone. Why this way: docs/operations.md, "Installing from a wheel".
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_DIRS = ("templates", "static", "migrations")


def _catalogs():
    """schiller40/catalogs.py, loaded by its path: importing the package would need Flask,
    which the build environment does not have (babel is in build-system.requires)."""
    spec = importlib.util.spec_from_file_location("_schiller40_catalogs",
                                                  ROOT / "schiller40" / "catalogs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithData(build_py):
    """``build_py`` plus the data folders and the compiled catalogues in the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the checkout's own folders serve an editable install
            return
        package = Path(self.build_lib) / "schiller40"
        for name in DATA_DIRS:
            shutil.copytree(ROOT / name, package / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        translations = package / "translations"
        for stale in translations.glob("*/LC_MESSAGES/*.mo"):
            stale.unlink()  # always compiled from the .po of this build
        written = _catalogs().compile_catalogs(ROOT / "schiller40" / "translations",
                                               translations)
        if not written:
            raise RuntimeError("no translation catalogue was compiled into the wheel")


setup(cmdclass={"build_py": BuildPyWithData})
