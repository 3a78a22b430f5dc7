"""Reuse werkzeug's compiled URL builders across the many apps the suite creates.

Every test gets a fresh app (``create_app`` per test, as Flask's docs advise), and werkzeug
compiles a URL-building function for each of the ~90 routes with ``ast`` + ``compile`` each
time: about 85 % of ``create_app``'s 120 to 170 ms, some 3 minutes of a CI run. The generated
function depends only on the rule's parsed parts, its defaults and ``append_unknown``; it takes
the rule itself as its first argument (bound with ``__get__``), so the same code object serves
every app. Test-only: production builds one app per process.

Parsing each rule (``Rule._parse_rule``: a regex loop building the matcher's parts) was
about half of what remained of ``create_app`` (4.6 of 9.5 ms); its result depends only on
the rule string and the map's converter classes, so it is cached too. The converters
themselves are made afresh for each rule, bound to its own map, as werkzeug does.

Measured (issue 18) on ``tests/booking tests/staff`` (1053 tests, both databases,
``CI=true -p no:cacheprovider -n 2``), with and without this patch, the runs interleaved:
CPU time of pytest and its workers 85 to 99 s with it (five runs, mean 92 s) and 109 to 126 s
without (four runs, mean 120 s): 31 % more. Wall time on the shared machine (2 cores) swung
with the others' load, 50 to 250 s for the same run; the quietest runs took 50 and 53 s with
it, 62 s without. Kept: the largest single saving of the test set-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.converters import BaseConverter
from werkzeug.routing.rules import Rule, RulePart

_original = Rule._compile_builder
_cache: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}

_original_parse = Rule._parse_rule
# What parsing a rule string yields and records: the parts, the trace entries, and the
# converters asked for (variable, converter name, args, kwargs).
_Parsed = tuple[
    list[RulePart], list[tuple[bool, str]], list[tuple[str, str, tuple[Any, ...], Any]]
]
_parse_cache: dict[tuple[Any, ...], _Parsed] = {}


def _cached_compile_builder(self: Rule, append_unknown: bool = True):
    key = (
        self.rule,
        tuple(self._trace),
        repr(sorted((self.defaults or {}).items())),
        append_unknown,
    )
    builder = _cache.get(key)
    if builder is None:
        builder = _cache[key] = _original(self, append_unknown)
    return builder


def _cached_parse_rule(self: Rule, rule: str) -> list[RulePart]:
    assert self.map is not None  # parsing happens while binding to a map
    key = (rule, tuple(self.map.converters.items()))
    parsed = _parse_cache.get(key)
    if parsed is None:
        asked: list[tuple[str, str, tuple[Any, ...], Any]] = []

        def get_converter(
            variable: str, name: str, args: tuple[Any, ...], kwargs: Any
        ) -> BaseConverter:
            asked.append((variable, name, args, kwargs))
            return Rule.get_converter(self, variable, name, args, kwargs)

        trace_start = len(self._trace)
        self.get_converter = get_converter  # type: ignore[method-assign]
        try:
            parts = list(_original_parse(self, rule))
        finally:
            del self.get_converter
        parsed = _parse_cache[key] = (parts, self._trace[trace_start:], asked)
        return list(parts)
    parts, trace, asked = parsed
    self._trace.extend(trace)
    for variable, name, args, kwargs in asked:
        self._converters[variable] = self.get_converter(variable, name, args, kwargs)
        self.arguments.add(variable)
    return list(parts)


def install() -> None:
    Rule._compile_builder = _cached_compile_builder  # type: ignore[method-assign]
    Rule._parse_rule = _cached_parse_rule  # type: ignore[assignment]
