"""The audit trail cannot be flooded: what the public SSO endpoints refuse is rate-limited per client address and
provider (429 with Retry-After, never a valid sign-in), repeated refusals fold into one counted event, garbage goes
to the log only, and refusal events are pruned after their retention."""
import base64
import json
import logging
from datetime import timedelta

import pytest

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.sso import signin
from crm.sso.models import SignInAttempt
from crm.timeutil import utcnow
from tests import factories
from tests.saml_signer import Spec, build_response, encode, signed_response
from tests.sso.conftest import Browser, nina


def _refusals():
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.rejected")
                              .order_by(AuditEvent.id)).all()


def _unsigned(visitor) -> str:
    return encode(build_response(Spec(attributes=nina(), sign_assertion=False)))


@pytest.fixture
def limited(app):
    app.config["SSO_REFUSAL_LIMIT"] = "5 per minute"
    return app


def test_refusals_beyond_the_limit_are_answered_429_in_the_consoles_look_and_write_nothing(limited, entra, client):
    entra.enabled = False
    db.session.commit()
    for _ in range(5):
        assert client.get("/sso/entra/login").status_code == 403
    held = client.get("/sso/entra/login")
    body = held.get_data(as_text=True)
    assert held.status_code == 429 and 1 <= int(held.headers["Retry-After"]) <= 60
    assert "Too many requests" in body and "Too many refused sign-in or logout messages" in body
    assert 'class="error-page"' in body and "Traceback" not in body
    [event] = _refusals()
    assert event.repeat_count == 5  # the 429 itself wrote nothing
    other = client.get("/sso/entra/login", environ_base={"REMOTE_ADDR": "192.0.2.7"})  # another address
    assert other.status_code == 403


def test_an_office_behind_one_address_signs_in_without_a_429_even_after_refusals(limited, entra, app):
    """Only refusals count, and only a refusal becomes a 429: a valid sign-in always goes through."""
    flooder = Browser(app.test_client())
    for _ in range(7):
        flooder.post(_unsigned(flooder))
    assert flooder.post(_unsigned(flooder)).status_code == 429
    for n in range(12):  # twelve colleagues, one NAT address (the test client's), at 9:00
        colleague = Browser(app.test_client())
        response = colleague.sign_in(attributes=nina(), name_id=f"colleague{n}@example.com")
        assert response.status_code == 302 and colleague.signed_in_as() is not None, n


def test_repeated_identical_refusals_fold_into_one_event_with_a_count_and_last_seen(entra, visitor, admin_client,
                                                                                    monkeypatch, app):
    unsigned = _unsigned(visitor)
    pages = [visitor.post(unsigned) for _ in range(3)]
    assert {p.status_code for p in pages} == {400}
    [event] = _refusals()
    assert event.repeat_count == 3 and event.last_seen_at >= event.occurred_at
    references = {p.get_data(as_text=True).split('class="reference">', 1)[1].split("<", 1)[0] for p in pages}
    assert references == {event.reference}  # every repeat's page finds the one event
    assert db.session.scalar(db.select(db.func.count(SignInAttempt.id))) == 1  # one kept for a report, not three

    visitor.post(signed_response(Spec(attributes=nina(), audience="https://other.example")))  # another reason
    visitor.client.post("http://localhost/sso/entra/acs", data={"SAMLResponse": unsigned, "_same_site": "1"},
                        environ_base={"REMOTE_ADDR": "192.0.2.9"})  # another client: its own event
    later = utcnow() + timedelta(minutes=1)
    monkeypatch.setattr(signin, "utcnow", lambda: later)
    visitor.post(unsigned)  # the next minute: a new event
    assert [e.repeat_count for e in _refusals()] == [3, 1, 1, 1]
    assert [e.details["remote_addr"] for e in _refusals()] == ["127.0.0.1", "127.0.0.1", "192.0.2.9", "127.0.0.1"]

    listing = admin_client.get("/audit", query_string={"outcome": "rejected"}).get_data(as_text=True)
    assert "3 times, last at" in listing
    detail = admin_client.get(f"/audit/{event.id}").get_data(as_text=True)
    assert "3 times by the same client" in detail
    listed = json.loads(app.test_cli_runner().invoke(args=["audit", "list", "--json"]).output)
    assert [(e["repeat_count"], bool(e["last_seen_at"])) for e in listed if e["reference"] == event.reference] == [
        (3, True)]


@pytest.mark.parametrize("garbage", ["not base64 at all!", base64.b64encode(b"plain text, not XML").decode(),
                                     base64.b64encode(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>').decode(), ""])
def test_garbage_that_never_parsed_goes_to_the_log_not_the_audit_trail(entra, visitor, caplog, garbage):
    with caplog.at_level(logging.WARNING, logger="crm.sso.views"):
        response = visitor.post(garbage)
    assert response.status_code == 400
    reference = response.get_data(as_text=True).split('class="reference">', 1)[1].split("<", 1)[0]
    assert reference.startswith("EV-") and any(reference in r.getMessage() for r in caplog.records)
    assert _refusals() == []
    assert db.session.scalar(db.select(db.func.count(SignInAttempt.id))) == 0


def test_an_empty_or_unreadable_logout_message_goes_to_the_log_only(entra, client):
    assert client.get("/sso/entra/sls").status_code == 400
    assert client.get("/sso/entra/sls", query_string={"SAMLRequest": "bm90IGRlZmxhdGVk"}).status_code == 400
    assert _refusals() == []


@pytest.mark.parametrize("days", [None, 30])
def test_refusal_events_are_pruned_on_write_after_their_retention(entra, visitor, app, monkeypatch, days):
    if days:
        app.config["AUDIT_REFUSAL_RETENTION_DAYS"] = days
    keep_for = timedelta(days=days or 90)
    factories.admin_user()
    old_admin = _old_event("sso.provider_update", "config", None, keep_for + timedelta(days=5))
    expired = _old_event("sso.rejected", "provisioning", "rejected", keep_for + timedelta(days=1))
    kept = _old_event("sso.rejected", "provisioning", "rejected", keep_for - timedelta(days=1))
    monkeypatch.setattr(signin, "PRUNE_REFUSALS_EVERY", 1)
    visitor.post(_unsigned(visitor))
    left = set(db.session.scalars(db.select(AuditEvent.id)))
    assert expired not in left and {old_admin, kept} <= left
    assert len(_refusals()) == 2  # the one kept and the new one


def _old_event(action: str, category: str, outcome: str | None, age: timedelta) -> int:
    from crm.audit import services as audit

    event = audit.record(action, f"{action} long ago", category=category, outcome=outcome, idp_slug="entra",
                         actor=(None, "sso"))
    event.occurred_at = utcnow() - age
    db.session.commit()
    return event.id
