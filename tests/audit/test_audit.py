"""The audit trail page: filters and the full event."""
from datetime import timedelta

from crm.audit import services as audit
from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.timeutil import utcnow


def _event(summary, **columns):
    event = audit.record(columns.pop("action", "test.event"), summary, actor=(None, columns.pop("actor", "cli")),
                         **columns)
    db.session.commit()
    return event


def test_filters_by_kind_provider_outcome_user_reference_and_day(admin_client, app):
    _event("Config change", category="config")
    _event("Alice signed in", category="provisioning", idp_slug="entra", outcome="created",
           name_id="alice@example.com", target_label="alice@example.com")
    old = _event("Old change", category="admin")
    old.occurred_at = utcnow() - timedelta(days=10)
    ref = _event("Bob denied", category="provisioning", idp_slug="okta", outcome="denied", name_id="bob@x.example")
    db.session.commit()

    def shown(**query):
        html = admin_client.get("/audit", query_string=query).get_data(as_text=True)
        return {s for s in ("Config change", "Alice signed in", "Old change", "Bob denied") if s in html}

    assert shown(category="config") == {"Config change"}
    assert shown(idp_slug="entra") == {"Alice signed in"}
    assert shown(outcome="denied") == {"Bob denied"}
    assert shown(user="alice@example.com") == {"Alice signed in"}
    assert shown(reference=ref.reference.lower()) == {"Bob denied"}
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d")
    assert "Old change" not in shown(since=since)


def test_event_detail_shows_before_and_after_escaped(admin_client, app):
    event = _event("Changed contact", changes={"job_title": {"before": "<b>Clerk</b>", "after": "Manager"}},
                   details={"attributes": {"email": ["a@example.com"]}})
    html = admin_client.get(f"/audit/{event.id}").get_data(as_text=True)
    assert "&lt;b&gt;Clerk&lt;/b&gt;" in html and "<b>Clerk</b>" not in html
    assert "Manager" in html and "a@example.com" in html and event.reference in html


def test_admin_changes_are_recorded_with_actor(admin_client, app):
    from tests.conftest import csrf_token

    token = csrf_token(admin_client, "/roles/new")
    admin_client.post("/roles/new", data={"name": "Support", "csrf_token": token})
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "role.create"))
    assert event.actor_name == "admin" and event.changes["name"] == {"before": None, "after": "Support"}
