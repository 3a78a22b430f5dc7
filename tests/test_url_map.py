"""The URL map in docs/architecture.md against the app's routes.

Every URL has one home: the map's rows say which module holds which URLs, and these tests
fail when a route is added where the map does not say (in an undocumented module, or under
an undocumented URL), when a row names the wrong module or blueprint, when a row no longer
has a route, or when a view module imports another view module.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from schiller40 import create_app

ARCHITECTURE = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
VARIABLE = re.compile(r"<[^>]+>")
FLASK_STATIC = "static"  # Flask's own route, in no module of ours


@dataclass(frozen=True)
class Row:
    urls: tuple[str, ...]
    module: str  # dotted, e.g. schiller40.booking.views
    blueprint: str

    def covers(self, rule: str) -> bool:
        return any(_pattern(url).fullmatch(rule) for url in self.urls)


def _pattern(url: str) -> re.Pattern[str]:
    """``/bookings…`` is the URL and everything under it (``/bookings/…``, ``/bookings.ics``);
    another URL is itself alone; a ``<name>`` stands for any one variable part of a rule."""
    prefix = url.endswith("…")
    parts = VARIABLE.split(url.removesuffix("…"))
    body = "<[^>]+>".join(re.escape(p) for p in parts)
    return re.compile(body + (r"(?:[/.].*)?" if prefix else ""))


def url_map_rows(text: str) -> list[Row]:
    """The table of the "URL map" section."""
    section = re.search(r"^## URL map\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert section, "docs/architecture.md has no '## URL map' section"
    rows = []
    for line in section.group(1).splitlines():
        if not line.startswith("| `"):
            continue  # prose, the header and its rule
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"a URL map row needs three cells: {line}"
        urls = tuple(re.findall(r"`([^`]+)`", cells[0]))
        [path] = re.findall(r"`([^`]+)\.py`", cells[1])
        [blueprint] = re.findall(r"`([^`]+)`", cells[2])
        module = "schiller40." + path.replace("/", ".").removesuffix(".__init__")
        rows.append(Row(urls, module, blueprint))
    assert len(rows) > 10, "the URL map's table was not found"  # guards the guard
    return rows


def problems(app: Flask, rows: list[Row]) -> Iterator[str]:
    """What does not agree between the map and the app, one line each."""
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != FLASK_STATIC]
    for rule in rules:
        module = app.view_functions[rule.endpoint].__module__
        homes = [row for row in rows if row.covers(rule.rule)]
        where = f"{rule.rule} ({rule.endpoint} in {module})"
        if not homes:
            yield f"{where}: no row of the URL map covers it"
        elif len(homes) > 1:
            yield f"{where}: covered by {len(homes)} rows: {[h.urls for h in homes]}"
        elif homes[0].module != module:
            yield f"{where}: the URL map says {homes[0].module}"
        elif homes[0].blueprint != rule.endpoint.partition(".")[0]:
            yield f"{where}: the URL map says blueprint {homes[0].blueprint}"
    for row in rows:
        for url in row.urls:
            if not any(_pattern(url).fullmatch(r.rule) for r in rules):
                yield f"{url} ({row.module}): in the URL map, but the app has no such route"


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return url_map_rows(ARCHITECTURE.read_text(encoding="utf-8"))


@pytest.fixture
def url_app() -> Flask:
    """No database is needed to know the routes."""
    return create_app({"ENV_NAME": "testing", "DATABASE_URL": "sqlite://"})


def test_every_route_has_one_home_and_every_row_a_route(url_app: Flask, rows: list[Row]):
    found = list(problems(url_app, rows))
    assert not found, "docs/architecture.md, URL map:\n" + "\n".join(found)


def test_a_route_the_map_does_not_name_is_caught(url_app: Flask, rows: list[Row]):
    """In a module the map does not name (under a documented URL), and under no URL of the
    map at all."""

    def extra() -> str:
        return ""

    url_app.add_url_rule("/bookings/<id:booking_id>/extra", "bookings.extra", extra)
    url_app.add_url_rule("/nowhere", "bookings.nowhere", extra)
    found = list(problems(url_app, rows))
    assert len(found) == 2
    assert "/bookings/<id:booking_id>/extra" in found[0]
    assert "tests.test_url_map" in found[0] and "says schiller40.members" in found[0]
    assert "/nowhere" in found[1] and "no row" in found[1]


def test_the_map_covers_prefixes_and_single_urls_as_written(rows: list[Row]):
    row = Row(("/staff/location", "/staff/locations…", "/resources/<slug>…"), "m", "b")
    assert row.covers("/staff/location")
    assert not row.covers("/staff/location/x")
    assert row.covers("/staff/locations") and row.covers("/staff/locations/<id:location_id>")
    assert row.covers("/resources/<slug>/book")
    assert not row.covers("/resources")
    assert Row(("/bookings…",), "m", "b").covers("/bookings/<id:booking_id>.ics")
    assert not Row(("/bookings…",), "m", "b").covers("/bookingsx")


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the part before the last dot is a module, not a package
        return False


def _imported_modules(module: str) -> set[str]:
    """Every module ``module`` imports, at its top or inside a function, as a dotted name."""
    source = inspect.getsource(sys.modules[module])
    package = module if sys.modules[module].__spec__.submodule_search_locations else (
        module.rpartition(".")[0])
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                name = f"{base}.{alias.name}"
                # ``from . import views`` imports a module; ``from . import bp`` a name in one.
                found.add(name if _is_module(name) else base)
    return found


def test_no_view_module_imports_another(url_app: Flask):
    """Helpers that several pages share live in modules named for what they hold; a module
    of routes imports none of another."""
    views = {
        f.__module__ for endpoint, f in url_app.view_functions.items()
        if endpoint != FLASK_STATIC
    }
    assert "schiller40.members.booking_pages" in views  # guards the guard
    found = {
        module: sorted((_imported_modules(module) & views) - {module}) for module in views
    }
    assert not {m: other for m, other in found.items() if other}
