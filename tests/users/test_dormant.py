"""Seat reclaim: who is dormant (one statement, on both engines), `users deactivate-dormant`, and the Licenses page's
preview and confirmation."""
import json
from datetime import timedelta

import pytest

from crm.audit.models import AuditEvent
from crm.auth.models import User, UserSession
from crm.extensions import db
from crm.licensing.models import LicensePackage
from crm.timeutil import utcnow
from crm.users import dormant
from crm.users.models import UserIdentity
from tests import factories
from tests.conftest import csrf_token


def _person(username, provider=None, *, last_days=None, created_days=400, reactivated_days=None, seat=True,
            source=None, roles=()):
    """A committed user with a seat, bound to the provider (a JIT user) unless provider is None, who last signed in
    last_days ago (None: never) and was created created_days ago."""
    user = factories.user(username, password=None, seat=seat, roles=roles)
    now = utcnow()
    user.created_at = now - timedelta(days=created_days)
    user.last_login_at = now - timedelta(days=last_days) if last_days is not None else None
    user.reactivated_at = now - timedelta(days=reactivated_days) if reactivated_days is not None else None
    user.source = source
    if provider is not None:
        db.session.add(UserIdentity(user_id=user.id, provider_id=provider.id, name_id=username))
    db.session.commit()
    return user


@pytest.fixture
def people(app):
    """Provider okta reclaims after 30 days, entra never; users of every kind around the limit."""
    okta = factories.provider("okta", dormant_days=30)
    entra = factories.provider("entra")
    factories.package("Sales Creatio", 5)
    _person("old@example.com", okta, last_days=31)
    _person("recent@example.com", okta, last_days=29)
    _person("never@example.com", okta, created_days=40)
    _person("new@example.com", okta, created_days=10)
    _person("back@example.com", okta, last_days=90, reactivated_days=5)
    _person("boss@example.com", okta, last_days=200, roles=("Administrators",))
    _person("scim@example.com", okta, last_days=200, source="scim")
    _person("entra-old@example.com", entra, last_days=100)
    _person("local@example.com", None, last_days=300)
    gone = _person("gone@example.com", okta, last_days=300)
    gone.active = False
    db.session.commit()
    return okta, entra


def _names(found):
    return [user.username for user in found]


def _seats_used():
    db.session.expire_all()
    return {p.name: p.seats_used for p in db.session.scalars(db.select(LicensePackage))}


def _events(action="user.deactivate_dormant"):
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_each_provider_s_own_days_pick_the_dormant_jit_users(people):
    found = dormant.find_dormant()
    assert _names(found) == ["never@example.com", "old@example.com"]
    old = found[1]
    assert (old.provider, old.seats, old.days) == ("okta", ("Console seats",), 30)
    assert old.as_json()["last_sign_in"].startswith(str(utcnow().date() - timedelta(days=31)))
    assert found[0].as_json() == {"username": "never@example.com", "provider": "okta", "last_sign_in": None,
                                  "seats": ["Console seats"]}


def test_days_given_apply_to_every_provider_but_never_to_local_scim_or_admin_users(people):
    assert _names(dormant.find_dormant(60)) == ["entra-old@example.com"]
    assert _names(dormant.find_dormant(20)) == ["entra-old@example.com", "never@example.com", "old@example.com",
                                                "recent@example.com"]
    with pytest.raises(ValueError):
        dormant.find_dormant(0)


def test_dry_run_lists_who_and_which_seats_and_changes_nothing(people, runner):
    before = _seats_used()
    result = runner.invoke(args=["users", "deactivate-dormant", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["username"], r["provider"], r["seats"]) for r in rows] == [
        ("never@example.com", "okta", ["Console seats"]), ("old@example.com", "okta", ["Console seats"])]
    assert _seats_used() == before and _events() == []
    text = runner.invoke(args=["users", "deactivate-dormant", "--dry-run", "--days", "30"])
    assert "entra-old@example.com\tentra" in text.output and "Would deactivate 3 dormant users" in text.output
    assert db.session.scalar(db.select(User.active).where(User.username == "old@example.com")) is True


def test_deactivate_dormant_ends_sessions_releases_seats_and_audits_each_user(people, runner, app):
    from tests.auth.test_sessions import _signed_in

    old = db.session.scalar(db.select(User).where(User.username == "old@example.com"))
    old.password_hash = factories._PASSWORD_HASH  # (to hold a session the reclaim must end)
    db.session.commit()
    browser = _signed_in(app, "old@example.com")
    old.last_login_at = utcnow() - timedelta(days=31)
    db.session.commit()
    used = _seats_used()["Console seats"]

    result = runner.invoke(args=["users", "deactivate-dormant"])
    assert result.exit_code == 0, result.output
    assert "Deactivated 2 dormant users; 2 seats released." in result.output
    assert _seats_used()["Console seats"] == used - 2
    db.session.expire_all()
    for name in ("old@example.com", "never@example.com"):
        user = db.session.scalar(db.select(User).where(User.username == name))
        assert (user.active, user.inactive_reason, user.seats) == (False, "dormant", [])
    assert db.session.scalar(db.select(db.func.count(UserSession.id)).where(UserSession.user_id == old.id)) == 0
    assert browser.get("/contacts").status_code == 302
    events = _events()
    assert [e.target_label for e in events] == ["never@example.com", "old@example.com"]
    assert events[1].details["licenses_released"] == ["Console seats"] and events[1].details["days"] == 30
    assert events[1].details["sessions_ended"] == 1 and events[1].idp_slug == "okta" and events[1].actor_name == "cli"
    assert events[1].changes["inactive_reason"] == {"before": None, "after": "dormant"}
    again = runner.invoke(args=["users", "deactivate-dormant", "--json"])
    assert again.exit_code == 0 and json.loads(again.output) == [] and len(_events()) == 2


def test_bad_days_are_refused_and_change_nothing(people, runner):
    for bad in ("0", "-3", "ten"):
        result = runner.invoke(args=["users", "deactivate-dormant", "--days", bad])
        assert result.exit_code == 2 and "--days" in result.output
    assert _events() == []


def test_without_any_provider_setting_nothing_is_reclaimed_and_the_command_says_how(app, runner):
    provider = factories.provider("entra")
    _person("old@example.com", provider, last_days=500)
    result = runner.invoke(args=["users", "deactivate-dormant"])
    assert result.exit_code == 0 and "Deactivated 0 dormant users" in result.output
    assert "--dormant-days" in result.output  # (the note goes to stderr, which the runner mixes in)


def test_an_administrator_reactivating_a_dormant_user_restarts_the_clock(people, runner, admin_client):
    runner.invoke(args=["users", "deactivate-dormant"])
    old = db.session.scalar(db.select(User).where(User.username == "old@example.com"))
    token = csrf_token(admin_client, f"/users/{old.id}")
    admin_client.post(f"/users/{old.id}/active", data={"csrf_token": token, "active": "1"})
    db.session.expire_all()
    assert old.active and old.inactive_reason is None and old.seats  # seats by the provider's policy (all)
    assert "old@example.com" not in _names(dormant.find_dormant())


def test_licenses_page_previews_then_reclaims_what_the_admin_saw(people, admin_client):
    page = admin_client.get("/licenses")
    assert 'href="/licenses/reclaim"' in page.get_data(as_text=True)
    preview = admin_client.get("/licenses/reclaim").get_data(as_text=True)
    assert "old@example.com" in preview and "never@example.com" in preview and "recent@example.com" not in preview
    assert "2 dormant users" in preview and "Console seats 2" in preview and "Never" in preview
    assert _events() == []  # a preview changes nothing

    # old@ signs in between the preview and the confirmation: only never@ is reclaimed
    ids = [str(u.user_id) for u in dormant.find_dormant()]
    db.session.execute(db.update(User).where(User.username == "old@example.com").values(last_login_at=utcnow()))
    db.session.commit()
    token = csrf_token(admin_client, "/licenses/reclaim")
    done = admin_client.post("/licenses/reclaim", data={"csrf_token": token, "user_id": ids}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert "Deactivated 1 dormant user; 1 seat released." in text
    assert [e.target_label for e in _events()] == ["never@example.com"]
    assert _events()[0].actor_name == "admin"


def test_reclaim_confirmation_without_a_valid_list_or_csrf_changes_nothing(people, admin_client):
    token = csrf_token(admin_client, "/licenses/reclaim")
    for data in ({}, {"user_id": "abc"}, {"user_id": ["1", "x"]}):
        page = admin_client.post("/licenses/reclaim", data={"csrf_token": token} | data, follow_redirects=True)
        assert "Nothing was reclaimed" in page.get_data(as_text=True)
    ids = [str(u.user_id) for u in dormant.find_dormant()]
    assert admin_client.post("/licenses/reclaim", data={"user_id": ids}).status_code == 400  # no CSRF token
    assert _events() == [] and len(dormant.find_dormant()) == 2


def test_only_administrators_see_or_confirm_a_reclaim(people, client):
    factories.employee("erin@example.com")
    from tests.conftest import login

    login(client, "erin@example.com", factories.PASSWORD)
    assert client.get("/licenses/reclaim").status_code == 403
    ids = [str(u.user_id) for u in dormant.find_dormant()]
    token = csrf_token(client, "/contacts")
    assert client.post("/licenses/reclaim", data={"csrf_token": token, "user_id": ids}).status_code == 403
    assert _events() == []


def test_users_list_shows_where_each_user_comes_from_and_why_inactive(people, admin_client, runner):
    runner.invoke(args=["users", "deactivate-dormant"])
    page = admin_client.get("/users").get_data(as_text=True)
    assert ">JIT<" in page and ">SCIM<" in page and ">Manual<" in page
    assert "dormant: no sign-in, seats reclaimed" in page
    old = db.session.scalar(db.select(User).where(User.username == "old@example.com"))
    detail = admin_client.get(f"/users/{old.id}").get_data(as_text=True)
    assert ">JIT<" in detail and "dormant: no sign-in" in detail
