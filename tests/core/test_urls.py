"""Redirect targets after forms stay on this site."""

from __future__ import annotations

import pytest

from schiller40.core.urls import safe_redirect_target


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/resources", "/resources"),
        ("/account/password?x=1", "/account/password?x=1"),
        ("/a\tb", "/ab"),
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\r\n/evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
    ],
)
def test_safe_redirect_target(target, expected):
    assert safe_redirect_target(target, "/") == expected
