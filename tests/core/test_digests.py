"""core/digests.py: one SQL value for a set of rows, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schiller40.core.digests import rows_digest
from schiller40.extensions import db
from schiller40.models import Resource


def digest_of_resources() -> str | None:
    dialect = db.session.get_bind().dialect.name
    query = select(Resource.id, Resource.name, Resource.zone, Resource.position)
    return db.session.scalar(select(rows_digest(query, order_by=[Resource.id],
                                                dialect=dialect)))


@pytest.mark.parametrize(("first", "second"), [
    (("a,b", "c"), ("a", "b,c")),  # a separator inside a value is not a boundary
    (("a;b", "c"), ("a", "b;c")),
    (("a", None), ("a", "-")),  # NULL is not the text that stands for it
    (("a", ""), ("a", None)),
    (("3:abc", "x"), ("3", "abc,x")),  # a value that looks like a length prefix
])
def test_different_rows_give_different_digests(factory, first, second):
    resource = factory.resource(name=first[0], zone=first[1])
    db.session.commit()
    before = digest_of_resources()
    resource.name, resource.zone = second
    db.session.commit()
    assert digest_of_resources() != before


def test_the_same_rows_give_the_same_digest_and_no_rows_none(factory):
    assert digest_of_resources() is None
    factory.resource(name="Studio", zone=None)
    factory.resource(name="Raum", zone="Galerie")
    db.session.commit()
    assert digest_of_resources() == digest_of_resources() is not None
