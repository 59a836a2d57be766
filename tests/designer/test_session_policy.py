"""Sessions and time on the provider (issue 14): clock skew, session lifetime and ForceAuthn from `sso set`, the
provider page and `sso export`/`sso import`; bad values are refused with a reason and change nothing; every
change is in the audit trail."""
import html
import json

import pytest

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from tests import factories
from tests.conftest import csrf_token


def _provider() -> IdentityProvider:
    db.session.expire_all()
    return db.session.scalar(db.select(IdentityProvider))


def _policy() -> tuple:
    provider = _provider()
    return provider.clock_skew_seconds, provider.session_max_hours, provider.force_authn


def _updates() -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.provider_update")
                                   .order_by(AuditEvent.id)))


def _sso_set(runner, *args):
    return runner.invoke(args=["sso", "set", "okta", *args])


def test_a_new_provider_allows_120_s_of_skew_no_lifetime_of_its_own_and_no_force_authn(app):
    factories.provider("okta")
    assert _policy() == (120, None, False)


def test_sso_set_changes_each_setting_and_audits_it(runner, app):
    factories.provider("okta")
    for args in (["--clock-skew", "0"], ["--session-hours", "12"], ["--force-authn", "on"],
                 ["--clock-skew", "300", "--session-hours", "720"]):
        result = _sso_set(runner, *args)
        assert result.exit_code == 0, result.output + result.stderr
    assert _policy() == (300, 720, True)
    changes = [event.changes for event in _updates()]
    assert changes[0] == {"clock_skew_seconds": {"before": 120, "after": 0}}
    assert changes[1] == {"session_max_hours": {"before": None, "after": 12}}
    assert changes[2] == {"force_authn": {"before": False, "after": True}}
    assert changes[3] == {"clock_skew_seconds": {"before": 0, "after": 300},
                          "session_max_hours": {"before": 12, "after": 720}}
    assert _sso_set(runner, "--session-hours", "none").exit_code == 0
    assert _policy() == (300, None, True)


@pytest.mark.parametrize("args, status, reason", [
    (["--clock-skew", "301"], 1, "Clock skew must be a whole number of seconds from 0 to 300 (got 301)"),
    (["--clock-skew", "-1"], 1, "from 0 to 300 (got -1)"),
    (["--clock-skew", "two minutes"], 2, "'two minutes' is not a valid integer"),
    (["--session-hours", "0"], 1, "Session lifetime must be a whole number of hours from 1 to 720"),
    (["--session-hours", "721"], 1, "from 1 to 720, or empty for the console's own maximum (got 721)"),
    (["--session-hours", "8.5"], 2, "'8.5' is not a whole number of hours (or none)"),
    (["--force-authn", "yes"], 2, "'yes' is not one of 'on', 'off'"),
    (["--clock-skew", "60", "--session-hours", "1000"], 1, "session_max_hours"),
])
def test_sso_set_refuses_a_bad_value_with_a_reason_and_changes_nothing(runner, app, args, status, reason):
    factories.provider("okta")
    result = _sso_set(runner, *args)
    assert result.exit_code == status and reason in result.stderr and result.stdout == ""
    assert _policy() == (120, None, False) and _updates() == []


def test_export_and_import_carry_the_settings(runner, app, tmp_path):
    factories.provider("okta")
    assert _sso_set(runner, "--clock-skew", "45", "--session-hours", "10", "--force-authn", "on").exit_code == 0
    exported = json.loads(runner.invoke(args=["sso", "export", "okta"]).output)
    item = exported["providers"][0]
    assert (item["clock_skew_seconds"], item["session_max_hours"], item["force_authn"]) == (45, 10, True)
    path = tmp_path / "okta.json"
    path.write_text(json.dumps(exported))
    assert _sso_set(runner, "--clock-skew", "200", "--session-hours", "none", "--force-authn", "off").exit_code == 0
    result = runner.invoke(args=["sso", "import", str(path)])
    assert result.exit_code == 0 and "updated okta" in result.output
    assert _policy() == (45, 10, True)
    assert _updates()[-1].changes == {"clock_skew_seconds": {"before": 200, "after": 45},
                                      "session_max_hours": {"before": None, "after": 10},
                                      "force_authn": {"before": False, "after": True}}
    db.session.delete(_provider())  # into a console that never had it
    db.session.commit()
    assert runner.invoke(args=["sso", "import", str(path)]).exit_code == 0
    assert _policy() == (45, 10, True)


def test_an_older_export_without_the_settings_keeps_them(runner, app, tmp_path):
    factories.provider("okta", clock_skew_seconds=60, session_max_hours=4, force_authn=True)
    exported = json.loads(runner.invoke(args=["sso", "export"]).output)
    for key in ("clock_skew_seconds", "session_max_hours", "force_authn"):
        del exported["providers"][0][key]
    (tmp_path / "old.json").write_text(json.dumps(exported))
    assert runner.invoke(args=["sso", "import", str(tmp_path / "old.json")]).exit_code == 0
    assert _policy() == (60, 4, True)


@pytest.mark.parametrize("key, value", [("clock_skew_seconds", 900), ("clock_skew_seconds", "soon"),
                                        ("clock_skew_seconds", True), ("session_max_hours", 0)])
def test_import_refuses_a_bad_value_and_changes_nothing(runner, app, tmp_path, key, value):
    factories.provider("okta")
    exported = json.loads(runner.invoke(args=["sso", "export"]).output)
    exported["providers"][0] |= {key: value, "display_name": "Renamed"}
    (tmp_path / "bad.json").write_text(json.dumps(exported))
    result = runner.invoke(args=["sso", "import", str(tmp_path / "bad.json")])
    assert result.exit_code == 1 and f"provider #1 (okta): {key}:" in result.stderr
    assert _policy() == (120, None, False) and _provider().display_name == "Okta"


def _settings(client, **changes):
    data = {"csrf_token": csrf_token(client, "/designer/sso/okta"), "display_name": "Okta", "slug": "okta",
            "entity_id": "https://idp.example.com/okta", "sso_url": "https://idp.example.com/okta/sso",
            "slo_url": "https://idp.example.com/okta/slo", "sso_binding": "redirect", "license_policy": "all",
            "new_user_type": "employee", "enabled": "y", "jit_enabled": "y", "show_on_login": "y",
            "clock_skew_seconds": "120", "session_max_hours": ""} | changes
    return client.post("/designer/sso/okta", data={k: v for k, v in data.items() if v is not None})


def test_the_provider_page_shows_and_saves_the_settings(admin_client, app):
    factories.provider("okta")
    page = html.unescape(admin_client.get("/designer/sso/okta").get_data(as_text=True))
    assert "Sessions and time" in page and 'name="clock_skew_seconds"' in page and 'value="120"' in page
    assert "Session lifetime (hours)" in page and "Force re-authentication (ForceAuthn)" in page
    saved = _settings(admin_client, clock_skew_seconds="30", session_max_hours="24", force_authn="y")
    assert saved.status_code == 302
    assert _policy() == (30, 24, True)
    assert _updates()[-1].changes == {"clock_skew_seconds": {"before": 120, "after": 30},
                                      "session_max_hours": {"before": None, "after": 24},
                                      "force_authn": {"before": False, "after": True}}
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert 'value="30"' in page and 'value="24"' in page


@pytest.mark.parametrize("changes, message", [
    ({"clock_skew_seconds": "301"}, "Clock skew must be a whole number of seconds from 0 to 300 (got '301')."),
    ({"clock_skew_seconds": ""}, "Clock skew must be a whole number of seconds from 0 to 300"),
    ({"session_max_hours": "a day"}, "Session lifetime must be a whole number of hours from 1 to 720"),
])
def test_the_provider_page_refuses_a_bad_value_next_to_its_field(admin_client, app, changes, message):
    factories.provider("okta")
    response = _settings(admin_client, force_authn="y", **changes)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and message in page and 'aria-invalid="true"' in page
    assert _policy() == (120, None, False) and _updates() == []
