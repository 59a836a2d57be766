"""The SP's own keys: made on first use, sealed with SECRET_KEY, published for signing and encryption, rotated
(next beside active) and retired without an IdP ever seeing metadata we cannot honour."""
import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.sso import sp_keys
from crm.sso.models import MetadataFetch, SpKey
from tests import factories
from tests.conftest import cli_fails as _fails
from tests.conftest import cli_ok as _ok

MD = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}




def _published(client, slug="okta") -> dict[str, set[str]]:
    """Fingerprint of every certificate in the SP metadata -> the uses it is published for."""
    root = etree.fromstring(client.get(f"/sso/{slug}/metadata").data)
    found: dict[str, set[str]] = {}
    for key in root.iterfind("md:SPSSODescriptor/md:KeyDescriptor", MD):
        der = base64.b64decode(key.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=MD))
        found.setdefault(sp_keys.fingerprint_of(x509.load_der_x509_certificate(der)), set()).add(key.get("use"))
    return found


def test_first_use_makes_one_rsa_3072_key_whose_private_half_is_stored_sealed(app):
    key = sp_keys.ensure_active_key()
    assert sp_keys.ensure_active_key().id == key.id
    assert db.session.scalar(db.select(db.func.count()).select_from(SpKey)) == 1
    certificate = x509.load_pem_x509_certificate(key.certificate_pem.encode())
    assert certificate.public_key().key_size == 3072
    assert "PRIVATE KEY" not in key.private_key_ciphertext
    private = serialization.load_pem_private_key(sp_keys.published_keys()[0].private_key_pem.encode(), None)
    assert private.public_key().public_numbers() == certificate.public_key().public_numbers()
    assert db.session.scalar(db.select(AuditEvent.action).where(AuditEvent.action == "sso.sp_key_created"))


def test_another_secret_key_cannot_open_the_private_key(app):
    key = sp_keys.ensure_active_key()
    app.config["SECRET_KEY"] = "another-secret"
    with pytest.raises(sp_keys.SpKeyError, match="SECRET_KEY"):
        sp_keys.unseal(key.private_key_ciphertext, key.fingerprint)


def test_a_sealed_key_moved_to_another_row_does_not_open(app):
    key = sp_keys.ensure_active_key()
    with pytest.raises(sp_keys.SpKeyError):
        sp_keys.unseal(key.private_key_ciphertext, "00:" + key.fingerprint[3:])


def test_metadata_publishes_every_key_for_signing_and_encryption(client, app, runner):
    factories.provider("okta")
    first = _published(client)
    (active,) = json.loads(_ok(runner, "sso", "sp-key", "list", "--json"))
    assert first == {active["fingerprint"]: {"signing", "encryption"}}
    following = json.loads(_ok(runner, "sso", "sp-key", "rotate", "--json"))
    assert _published(client) == {active["fingerprint"]: {"signing", "encryption"},
                                  following["fingerprint"]: {"signing", "encryption"}}
    _ok(runner, "sso", "sp-key", "retire", str(active["id"]))
    assert _published(client) == {following["fingerprint"]: {"signing", "encryption"}}


def _listed(client, use: str, slug="okta") -> list[str]:
    """Fingerprints of the certificates published for `use`, in the metadata's order."""
    root = etree.fromstring(client.get(f"/sso/{slug}/metadata").data)
    bodies = root.iterfind(f"md:SPSSODescriptor/md:KeyDescriptor[@use='{use}']/ds:KeyInfo/ds:X509Data/"
                           "ds:X509Certificate", MD)
    return [sp_keys.fingerprint_of(x509.load_der_x509_certificate(base64.b64decode(b.text))) for b in bodies]


def test_during_a_rollover_the_next_key_is_listed_first_for_encryption(client, app, runner):
    """An IdP that encrypts for the first encryption key it reads (SimpleSAMLphp) moves to the new key as soon as it
    has the new metadata, so retiring the old key then loses no sign-in; the active key stays first for signing."""
    factories.provider("okta")
    (active,) = json.loads(_ok(runner, "sso", "sp-key", "list", "--json"))
    following = json.loads(_ok(runner, "sso", "sp-key", "rotate", "--json"))
    assert _listed(client, "encryption") == [following["fingerprint"], active["fingerprint"]]
    assert _listed(client, "signing") == [active["fingerprint"], following["fingerprint"]]


def test_metadata_is_still_valid_against_the_schema(client, app):
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    from crm.identity_providers.config import provider_config
    from crm.sso.settings import saml_settings

    factories.provider("okta")
    sp_keys.ensure_active_key()
    sp_keys.rotate()
    db.session.commit()
    xml = client.get("/sso/okta/metadata").data
    settings = OneLogin_Saml2_Settings(saml_settings(provider_config("okta")), sp_validation_only=True)
    assert settings.validate_metadata(xml) == []


def test_cli_list_rotate_retire_json_shapes_and_audit(runner, app):
    rows = json.loads(_ok(runner, "sso", "sp-key", "list", "--json"))
    assert [set(r) for r in rows] == [{"id", "created", "state", "fingerprint"}]
    assert rows[0]["state"] == "active"
    rotated = json.loads(_ok(runner, "sso", "sp-key", "rotate", "--json"))
    assert set(rotated) == {"id", "created", "state", "fingerprint"} and rotated["state"] == "next"
    rows = json.loads(_ok(runner, "sso", "sp-key", "list", "--json"))
    assert [(r["id"], r["state"]) for r in rows] == [(rows[0]["id"], "active"), (rotated["id"], "next")]
    assert "retire" in _fails(runner, "sso", "sp-key", "rotate")  # one rollover at a time
    assert "Retired key" in _ok(runner, "sso", "sp-key", "retire", str(rows[0]["id"]))
    assert json.loads(_ok(runner, "sso", "sp-key", "list", "--json")) == [{**rotated, "state": "active"}]
    actions = db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.action.like("sso.sp_key%"))).all()
    assert sorted(actions) == ["sso.sp_key_created", "sso.sp_key_retired", "sso.sp_key_rotated"]
    assert db.session.scalar(db.select(AuditEvent.actor_name).where(AuditEvent.action == "sso.sp_key_retired")) \
        == "cli"


def test_the_only_key_or_an_unknown_one_is_never_retired(runner, app):
    (only,) = json.loads(_ok(runner, "sso", "sp-key", "list", "--json"))
    assert "only key" in _fails(runner, "sso", "sp-key", "retire", str(only["id"]))
    assert "no SP key 999" in _fails(runner, "sso", "sp-key", "retire", "999")
    assert json.loads(_ok(runner, "sso", "sp-key", "list", "--json")) == [only]
    assert not db.session.scalar(db.select(AuditEvent.id).where(AuditEvent.action == "sso.sp_key_retired"))


def test_withdrawing_the_next_key_calls_the_rollover_off(runner, app):
    (active,) = json.loads(_ok(runner, "sso", "sp-key", "list", "--json"))
    following = json.loads(_ok(runner, "sso", "sp-key", "rotate", "--json"))
    assert "Withdrew" in _ok(runner, "sso", "sp-key", "retire", str(following["id"]))
    assert json.loads(_ok(runner, "sso", "sp-key", "list", "--json")) == [active]


def test_sso_page_shows_the_keys_and_who_fetched_the_metadata_since_the_rotation(admin_client, client, app, runner):
    factories.provider("okta")
    factories.provider("entra", cert_name="other-idp")
    (active,) = json.loads(_ok(runner, "sso", "sp-key", "list", "--json"))
    page = admin_client.get("/designer/sso").get_data(as_text=True)
    assert active["fingerprint"] in page and "rollover is under way" not in page
    following = json.loads(_ok(runner, "sso", "sp-key", "rotate", "--json"))
    admin_client.get("/sso/entra/metadata")  # the admin looking is not the IdP fetching
    assert db.session.get(MetadataFetch, factories_id("entra")) is None
    anonymous = app.test_client()
    anonymous.get("/sso/okta/metadata")
    db.session.rollback()
    fetch = db.session.get(MetadataFetch, factories_id("okta"))
    assert fetch.fetch_count == 1 and fetch.last_address == "127.0.0.1"
    page = admin_client.get("/designer/sso").get_data(as_text=True)
    assert "rollover is under way" in page and following["fingerprint"] in page
    okta, entra = page.split("Okta")[-1], page.split("Entra")[-1]
    assert "fetched our metadata" in okta.split("</li>")[0]
    assert "never fetched our metadata" in entra.split("</li>")[0]


def factories_id(slug: str) -> int:
    from crm.identity_providers.models import IdentityProvider

    return db.session.scalar(db.select(IdentityProvider.id).where(IdentityProvider.slug == slug))
