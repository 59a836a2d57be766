"""`users deactivate` and `users activate`: by hand, with the directory's effects."""
import json

from crm.auth.models import UserSession
from crm.extensions import db
from tests import factories


def _show(runner, username):
    return json.loads(runner.invoke(args=["users", "show", username, "--json"]).output)


def test_deactivate_ends_sessions_and_releases_seats_and_activate_brings_the_user_back(runner, app):
    factories.employee("erin@example.com")
    from tests.auth.test_sessions import _signed_in

    browser = _signed_in(app, "erin@example.com")
    assert browser.get("/contacts").status_code == 200
    result = runner.invoke(args=["users", "deactivate", "erin@example.com"])
    assert result.exit_code == 0 and "inactive" in result.output
    shown = _show(runner, "erin@example.com")
    assert (shown["active"], shown["inactive_reason"], shown["licenses"]) == (False, "admin", [])
    assert db.session.scalar(db.select(db.func.count(UserSession.id))) == 0
    assert browser.get("/contacts").status_code == 302
    assert runner.invoke(args=["users", "activate", "erin@example.com"]).exit_code == 0
    shown = _show(runner, "erin@example.com")
    assert (shown["active"], shown["inactive_reason"]) == (True, None)
    missing = runner.invoke(args=["users", "activate", "nobody@example.com"])
    assert missing.exit_code == 1
