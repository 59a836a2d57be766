"""python3-saml settings built from a provider's configuration in the database."""
from __future__ import annotations

from typing import Any

from flask import current_app

from crm.identity_providers.certificates import usable
from crm.identity_providers.config import ProviderConfig, cached_for
from crm.identity_providers.models import SSO_BINDING_POST
from crm.sso import sp_keys
from crm.sso.rejections import SamlRejected

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def sp_urls(slug: str) -> dict[str, str]:
    """This SP's URLs for a provider: Entity ID (= metadata URL), ACS and SLS, from CRM_BASE_URL."""
    base = current_app.config["BASE_URL"]
    return {
        "entity_id": f"{base}/sso/{slug}/metadata",
        "metadata": f"{base}/sso/{slug}/metadata",
        "acs": f"{base}/sso/{slug}/acs",
        "sls": f"{base}/sso/{slug}/sls",
    }


def saml_settings(provider: ProviderConfig, signing: sp_keys.PublishedKey | None = None) -> dict[str, Any]:
    """The settings dict for OneLogin_Saml2_Auth: strict, signed assertions, no deprecated algorithms; with our
    signing key when the provider wants our requests signed (AuthnRequests and logout messages, RSA-SHA256)."""
    urls = sp_urls(provider.slug)
    idp: dict[str, Any] = {
        "entityId": provider.entity_id,
        "singleSignOnService": {
            "url": provider.sso_url,
            "binding": BINDING_POST if provider.sso_binding == SSO_BINDING_POST else BINDING_REDIRECT,
        },
        # Only certificates still valid: an expired one never verifies anything (logout messages included).
        "x509certMulti": {"signing": [c.body for c in usable(provider.certificates)]},
    }
    if provider.slo_url:
        idp["singleLogoutService"] = {"url": provider.slo_url, "binding": BINDING_REDIRECT}
    sp: dict[str, Any] = {
        "entityId": urls["entity_id"],
        "assertionConsumerService": {"url": urls["acs"], "binding": BINDING_POST},
        "singleLogoutService": {"url": urls["sls"], "binding": BINDING_REDIRECT},
        "NameIDFormat": NAMEID_UNSPECIFIED,
    }
    sign = signing is not None
    if sign:
        sp |= {"x509cert": signing.certificate_body, "privateKey": signing.private_key_pem}
    return {
        "strict": True,
        "debug": False,
        "sp": sp,
        "idp": idp,
        "security": {
            "authnRequestsSigned": sign,
            "logoutRequestSigned": sign,
            "logoutResponseSigned": sign,
            "wantAssertionsSigned": True,
            # Logout messages (python3-saml reads this for LogoutRequest and LogoutResponse; the ACS's checks require
            # the assertion's signature whatever it says).
            "wantMessagesSigned": provider.logout_signed,
            "wantNameId": True,
            "wantAttributeStatement": False,
            "requestedAuthnContext": False,
            "rejectDeprecatedAlgorithm": True,
            "signatureAlgorithm": RSA_SHA256,
            "digestAlgorithm": SHA256,
        },
    }


def cached_settings(provider: ProviderConfig):
    """The provider's OneLogin_Saml2_Settings, built once per configuration version (and base URL).

    Building parses and checks the certificates and the whole dict, which would otherwise happen per sign-in. The
    certificates still valid are part of the key, so one expiring drops out of the settings without a change.
    """
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    current = tuple(c.fingerprint_sha256 for c in usable(provider.certificates))
    if not current:
        raise SamlRejected("signature", f"every signing certificate of {provider.slug} has expired", 403)
    # Only a provider that wants signed requests looks up our key: the others cost what they did before.
    try:
        signing = sp_keys.signing_key() if provider.sign_requests else None
    except sp_keys.SpKeyError as error:  # SECRET_KEY changed since the key was made: say so, never a stack trace
        raise SamlRejected("sp_key", str(error), 500) from None
    key = f"saml-settings {current_app.config['BASE_URL']} {current} {signing.fingerprint if signing else ''}"
    return cached_for(provider.version, key, lambda: OneLogin_Saml2_Settings(saml_settings(provider, signing)))


MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def _asking_for_lasting_name_ids(metadata: bytes | str) -> bytes:
    """The metadata's NameIDFormat made the formats a person keeps from one sign-in to the next (persistent, then
    email): an IdP left on its defaults (SimpleSAMLphp sends transient ones) picks one of them. The AuthnRequest still
    asks for any format, so IdPs that send an email under "unspecified" keep working."""
    text = metadata.decode() if isinstance(metadata, bytes) else metadata
    single = f"<md:NameIDFormat>{NAMEID_UNSPECIFIED}</md:NameIDFormat>"
    if single not in text:
        raise ValueError("the SP metadata has no NameIDFormat to replace")
    lasting = "".join(f"<md:NameIDFormat>{f}</md:NameIDFormat>" for f in (NAMEID_PERSISTENT, NAMEID_EMAIL))
    return text.replace(single, lasting).encode()


def _with_key_descriptors(metadata: bytes, signing: tuple[str, ...], encryption: tuple[str, ...]) -> bytes:
    """Every published key of ours, each for signing and for encryption. python3-saml would add encryption keys only
    when it also requires encrypted assertions and knows two certificates at most; an IdP such as Shibboleth must be
    able to encrypt from the start, and during a rollover both keys must be there. The signing keys come first, each
    list in its own order (see sp_keys.encryption_certificates)."""
    from lxml import etree

    root = etree.fromstring(metadata)
    descriptor = root.find(f"{{{MD}}}SPSSODescriptor")
    for python3_saml_own in descriptor.findall(f"{{{MD}}}KeyDescriptor"):  # its signing-only copy of our cert
        descriptor.remove(python3_saml_own)
    position = 1 if descriptor.find(f"{{{MD}}}Extensions") is not None else 0  # KeyDescriptors come first
    for use, bodies in (("signing", signing), ("encryption", encryption)):
        for body in bodies:
            key = etree.Element(f"{{{MD}}}KeyDescriptor", use=use)
            x509_data = etree.SubElement(etree.SubElement(key, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
            etree.SubElement(x509_data, f"{{{DS}}}X509Certificate").text = body
            descriptor.insert(position, key)
            position += 1
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sp_metadata(provider: ProviderConfig) -> str:
    """This SP's metadata XML for the provider (what the IdP admin imports)."""
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    signing = sp_keys.signing_key() if provider.sign_requests else None  # AuthnRequestsSigned="true" then
    settings = OneLogin_Saml2_Settings(saml_settings(provider, signing), sp_validation_only=True)
    metadata = _with_key_descriptors(_asking_for_lasting_name_ids(settings.get_sp_metadata()),
                                     sp_keys.published_certificates(), sp_keys.encryption_certificates())
    errors = settings.validate_metadata(metadata)
    if errors:
        raise ValueError(f"generated SP metadata is invalid: {errors}")
    return metadata.decode() if isinstance(metadata, bytes) else metadata


def post_binding_request(authn, settings) -> str:
    """The AuthnRequest as the HTTP-POST binding sends it (base64), with an enveloped XML signature (RSA-SHA256)
    when the settings carry our key; the HTTP-Redirect binding signs the query string instead (python3-saml)."""
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    if not settings.get_security_data().get("authnRequestsSigned"):
        return authn.get_request(deflate=False)
    signed = OneLogin_Saml2_Utils.add_sign(authn.get_xml(), settings.get_sp_key(), settings.get_sp_cert(),
                                           sign_algorithm=RSA_SHA256, digest_algorithm=SHA256)
    return OneLogin_Saml2_Utils.b64encode(signed)
