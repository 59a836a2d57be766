"""Server-side sessions: a copied cookie stops working when the session ends, however it ends."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crm.auth.models import UserSession
from crm.auth.sessions import hash_token, prune, user_agent_summary
from crm.extensions import db
from crm.roles.models import Role
from crm.timeutil import utcnow
from tests import factories
from tests.conftest import IsolatedClient, csrf_token, login


def _signed_in(app, username: str, user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"):
    app.test_client_class = IsolatedClient
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    login(client, username, factories.PASSWORD)
    return client


def _copy(app, client):
    """Another browser holding a copy of the client's session cookie."""
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value)
    return thief


def _sessions(user) -> list[UserSession]:
    return list(db.session.scalars(db.select(UserSession).where(UserSession.user_id == user.id)))


def _opens(client, path: str = "/users") -> bool:
    return client.get(path).status_code == 200


def test_the_cookie_carries_only_a_token_whose_hash_is_stored(app, client, admin):
    login(client, "admin", factories.PASSWORD)
    with client.session_transaction() as cookie:
        token = cookie["_user_id"]
    assert token != str(admin.id) and len(token) >= 40
    (row,) = _sessions(admin)
    assert row.token_hash == hash_token(token) and row.method == "password"
    assert row.user_agent is None or "Chrome" not in row.user_agent  # the test client sends none by default


def test_a_copied_cookie_stops_working_at_logout(app, admin):
    browser = _signed_in(app, "admin")
    thief = _copy(app, browser)
    assert _opens(thief)
    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/contacts")})
    assert _sessions(admin) == []
    assert thief.get("/users").status_code == 302
    # and it cannot create a role either (the role form needs a session before it checks anything else)
    response = thief.post("/roles/new", data={"name": "Stolen", "csrf_token": "x"})
    assert response.status_code in (302, 400)
    assert db.session.scalar(db.select(Role).where(Role.name == "Stolen")) is None


def test_logout_ends_only_that_browser(app, admin):
    first, second = _signed_in(app, "admin"), _signed_in(app, "admin")
    first.post("/logout", data={"csrf_token": csrf_token(first, "/contacts")})
    assert _opens(second) and len(_sessions(admin)) == 1


def test_deactivation_ends_every_session_and_reactivation_does_not_bring_them_back(app, admin):
    worker = factories.user("worker@example.com", roles=("Administrators",))
    browser = _signed_in(app, "worker@example.com")
    thief = _copy(app, browser)
    boss = _signed_in(app, "admin")
    token = csrf_token(boss, f"/users/{worker.id}")
    boss.post(f"/users/{worker.id}/active", data={"active": "0", "csrf_token": token})
    boss.post(f"/users/{worker.id}/active", data={"active": "1", "csrf_token": token})
    assert _sessions(worker) == []
    assert browser.get("/users").status_code == 302 and thief.get("/users").status_code == 302


def test_an_sso_unlink_and_a_change_of_roles_end_the_users_sessions(app, admin):
    from crm.roles.services import find_role

    worker = factories.user("worker@example.com", roles=("Administrators",))
    provider = factories.provider("entra")
    boss = _signed_in(app, "admin")
    token = csrf_token(boss, f"/users/{worker.id}")
    _signed_in(app, "worker@example.com")
    boss.post(f"/users/{worker.id}/identity", data={"provider_id": provider.id, "name_id": "w@example.com",
                                                    "csrf_token": token})
    assert _sessions(worker) == []
    _signed_in(app, "worker@example.com")
    boss.post(f"/users/{worker.id}/identity/unlink", data={"csrf_token": token})
    assert _sessions(worker) == []
    _signed_in(app, "worker@example.com")
    sales = factories.role("Sales")
    boss.post(f"/users/{worker.id}/roles", data={"role_id": sales.id, "csrf_token": token})
    assert _sessions(worker) == []
    _signed_in(app, "worker@example.com")
    boss.post(f"/users/{worker.id}/roles/{find_role('Administrators').id}/remove", data={"csrf_token": token})
    assert _sessions(worker) == []


def test_an_administrator_changing_their_own_roles_keeps_the_session_in_use(app, admin):
    boss, other = _signed_in(app, "admin"), _signed_in(app, "admin")
    sales = factories.role("Sales")
    boss.post(f"/users/{admin.id}/roles", data={"role_id": sales.id, "csrf_token": csrf_token(boss, "/users")})
    assert _opens(boss) and other.get("/users").status_code == 302


@pytest.mark.parametrize("column, age", [("last_seen_at", timedelta(hours=8, seconds=1)),
                                         ("expires_at", timedelta(seconds=-1))])
def test_idle_and_absolute_timeouts_end_a_session(app, admin, column, age):
    browser = _signed_in(app, "admin")
    (row,) = _sessions(admin)
    moment = utcnow() - age if column == "last_seen_at" else utcnow() + age
    db.session.execute(db.update(UserSession).where(UserSession.id == row.id).values({column: moment}))
    db.session.commit()
    response = browser.get("/users")
    assert response.status_code == 302
    assert "Your session has ended" in browser.get(response.headers["Location"]).get_data(as_text=True)
    assert _sessions(admin) == []


def test_the_timeouts_come_from_the_configuration(app, admin):
    app.config.update(SESSION_IDLE_MINUTES=5, SESSION_MAX_HOURS=1)
    browser = _signed_in(app, "admin")
    (row,) = _sessions(admin)
    assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(hours=1)
    db.session.execute(db.update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=6)))
    db.session.commit()
    assert browser.get("/users").status_code == 302


def test_last_seen_is_written_at_most_once_a_minute(app, admin):
    browser = _signed_in(app, "admin")
    (row,) = _sessions(admin)
    first_seen = row.last_seen_at
    browser.get("/users")
    db.session.expire_all()
    assert _sessions(admin)[0].last_seen_at == first_seen
    db.session.execute(db.update(UserSession).values(last_seen_at=first_seen - timedelta(minutes=2)))
    db.session.commit()
    browser.get("/users")
    db.session.expire_all()
    assert _sessions(admin)[0].last_seen_at > first_seen - timedelta(minutes=1)


def test_the_user_page_lists_sessions_and_signs_out_everywhere(app, admin):
    worker = factories.user("worker@example.com", roles=("Administrators",))
    phone = _signed_in(app, "worker@example.com", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                                                  "AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1")
    _signed_in(app, "worker@example.com")
    boss = _signed_in(app, "admin")
    page = boss.get(f"/users/{worker.id}").get_data(as_text=True)
    assert "Safari on iOS" in page and "Chrome on Linux" in page and "Sign out everywhere" in page
    response = boss.post(f"/users/{worker.id}/sessions/end", data={"csrf_token": csrf_token(boss, "/users")},
                         follow_redirects=True)
    assert "signed out everywhere" in response.get_data(as_text=True)
    assert _sessions(worker) == [] and phone.get("/users").status_code == 302
    assert "Not signed in anywhere." in boss.get(f"/users/{worker.id}").get_data(as_text=True)


def test_the_cli_lists_and_ends_sessions(app, runner, admin):
    _signed_in(app, "admin")
    result = runner.invoke(args=["users", "sessions", "ADMIN", "--json"])
    assert result.exit_code == 0, result.output
    (listed,) = json.loads(result.output)
    assert set(listed) >= {"id", "how", "created", "last_seen", "expires"} and listed["how"] == "password"
    result = runner.invoke(args=["users", "sign-out", "admin"])
    assert result.exit_code == 0 and "Ended 1 session of admin" in result.output
    assert json.loads(runner.invoke(args=["users", "sessions", "admin", "--json"]).output) == []
    missing = runner.invoke(args=["users", "sessions", "nobody"])
    assert missing.exit_code == 1 and "no user named" in missing.output


def test_expired_rows_are_pruned(app, admin):
    _signed_in(app, "admin")
    _signed_in(app, "admin")
    db.session.execute(db.update(UserSession).where(UserSession.id == _sessions(admin)[0].id)
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert prune(db.session.connection(), utcnow()) == 1
    assert len(_sessions(admin)) == 1


@pytest.mark.parametrize("agent, summary", [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0",
     "Edge on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on macOS"),
    ("curl/8.5.0", "curl"), ("", None)])
def test_user_agent_summary(agent, summary):
    assert user_agent_summary(agent) == summary


def test_a_new_password_ends_every_session(app, runner, admin, monkeypatch):
    browser = _signed_in(app, "admin")
    monkeypatch.setenv("CRM_NEW_PASSWORD", "a much longer new password")
    result = runner.invoke(args=["users", "set-password", "admin"])
    assert result.exit_code == 0 and "1 session ended" in result.output, result.output
    assert browser.get("/users").status_code == 302 and _sessions(admin) == []
    login(browser, "admin", "a much longer new password")
    assert _opens(browser)
    monkeypatch.setenv("CRM_NEW_PASSWORD", "short")
    weak = runner.invoke(args=["users", "set-password", "admin"])
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    assert len(_sessions(admin)) == 1  # a refused password ends nothing
