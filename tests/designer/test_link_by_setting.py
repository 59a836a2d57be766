"""A provider's "Link an existing account by": `sso set --link-by`, the provider page, export and import; bad values
are refused with a reason and change nothing, and every change is audited."""
import html
import json

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from tests import factories
from tests.conftest import csrf_token
from tests.designer.test_dormant_setting import _settings
from tests.designer.test_sso_cli import _fails, _ok


def _link_by() -> str:
    db.session.expire_all()
    return db.session.scalar(db.select(IdentityProvider.link_by))


def test_a_provider_links_by_username_until_told_otherwise(app):
    factories.provider("okta")
    assert _link_by() == "username"


def test_sso_set_link_by_is_audited_and_email_needs_email_domains(runner, app):
    factories.provider("okta")
    message = _fails(runner, "sso", "set", "okta", "--link-by", "email")
    assert "link_by: Linking by email needs the provider's email domains" in message and _link_by() == "username"
    assert "updated" in _ok(runner, "sso", "set", "okta", "--link-by", "email", "--email-domains", "example.com")
    assert _link_by() == "email"
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.provider_update")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.changes["link_by"] == {"before": "username", "after": "email"}
    assert "link_by" in _fails(runner, "sso", "set", "okta", "--email-domains", "")  # would leave email unbounded
    _ok(runner, "sso", "set", "okta", "--link-by", "never")
    assert _link_by() == "never"


def test_sso_set_refuses_a_malformed_value_with_click_usage_error(runner, app):
    factories.provider("okta")
    result = runner.invoke(args=["sso", "set", "okta", "--link-by", "sometimes"])
    assert result.exit_code == 2 and "'sometimes' is not one of 'username', 'email', 'never'" in result.stderr
    assert _link_by() == "username"


def test_export_carries_the_setting_and_import_checks_it(runner, app, tmp_path):
    factories.provider("okta", allowed_domains=["example.com"], link_by="email")
    exported = json.loads(_ok(runner, "sso", "export", "okta"))
    assert exported["providers"][0]["link_by"] == "email"
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"version": 1, "providers": [dict(exported["providers"][0], link_by="never")]}))
    _ok(runner, "sso", "import", str(path))
    assert _link_by() == "never"
    path.write_text(json.dumps({"version": 1, "providers": [dict(exported["providers"][0], link_by="maybe")]}))
    assert "link_by: Choose how existing accounts are linked" in _fails(runner, "sso", "import", str(path))
    assert _link_by() == "never"
    older = {k: v for k, v in exported["providers"][0].items() if k != "link_by"}
    path.write_text(json.dumps({"version": 1, "providers": [older]}))  # an export from before the setting
    _ok(runner, "sso", "import", str(path))
    assert _link_by() == "never"


def test_provider_page_sets_it_and_names_a_refusal(admin_client, app):
    factories.provider("okta")
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert "Link an existing account by" in page
    token = csrf_token(admin_client, "/designer/sso/okta")
    bad = html.unescape(admin_client.post("/designer/sso/okta", data=_settings(token, link_by="email"))
                        .get_data(as_text=True))
    assert "Linking by email needs the provider's email domains" in bad and _link_by() == "username"
    response = admin_client.post("/designer/sso/okta", data=_settings(token, link_by="email",
                                                                      allowed_domains="example.com"))
    assert response.status_code == 302 and _link_by() == "email"
    assert '<option selected value="email">' in admin_client.get("/designer/sso/okta").get_data(as_text=True)


def test_the_page_warns_when_email_linking_has_no_email_mapping(admin_client, app):
    from crm.identity_providers import mappings

    provider = factories.provider("okta", allowed_domains=["example.com"], link_by="email")
    assert "no SAML attribute is mapped to the contact's Email yet" in admin_client.get("/designer/sso/okta").text
    mappings.save_attribute_mapping(provider, None, "email", "email", None)
    db.session.commit()
    assert "no SAML attribute is mapped to the contact's Email yet" not in admin_client.get("/designer/sso/okta").text
