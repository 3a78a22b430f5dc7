"""`flask resources member-feed|approval SLUG on|off`: resource switches for operators."""

from __future__ import annotations

from sqlalchemy import select

from schiller40.extensions import db
from schiller40.feeds import service as feeds
from schiller40.models import AuditEntry, ResourceKind


def test_members_get_the_feed_only_while_it_is_on(cli, factory, clock):
    location = factory.location()
    studio = factory.resource(location=location, kind=ResourceKind.STUDIO, slug="studio")
    member = factory.user()
    db.session.commit()

    def kinds() -> list[str]:
        return [f.kind.value for f in feeds.feeds_for(db.session, user=member, now=clock())]

    assert kinds() == ["member"]
    result = cli("resources", "member-feed", "studio", "on")
    assert result.exit_code == 0, result.output
    assert "may subscribe" in result.output
    assert kinds() == ["member", "resource"]
    assert cli("resources", "member-feed", "studio", "off").exit_code == 0
    assert kinds() == ["member"]
    actions = db.session.scalars(select(AuditEntry.details).where(
        AuditEntry.action == "resource.feed_for_members_changed",
        AuditEntry.object_id == studio.id)).all()
    assert actions == [{"allowed": True}, {"allowed": False}]


def test_unknown_resources_and_desks_are_refused(cli, factory):
    location = factory.location()
    factory.resource(location=location, kind=ResourceKind.DESK, slug="desk-1")
    db.session.commit()
    for slug in ("nope", "desk-1"):
        result = cli("resources", "member-feed", slug, "on")
        assert result.exit_code == 1
        assert "no studio or room" in result.output
    assert cli("resources", "member-feed", "desk-1", "maybe").exit_code == 2


def test_approval_is_switched_on_and_off_and_audited(cli, factory):
    location = factory.location()
    studio = factory.resource(location=location, kind=ResourceKind.STUDIO, slug="studio")
    db.session.commit()
    result = cli("resources", "approval", "studio", "on")
    assert result.exit_code == 0, result.output
    assert "need staff approval" in result.output
    db.session.expire_all()
    assert db.session.get(type(studio), studio.id).requires_approval is True
    assert cli("resources", "approval", "studio", "on").exit_code == 0  # no change, no entry
    assert "charged at once" in cli("resources", "approval", "studio", "off").output
    db.session.expire_all()
    assert db.session.get(type(studio), studio.id).requires_approval is False
    actions = db.session.scalars(select(AuditEntry.details).where(
        AuditEntry.action == "resource.requires_approval_changed",
        AuditEntry.object_id == studio.id)).all()
    assert actions == [{"required": True}, {"required": False}]
    unknown = cli("resources", "approval", "nope", "on")
    assert unknown.exit_code == 1 and "no resource 'nope'" in unknown.output
