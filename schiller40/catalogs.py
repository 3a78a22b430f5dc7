"""Compiling the translation catalogues (``.po`` to ``.mo``), with babel alone.

Kept free of Flask and of the rest of the package on purpose: ``setup.py`` loads this file
by its path while building a wheel, in a build environment that has babel and setuptools and
nothing else, so that every wheel carries compiled catalogues (``.mo`` files are build
output and not in git). The app, the setup scripts and the tests use the same code.
"""

from __future__ import annotations

from pathlib import Path

CATALOG = "messages"


def compile_catalogs(source: Path, target: Path | None = None) -> list[Path]:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` below ``source`` whose ``.mo`` below
    ``target`` (default: beside the ``.po``) is missing or older. Returns what was written."""
    # At call time: importing this module (setup.py loads it by path) must need nothing but
    # the standard library; babel is only there when catalogues are compiled.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    target = target or source
    compiled = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo_path = (target / po_path.relative_to(source)).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parent.parent.name)
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with mo_path.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        compiled.append(mo_path)
    return compiled


def missing_catalogs(directory: Path, languages: tuple[str, ...] | list[str]) -> list[str]:
    """The languages of ``languages`` without a compiled catalogue in ``directory``: Flask-Babel
    would show English for them without a word of warning."""
    return [
        lang for lang in languages
        if not (directory / lang / "LC_MESSAGES" / f"{CATALOG}.mo").is_file()
    ]
