"""Everything a page loads comes from this app: no CDN, no font or script from elsewhere.

A public-sector site must not hand its visitors' addresses to third parties (DSGVO), and the
Content-Security-Policy (``default-src 'self'``) would block such files anyway, so a page
that relied on one would break without anyone noticing in development. Checked twice: in
the template sources (also pages no test renders) and in rendered pages (also addresses
built at run time). Every static file is listed with its licence in static/LICENSES.md.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
LICENSES = STATIC / "LICENSES.md"

# Attributes through which a browser fetches something by itself.
FETCHING = {
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "source": ("src", "srcset"),
    "iframe": ("src",), "video": ("src", "poster"), "audio": ("src",), "embed": ("src",),
    "object": ("data",), "track": ("src",), "input": ("src",),
}
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
STATIC_REF = re.compile(r"url_for\(\s*['\"]static['\"]\s*,\s*filename\s*=\s*['\"]([^'\"]+)['\"]")
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)|@import\s+['\"]([^'\"]+)['\"]")


def template_files() -> list[Path]:
    files = sorted(TEMPLATES.rglob("*.html"))
    assert len(files) > 10, "templates not found"  # guards the guard
    return files


def static_files() -> list[Path]:
    return sorted(p for p in STATIC.rglob("*") if p.is_file() and p != LICENSES)


class _Fetches(HTMLParser):
    """(tag, attribute, value) of every attribute that makes the browser fetch something."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for attribute in FETCHING.get(tag, ()):
            if attribute in values:
                self.found.append((tag, attribute, values[attribute]))
        if tag == "script" and "src" not in values:
            self.inline_scripts += 1

    handle_startendtag = handle_starttag


def fetches(html: str) -> _Fetches:
    parser = _Fetches()
    parser.feed(html)
    parser.close()
    return parser


# --- template sources ------------------------------------------------------------------------


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_load_nothing_from_another_site(path: Path) -> None:
    html = path.read_text(encoding="utf-8")
    outside = [(tag, attr, value) for tag, attr, value in fetches(html).found
               if EXTERNAL.match(value)]
    assert not outside, f"{path.name} loads files from another site: {outside}"


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_script_style_or_handlers(path: Path) -> None:
    """What the strict Content-Security-Policy would refuse: put it in static/ instead."""
    html = path.read_text(encoding="utf-8")
    problems = []
    if fetches(html).inline_scripts:
        problems.append("an inline <script>")
    if re.search(r"<style[\s>]", html, re.IGNORECASE):
        problems.append("a <style> element")
    if re.search(r"\sstyle\s*=", html, re.IGNORECASE):
        problems.append('a style="..." attribute')
    handler = re.search(r"<[^>]*\son[a-z]+\s*=", html, re.IGNORECASE)
    if handler:
        problems.append(f"an event handler attribute ({handler.group(0)[-20:]})")
    assert not problems, f"{path.name} has {', '.join(problems)}"


def test_every_static_file_a_template_names_exists() -> None:
    missing = []
    for path in template_files():
        for name in STATIC_REF.findall(path.read_text(encoding="utf-8")):
            if not (STATIC / name).is_file():
                missing.append(f"{path.relative_to(TEMPLATES)}: {name}")
    assert not missing, missing


def test_stylesheets_load_nothing_from_elsewhere_and_their_files_exist() -> None:
    sheets = sorted(STATIC.rglob("*.css"))
    assert sheets
    problems = []
    for sheet in sheets:
        for url, imported in CSS_URL.findall(sheet.read_text(encoding="utf-8")):
            ref = url or imported
            if ref.startswith("data:"):
                continue
            if EXTERNAL.match(ref):
                problems.append(f"{sheet.name}: {ref} is on another site")
            elif not (sheet.parent / ref.split("?")[0].split("#")[0]).resolve().is_file():
                problems.append(f"{sheet.name}: {ref} does not exist")
    assert not problems, problems


def test_scripts_fetch_nothing_from_elsewhere() -> None:
    for script in sorted(STATIC.rglob("*.js")):
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"""['"`](?:https?:)?//[a-z0-9]""", text, re.IGNORECASE), script


def test_every_static_file_is_listed_with_its_licence() -> None:
    listed = LICENSES.read_text(encoding="utf-8")
    missing = [str(p.relative_to(STATIC)) for p in static_files()
               if f"`{p.relative_to(STATIC).as_posix()}`" not in listed]
    assert not missing, f"Add these to static/LICENSES.md with their licence: {missing}"
    served_part = listed.split("## Not served")[0]
    named = set(re.findall(r"`([\w./-]+\.(?:css|js|mjs|svg|png|jpe?g|webp|ico|woff2?))`",
                           served_part))
    gone = sorted(n for n in named if not (STATIC / n).is_file())
    assert not gone, f"static/LICENSES.md lists files that do not exist: {gone}"


# --- rendered pages --------------------------------------------------------------------------


PAGES = ["/", "/resources", "/login", "/register", "/no/such/page"]


@pytest.mark.parametrize("path", PAGES)
def test_rendered_pages_load_only_our_own_files_and_they_are_served(
    client, factory, path: str
) -> None:
    factory.location()
    response = client.get(path)
    assert response.status_code in (200, 404)
    found = fetches(response.get_data(as_text=True)).found
    assert any(tag == "link" and value.endswith(".css") for tag, _a, value in found)
    for tag, attribute, value in found:
        assert value.startswith("/") and not value.startswith("//"), (tag, attribute, value)
        served = client.get(value)
        assert served.status_code == 200, f"{value} ({tag} {attribute}) is not served"
        served.close()
