"""Reading real responses the way a browser enforces them: security headers, markup that a
Content-Security-Policy without inline code allows, CSRF tokens in forms, Set-Cookie flags.

Each check returns a list of problems (empty when all is well) rather than asserting, so a
sweep over many responses can report every failure at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF_FIELD = "csrf_token"
# Sources that would let injected code run: inline code, eval, or scripts from anywhere.
UNSAFE_SOURCES = frozenset({"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*",
                            "data:", "http:", "https:", "blob:"})
# Values that never send a page's path (where feed, reset and checkout secrets live) to
# another site.
SAFE_REFERRER_POLICIES = frozenset({"no-referrer", "same-origin", "strict-origin",
                                    "strict-origin-when-cross-origin"})
HSTS_MIN_SECONDS = 180 * 24 * 3600


# --- headers ---------------------------------------------------------------------------------


def csp_directives(policy: str) -> dict[str, list[str]]:
    """``default-src 'self'; img-src 'self' data:`` -> {"default-src": ["'self'"], ...}."""
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), words[1:])
    return directives


def effective_sources(directives: dict[str, list[str]], name: str) -> list[str]:
    """What the browser applies for ``name``: the directive, else ``default-src``."""
    return directives.get(name, directives.get("default-src", []))


def header_problems(response: TestResponse, *, production: bool = False) -> list[str]:
    """What is missing from or wrong in the security headers of one response.

    Every response needs them, redirects, errors and files included: a browser applies
    ``nosniff`` and the policy to whatever it is handed, and an error page framed by
    another site is as useful for clickjacking as any other page.
    """
    problems = []
    headers = response.headers
    policy = headers.get("Content-Security-Policy")
    if not policy:
        problems.append("no Content-Security-Policy")
    else:
        directives = csp_directives(policy)
        for name in ("script-src", "style-src"):
            sources = effective_sources(directives, name)
            if not sources:
                problems.append(f"CSP restricts no {name} (and has no default-src)")
            unsafe = sorted(UNSAFE_SOURCES.intersection(s.lower() for s in sources))
            if unsafe:
                problems.append(f"CSP {name} allows {' '.join(unsafe)}")
        if directives.get("frame-ancestors") != ["'none'"]:
            problems.append(f"CSP frame-ancestors is not 'none': {policy}")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"X-Content-Type-Options={headers.get('X-Content-Type-Options')!r}")
    if headers.get("Referrer-Policy") not in SAFE_REFERRER_POLICIES:
        problems.append(f"Referrer-Policy={headers.get('Referrer-Policy')!r}")
    hsts = headers.get("Strict-Transport-Security")
    if production:
        age = re.search(r"max-age=(\d+)", hsts or "")
        if age is None or int(age.group(1)) < HSTS_MIN_SECONDS:
            problems.append(f"Strict-Transport-Security={hsts!r} in production")
    elif hsts is not None:
        # Over http:// (development) the header is meaningless; on a developer's https
        # localhost it would pin every other local project to https for a year.
        problems.append(f"Strict-Transport-Security={hsts!r} outside production")
    return problems


# --- markup ----------------------------------------------------------------------------------


@dataclass
class Form:
    method: str
    action: str
    csrf_tokens: list[str] = field(default_factory=list)


class _Markup(HTMLParser):
    """One pass over a page: inline code of every kind, and the forms with their tokens."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._script: dict[str, str] | None = None
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            # Browsers drop whitespace and control characters inside a URL's scheme.
            scheme = re.sub(r"[\x00-\x20]", "", value).lower()
            if scheme.startswith(("javascript:", "vbscript:")):
                self.problems.append(f"<{tag} {name}={value[:30]!r}> script URL")
            if name == "style":
                self.problems.append(f"<{tag} style=...> (style-src refuses inline styles)")
        if tag == "style":
            self.problems.append("<style> element (style-src refuses inline styles)")
        if tag == "script":
            self._script, self._script_text = values, []
            if "src" not in values:
                self.problems.append("<script> without src (inline script)")
        if tag == "form":
            self._form = Form(values.get("method", "get").lower(), values.get("action", ""))
            self.forms.append(self._form)
        # A form with a prefix names it "<prefix>-csrf_token"; Flask-WTF takes either.
        name = values.get("name", "")
        if tag == "input" and self._form is not None and (
            name == CSRF_FIELD or name.endswith(f"-{CSRF_FIELD}")
        ):
            self._form.csrf_tokens.append(values.get("value", ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if tag == "script" and self._script is not None:
            if "".join(self._script_text).strip():
                self.problems.append("<script> with a body (inline script)")
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)


def read_markup(html: str) -> _Markup:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser


def markup_problems(html: str) -> tuple[list[str], int]:
    """Inline code a strict CSP would refuse, and POST forms without a CSRF token; also the
    number of POST forms looked at (so a sweep can show it checked some)."""
    markup = read_markup(html)
    problems = list(markup.problems)
    posts = [f for f in markup.forms if f.method == "post"]
    for form in posts:
        if len(form.csrf_tokens) != 1 or not form.csrf_tokens[0]:
            problems.append(f"<form method=post action={form.action!r}> has "
                            f"{len(form.csrf_tokens)} {CSRF_FIELD} field(s): {form.csrf_tokens}")
    return problems, len(posts)


def csrf_token_in(response: TestResponse) -> str:
    """The CSRF token of the first POST form of a page, as a browser would submit it."""
    for form in read_markup(response.get_data(as_text=True)).forms:
        if form.method == "post" and form.csrf_tokens and form.csrf_tokens[0]:
            return form.csrf_tokens[0]
    raise AssertionError(f"no POST form with a {CSRF_FIELD} on {response.request.path}")


# --- a browser that sends CSRF tokens ---------------------------------------------------------


def post_form(client: FlaskClient, path: str, data: dict[str, str], *,
              base_url: str = "http://localhost", page: str = "/") -> TestResponse:
    """POST ``data`` as the form on ``page`` would: with the session's CSRF token, and with
    the Referer a browser sends (over https Flask-WTF refuses a POST without one)."""
    token = csrf_token_in(client.get(page, base_url=base_url))
    return client.post(path, data={**data, CSRF_FIELD: token}, base_url=base_url,
                       headers={"Referer": f"{base_url}{page}"})


# --- cookies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetCookie:
    """One Set-Cookie header as the browser reads it. Attribute names are lower-case; flags
    (Secure, HttpOnly) map to ""."""

    name: str
    value: str
    attributes: dict[str, str]

    @property
    def deletes(self) -> bool:
        """A cookie sent only to remove one (logging out, say): no flag protects anything."""
        return self.attributes.get("max-age") == "0" or "1970" in self.attributes.get(
            "expires", "")

    def problems(self, *, secure: bool) -> list[str]:
        found = []
        if "httponly" not in self.attributes:
            found.append(f"cookie {self.name} lacks HttpOnly")
        if self.attributes.get("samesite", "").lower() != "lax":
            found.append(f"cookie {self.name} has SameSite={self.attributes.get('samesite')!r}")
        if secure and "secure" not in self.attributes:
            found.append(f"cookie {self.name} lacks Secure")
        if not secure and "secure" in self.attributes:
            found.append(f"cookie {self.name} is Secure: a browser drops it over http://")
        return found


def set_cookies(response: TestResponse) -> list[SetCookie]:
    cookies = []
    for header in response.headers.getlist("Set-Cookie"):
        first, *rest = header.split(";")
        name, _, value = first.strip().partition("=")
        attributes = {}
        for part in rest:
            key, _, attribute = part.strip().partition("=")
            attributes[key.lower()] = attribute
        cookies.append(SetCookie(name, value, attributes))
    return cookies
