"""A provider's "Reclaim seats after N days without sign-in": `sso set --dormant-days`, the provider page, export and
import; bad values are refused with a message and change nothing."""
import html
import json

import pytest

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from tests import factories
from tests.conftest import csrf_token
from tests.designer.test_sso_cli import _fails, _ok


def _days() -> int | None:
    db.session.expire_all()
    return db.session.scalar(db.select(IdentityProvider.dormant_days))


def test_sso_set_dormant_days_on_and_off_is_audited(runner, app):
    factories.provider("okta")
    assert "updated" in _ok(runner, "sso", "set", "okta", "--dormant-days", "90")
    assert _days() == 90
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.provider_update")).one()
    assert event.changes["dormant_days"] == {"before": None, "after": 90}
    _ok(runner, "sso", "set", "okta", "--dormant-days", "off")
    assert _days() is None
    _ok(runner, "sso", "set", "okta", "--jit", "off")  # other changes leave it as it is
    assert _days() is None


@pytest.mark.parametrize("value", ["0", "-5", "ninety", "3651", "1.5"])
def test_sso_set_refuses_a_bad_number_of_days(runner, app, value):
    factories.provider("okta", dormant_days=30)
    message = _fails(runner, "sso", "set", "okta", "--dormant-days", value)
    assert "dormant_days" in message and "whole number of days from 1 to 3650" in message
    assert _days() == 30


def test_export_carries_the_setting_and_import_checks_it(runner, app, tmp_path):
    factories.provider("okta", dormant_days=45)
    exported = json.loads(_ok(runner, "sso", "export", "okta"))
    assert exported["providers"][0]["dormant_days"] == 45
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"version": 1, "providers": [dict(exported["providers"][0], dormant_days=7)]}))
    _ok(runner, "sso", "import", str(path))
    assert _days() == 7
    path.write_text(json.dumps({"version": 1, "providers": [dict(exported["providers"][0], dormant_days="soon")]}))
    assert "dormant_days" in _fails(runner, "sso", "import", str(path))
    assert _days() == 7
    older = {k: v for k, v in exported["providers"][0].items() if k != "dormant_days"}
    path.write_text(json.dumps({"version": 1, "providers": [older]}))  # an export from before the setting
    _ok(runner, "sso", "import", str(path))
    assert _days() == 7


def _settings(token: str, **extra) -> dict:
    return {"csrf_token": token, "display_name": "Okta", "slug": "okta", "entity_id": "https://idp.example.com/okta",
            "sso_url": "https://idp.example.com/okta/sso", "sso_binding": "redirect", "license_policy": "all",
            "new_user_type": "employee", "enabled": "y", "jit_enabled": "y"} | extra


def test_provider_page_sets_the_days_and_names_a_bad_value(admin_client, app):
    factories.provider("okta")
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert "Reclaim seats after N days without sign-in" in page
    token = csrf_token(admin_client, "/designer/sso/okta")
    assert admin_client.post("/designer/sso/okta", data=_settings(token, dormant_days="60")).status_code == 302
    assert _days() == 60
    assert 'value="60"' in admin_client.get("/designer/sso/okta").get_data(as_text=True)
    bad = html.unescape(admin_client.post("/designer/sso/okta", data=_settings(token, dormant_days="0"))
                        .get_data(as_text=True))
    assert "Enter a whole number of days from 1 to 3650" in bad and _days() == 60
    admin_client.post("/designer/sso/okta", data=_settings(token, dormant_days=""))
    assert _days() is None
