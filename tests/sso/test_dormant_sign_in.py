"""A user deactivated as dormant comes back at the next valid SSO sign-in, with seats by the provider's license
policy where free; other inactive users stay refused. Real signed responses."""
import json
from datetime import timedelta

import pytest

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.licensing.models import LicensePackage
from crm.timeutil import utcnow
from crm.users import dormant
from crm.users.services import user_json
from tests.sso.conftest import nina

NINA = "nina.novak@example.com"


def _nina() -> User:
    db.session.expire_all()
    return db.session.scalar(db.select(User).where(User.username_key == NINA))


def _last_sign_in_event() -> AuditEvent:
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.sign_in")
                              .order_by(AuditEvent.id.desc())).first()


@pytest.fixture
def dormant_nina(visitor, entra, runner):
    """Nina was created by JIT, then did not sign in for 100 days; entra reclaims after 30: she is reclaimed."""
    assert visitor.sign_in(attributes=nina()).status_code == 302
    entra.dormant_days = 30
    db.session.execute(db.update(User).where(User.username_key == NINA)
                       .values(last_login_at=utcnow() - timedelta(days=100)))
    db.session.commit()
    result = runner.invoke(args=["users", "deactivate-dormant", "--json"])
    assert [row["seats"] for row in json.loads(result.output)] == [["Sales Creatio", "Service Creatio"]]
    assert (_nina().active, _nina().inactive_reason, _nina().seats) == (False, "dormant", [])
    assert visitor.signed_in_as() is None
    return _nina()


def test_a_dormant_user_signing_in_again_is_active_with_seats_by_the_policy(visitor, dormant_nina):
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 302 and visitor.signed_in_as() == str(dormant_nina.id)
    assert visitor.client.get("/contacts").status_code == 200  # she works again: a seat came back
    shown = user_json(_nina())
    assert (shown["active"], shown["inactive_reason"], shown["licenses"]) == (
        True, None, ["Sales Creatio", "Service Creatio"])
    event = _last_sign_in_event()
    assert event.outcome == "updated" and event.details["reactivated"] is True
    assert event.changes["active"] == {"before": False, "after": True}
    assert event.details["licenses_granted"] == ["Sales Creatio", "Service Creatio"]
    assert "deactivated as dormant and is active again" in event.reason
    assert _nina().last_login_at > utcnow() - timedelta(minutes=1)
    assert dormant.find_dormant() == []


def test_without_a_free_seat_she_is_active_and_waiting_for_a_seat(visitor, dormant_nina, entra):
    for package in db.session.scalars(db.select(LicensePackage)):
        package.seat_limit = package.seats_used
    db.session.commit()
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and "No free license seat is left" in response.get_data(as_text=True)
    shown = user_json(_nina())
    assert (shown["active"], shown["licenses"], shown["waiting_for_seat"]) == (True, [], True)
    event = _last_sign_in_event()
    assert event.outcome == "denied" and event.details["reactivated"] is True
    assert dormant.find_dormant() == []  # the clock started over: the next cron run leaves her waiting


def test_a_sign_in_the_access_rules_refuse_does_not_bring_her_back(visitor, dormant_nina, entra):
    entra.allowed_domains = ["other.example"]
    db.session.commit()
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and visitor.signed_in_as() is None
    assert (_nina().active, _nina().inactive_reason, _nina().seats) == (False, "dormant", [])


def test_a_user_deactivated_by_an_administrator_is_still_refused(visitor, dormant_nina, runner):
    assert runner.invoke(args=["users", "activate", NINA]).exit_code == 0
    assert runner.invoke(args=["users", "deactivate", NINA]).exit_code == 0
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and "Your account is not active" in response.get_data(as_text=True)
    assert (_nina().active, _nina().inactive_reason) == (False, "admin")


def test_the_directory_s_deactivation_still_wins_over_a_sign_in(visitor, dormant_nina):
    db.session.execute(db.update(User).where(User.id == dormant_nina.id).values(inactive_reason="scim"))
    db.session.commit()
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and "deactivated by your organization" in response.get_data(as_text=True)
    assert _nina().active is False
