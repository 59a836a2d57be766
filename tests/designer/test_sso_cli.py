"""`flask --app app sso ...`: configuration as code, with errors on stderr and exit status 1."""
import json

import pytest

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.models import AttributeMapping, IdentityProvider
from tests import factories
from tests.conftest import cli_fails as _fails
from tests.conftest import cli_ok as _ok
from tests.designer import metadata_fixtures as md
from tests.saml_keys import key_pair


@pytest.fixture
def metadata_file(tmp_path):
    def write(content, name="metadata.xml"):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)
    return write




def test_add_idp_set_map_preset_and_list(runner, app, metadata_file):
    factories.package("Sales Creatio", 25)
    factories.role("Sales")
    out = _ok(runner, "sso", "add-idp", "entra", "--metadata-file", metadata_file(md.entra()),
              "--display-name", "Contoso Entra ID", "--jit")
    assert "1 signing certificate" in out and "expired" in out
    _ok(runner, "sso", "set", "entra", "--licenses", "Sales Creatio", "--allowed-domains", "contoso.com,fabrikam.com",
        "--required-groups", "CRM Users", "--groups-attribute", "groups", "--allow-idp-initiated", "on",
        "--show-on-login", "off", "--signed-logout", "on")
    _ok(runner, "sso", "preset", "entra", "entra")
    _ok(runner, "sso", "map", "entra", "--attribute", "department", "--field", "department", "--default", "Sales",
        "--update-on", "first-login")
    _ok(runner, "sso", "map-group", "entra", "--attribute", "groups", "--value", "0e3f-sales-id", "--role", "Sales")
    listed = json.loads(_ok(runner, "sso", "list", "--json"))
    assert listed[0]["slug"] == "entra" and listed[0]["jit_enabled"] and listed[0]["allow_idp_initiated"]
    assert listed[0]["attribute_mappings"] == 6 and listed[0]["role_mappings"] == 1
    provider = db.session.scalar(db.select(IdentityProvider))
    assert provider.allowed_domains == ["contoso.com", "fabrikam.com"] and not provider.show_on_login
    assert provider.logout_signed
    assert [p.name for p in provider.license_packages] == ["Sales Creatio"]
    actions = set(db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.actor_name == "cli")))
    assert {"sso.provider_create", "sso.provider_update", "sso.preset", "sso.mapping_add",
            "sso.role_mapping_add"} <= actions


def test_map_updates_the_row_of_the_same_field(runner, app):
    factories.provider("okta")
    _ok(runner, "sso", "map", "okta", "--attribute", "email", "--field", "email")
    _ok(runner, "sso", "map", "okta", "--attribute", "mail", "--field", "email")
    assert db.session.scalars(db.select(AttributeMapping.saml_attribute)).all() == ["mail"]


@pytest.mark.parametrize("args, message", [
    (["sso", "map", "okta", "--attribute", "x", "--field", "salary"], '"salary" is not a contact field'),
    (["sso", "map", "okta", "--attribute", "x", "--field", "type", "--default", "Boss"], '"Boss" is not a type'),
    (["sso", "map", "okta", "--attribute", " ", "--field", "email"], "Enter the SAML attribute name"),
    (["sso", "map", "nope", "--attribute", "x", "--field", "email"], "no identity provider with slug nope"),
    (["sso", "map-group", "okta", "--attribute", "groups", "--value", "G", "--role", "Ghost"], "existing role"),
    (["sso", "set", "okta", "--licenses", "Gold Package"], 'No license package is named "Gold Package"'),
    (["sso", "set", "okta", "--allowed-domains", "not a domain"], "Not a domain name"),
])
def test_bad_input_fails_with_a_message_and_changes_nothing(runner, app, args, message):
    factories.provider("okta")
    before = json.loads(_ok(runner, "sso", "export"))
    assert message in _fails(runner, *args)
    assert json.loads(_ok(runner, "sso", "export")) == before


def test_add_idp_refuses_broken_metadata_and_asks_which_idp_of_a_federation(runner, app, metadata_file):
    assert "not well-formed XML" in _fails(runner, "sso", "add-idp", "x", "--metadata-file", metadata_file("<a"))
    assert "has expired" in _fails(runner, "sso", "add-idp", "x", "--metadata-file", metadata_file(md.only_expired()))
    assert "--entity-id" in _fails(runner, "sso", "add-idp", "x", "--metadata-file", metadata_file(md.federation()))
    _ok(runner, "sso", "add-idp", "uni", "--metadata-file", metadata_file(md.federation()),
        "--entity-id", "https://idp-a.example.org")
    assert db.session.scalar(db.select(IdentityProvider.entity_id)) == "https://idp-a.example.org"


def test_export_import_round_trip(runner, app, tmp_path):
    factories.package("Sales Creatio", 25)
    factories.role("Sales")
    factories.provider("okta", license_policy="selected", licenses=["Sales Creatio"], allowed_domains=["example.com"],
                       logout_signed=True)
    _ok(runner, "sso", "preset", "okta", "okta")
    _ok(runner, "sso", "map-group", "okta", "--attribute", "groups", "--value", "CRM-Sales", "--role", "Sales")
    exported = json.loads(_ok(runner, "sso", "export", "okta"))
    assert exported["providers"][0]["logout_signed"] is True
    (tmp_path / "config.json").write_text(json.dumps(exported))
    provider = db.session.scalar(db.select(IdentityProvider))
    db.session.delete(provider)
    db.session.commit()
    assert "created okta" in _ok(runner, "sso", "import", str(tmp_path / "config.json"))
    assert json.loads(_ok(runner, "sso", "export", "okta")) == exported
    assert "updated okta" in _ok(runner, "sso", "import", str(tmp_path / "config.json"))
    assert json.loads(_ok(runner, "sso", "export", "okta")) == exported


def test_import_is_all_or_nothing(runner, app, tmp_path):
    factories.provider("okta")
    exported = json.loads(_ok(runner, "sso", "export"))
    good = dict(exported["providers"][0], slug="second", display_name="Second")
    changed = dict(exported["providers"][0], display_name="Renamed")
    bad = dict(good, slug="third", attribute_mappings=[{"attribute": "email", "field": "email"},
                                                        {"attribute": "x", "field": "no_such_column"}])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"version": 1, "providers": [changed, good, bad]}))
    message = _fails(runner, "sso", "import", str(path))
    assert "provider #3 (third)" in message and "no_such_column" in message
    assert db.session.scalars(db.select(IdentityProvider.display_name)).all() == ["Okta"]


def test_import_refuses_a_wrong_certificate_and_a_non_json_file(runner, app, tmp_path):
    factories.provider("okta")
    exported = json.loads(_ok(runner, "sso", "export"))
    exported["providers"][0]["certificates"] = [key_pair("k")[0]]
    (tmp_path / "c.json").write_text(json.dumps(exported))
    assert "private key" in _fails(runner, "sso", "import", str(tmp_path / "c.json"))
    (tmp_path / "n.json").write_text("not json")
    assert "is not JSON" in _fails(runner, "sso", "import", str(tmp_path / "n.json"))
