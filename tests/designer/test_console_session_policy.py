"""The console-wide idle timeout (issue 14, "Sessions and time"): set on the Single Sign On configuration page, by
`sso session-policy` and by `sso import`; audited; refused with a reason when out of range (nothing changes); and it
holds at once for the sessions open now, password and SSO alike, in the one statement that finds a session."""
import json
from datetime import timedelta

import pytest

from crm.audit.models import AuditEvent
from crm.auth.models import SessionPolicy
from crm.extensions import db
from crm.identity_providers.services import find_provider
from crm.timeutil import utcnow
from tests import factories
from tests.conftest import csrf_token, statements_sent


def _events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.session_policy")
                                   .order_by(AuditEvent.id)))


def _stored() -> int | None:
    db.session.expire_all()
    return db.session.scalar(db.select(SessionPolicy.idle_minutes))


def _later(monkeypatch, delta: timedelta) -> None:
    later = utcnow() + delta
    monkeypatch.setattr("crm.auth.sessions.utcnow", lambda: later)


def test_until_an_administrator_sets_it_the_servers_default_holds(runner, app):
    app.config["SESSION_IDLE_MINUTES"] = 90
    shown = json.loads(runner.invoke(args=["sso", "session-policy", "--json"]).output)
    assert shown == {"session_idle_minutes": 90, "session_max_hours": app.config["SESSION_MAX_HOURS"]}
    assert _stored() is None


def test_the_page_sets_it_audits_it_and_open_sessions_follow_at_once(admin_client, monkeypatch):
    page = admin_client.get("/designer/sso").get_data(as_text=True)
    assert 'id="sessions"' in page and 'name="idle_minutes"' in page and 'value="480"' in page
    token = csrf_token(admin_client, "/designer/sso")
    saved = admin_client.post("/designer/sso/session-policy", data={"idle_minutes": "30", "csrf_token": token},
                              follow_redirects=True)
    assert "Sessions now end after 30 minutes unused." in saved.get_data(as_text=True)
    assert _stored() == 30
    (event_,) = _events()
    assert event_.category == "config" and event_.actor_name == "admin"
    assert event_.changes == {"session_idle_minutes": {"before": 480, "after": 30}}
    _later(monkeypatch, timedelta(minutes=29))
    assert admin_client.get("/accounts").status_code == 200  # used within 30 minutes: still on (and touched)
    _later(monkeypatch, timedelta(minutes=29 + 31))
    assert admin_client.get("/accounts").headers["Location"].startswith("/login")  # 31 minutes unused: ended


@pytest.mark.parametrize("value, reason", [("4", "from 5 to 1440"), ("1441", "from 5 to 1440"),
                                           ("ten", "Not a valid integer"), ("", "Enter a number of minutes.")])
def test_the_page_refuses_a_bad_value_with_a_reason_and_changes_nothing(admin_client, value, reason):
    token = csrf_token(admin_client, "/designer/sso")
    refused = admin_client.post("/designer/sso/session-policy", data={"idle_minutes": value, "csrf_token": token})
    assert refused.status_code == 200
    assert reason in refused.get_data(as_text=True)
    assert _stored() is None and _events() == []


def test_the_command_line_sets_it_and_refuses_a_bad_value(runner, app):
    done = runner.invoke(args=["sso", "session-policy", "--idle-minutes", "45"])
    assert done.exit_code == 0 and "45 minutes" in done.output
    assert _stored() == 45 and _events()[0].actor_name == "cli"
    again = runner.invoke(args=["sso", "session-policy", "--idle-minutes", "45"])
    assert again.exit_code == 0 and "unchanged" in again.output and len(_events()) == 1
    for bad in ("0", "2000"):
        refused = runner.invoke(args=["sso", "session-policy", "--idle-minutes", bad])
        assert refused.exit_code == 1 and "from 5 to 1440" in refused.output
    assert runner.invoke(args=["sso", "session-policy", "--idle-minutes", "soon"]).exit_code == 2
    assert _stored() == 45 and len(_events()) == 1


def test_export_carries_it_and_import_sets_it_or_refuses_the_whole_file(runner, app, tmp_path):
    factories.provider("okta")
    runner.invoke(args=["sso", "session-policy", "--idle-minutes", "60"])
    exported = json.loads(runner.invoke(args=["sso", "export"]).output)
    assert exported["console"] == {"session_idle_minutes": 60}
    assert "console" not in json.loads(runner.invoke(args=["sso", "export", "okta"]).output)  # one provider only
    exported["console"]["session_idle_minutes"] = 20
    path = tmp_path / "sso.json"
    path.write_text(json.dumps(exported))
    done = runner.invoke(args=["sso", "import", str(path)])
    assert done.exit_code == 0 and "updated the session idle timeout" in done.output
    assert _stored() == 20
    exported["console"]["session_idle_minutes"] = 3
    exported["providers"][0]["display_name"] = "Renamed"
    path.write_text(json.dumps(exported))
    refused = runner.invoke(args=["sso", "import", str(path)])
    assert refused.exit_code == 1 and "console: The idle timeout must be" in refused.output
    assert _stored() == 20
    db.session.expire_all()
    assert find_provider("okta").display_name != "Renamed"


def test_every_request_reads_it_in_the_statement_that_finds_the_session(admin_client, runner):
    """No second round trip per request for the setting (the sign-in's cost is issue 11's business)."""
    runner.invoke(args=["sso", "session-policy", "--idle-minutes", "60"])
    with statements_sent(db.engine) as statements:
        assert admin_client.get("/accounts").status_code == 200
    assert sum("session_policy" in s for s in statements) == 1
    assert any("session_policy" in s and "user_session" in s for s in statements)



def test_the_database_refuses_a_value_out_of_range_written_around_the_console(app):
    from sqlalchemy.exc import IntegrityError

    db.session.add(SessionPolicy(id=1, idle_minutes=-5))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(SessionPolicy(id=2, idle_minutes=30))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
