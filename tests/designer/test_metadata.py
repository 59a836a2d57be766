"""Importing IdP metadata as Entra ID, Okta, Shibboleth and federations publish it."""
import pytest

from crm.identity_providers.certificates import CertificateInvalid, parse_certificate, require_current
from crm.sso.metadata import ChooseIdentityProvider, MetadataInvalid, parse_idp_metadata
from tests.designer import metadata_fixtures as md
from tests.saml_keys import cert_body, expired_cert, key_pair


def test_entra_bom_one_line_wsfed_keys_ignored_expired_certificate_left_out():
    meta = parse_idp_metadata(md.entra())
    assert meta.entity_id == "https://sts.windows.net/81c1df79-e153-4f9d-a101-8dcf04af6c2c/"
    assert meta.sso_binding == "redirect" and meta.sso_url.endswith("/saml2")
    assert [c.subject for c in meta.certificates] == ["O=Test IdP,CN=Microsoft Azure Federated SSO Certificate"]
    assert any("expired" in note for note in meta.notes)


def test_okta_prefers_redirect_and_joins_certificates_split_over_lines():
    meta = parse_idp_metadata(md.okta())
    assert meta.entity_id == "http://www.okta.com/exkppsa1qwuFV4D7z0h7"
    assert meta.sso_binding == "redirect" and meta.slo_url is None
    assert meta.certificates[0].body == cert_body(key_pair("okta-app")[1])


def test_shibboleth_key_without_use_signs_and_encryption_key_is_ignored():
    meta = parse_idp_metadata(md.shibboleth())
    assert meta.entity_id == "https://idp.example.edu/idp/shibboleth"
    assert meta.sso_url == "https://idp.example.edu/idp/profile/SAML2/Redirect/SSO"
    assert meta.slo_url == "https://idp.example.edu/idp/profile/SAML2/Redirect/SLO"
    assert [c.subject for c in meta.certificates] == ["O=Test IdP,CN=idp.example.edu"]


def test_federation_asks_which_idp_and_never_takes_the_sp():
    with pytest.raises(ChooseIdentityProvider) as choose:
        parse_idp_metadata(md.federation())
    assert choose.value.entity_ids == ["https://idp-a.example.org", "https://idp-b.example.org"]
    chosen = parse_idp_metadata(md.federation(), entity_id="https://idp-b.example.org")
    assert chosen.sso_url == "https://idp-b.example.org/sso"


def test_post_only_sign_on_is_found():
    meta = parse_idp_metadata(md.post_only())
    assert (meta.entity_id, meta.sso_binding) == ("crmapp", "post")


@pytest.mark.parametrize("document, message", [
    ("<EntityDescriptor", "not well-formed XML"),
    ("", "empty"),
    ("<html><body>Sign in</body></html>", "not SAML metadata"),
    ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "DTD"),
    (md.only_expired(), "has expired"),
    (md.without_signing_key(), "no signing certificate"),
])
def test_unusable_metadata_is_refused_with_the_reason(document, message):
    with pytest.raises(MetadataInvalid, match=message):
        parse_idp_metadata(document)


def test_pasted_text_with_another_declared_encoding_still_parses():
    text = md.okta().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    assert parse_idp_metadata(text).entity_id.startswith("http://www.okta.com/")


def test_certificate_from_pem_or_bare_base64():
    pem = key_pair("pasted")[1]
    assert parse_certificate(pem).fingerprint_sha256 == parse_certificate(cert_body(pem)).fingerprint_sha256
    assert parse_certificate("\n  " + pem.replace("\n", "\r\n") + "  ").subject == "O=Test IdP,CN=pasted"


@pytest.mark.parametrize("text, message", [
    ("", "Paste the IdP's signing certificate"),
    (key_pair("k")[0], "private key"),
    ("not base64 at all!", "neither PEM nor base64"),
    ("QUJDRA==", "not an X.509 certificate"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "PUBLIC KEY, not a CERTIFICATE"),
])
def test_bad_certificates_are_refused_with_the_reason(text, message):
    with pytest.raises(CertificateInvalid, match=message):
        parse_certificate(text)


def test_expired_certificate_is_refused():
    with pytest.raises(CertificateInvalid, match="expired on"):
        require_current(parse_certificate(expired_cert()))
