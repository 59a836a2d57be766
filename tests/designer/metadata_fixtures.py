"""IdP metadata in the shapes real IdPs publish, made with the suite's own certificates.

Each builder copies the quirks of its product (see ../shared/idp-metadata/README.md): Entra's BOM,
one-line document, WS-Fed RoleDescriptors with keys of their own and two certificates in rollover;
Okta's plain single descriptor; Shibboleth's urn:oid attributes, KeyDescriptors without `use` and an
encryption-only key; a federation aggregate; JumpCloud's HTTP-POST-only sign-on.
"""
from __future__ import annotations

from tests.saml_keys import cert_body, expired_cert, key_pair

MD = 'xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def _key(cert_pem: str, use: str | None = "signing") -> str:
    use_attr = f' use="{use}"' if use else ""
    return (f'<KeyDescriptor{use_attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_body(cert_pem)}'
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>")


def entra(tenant: str = "81c1df79-e153-4f9d-a101-8dcf04af6c2c") -> bytes:
    """Entra ID tenant metadata: BOM, one line, WS-Fed roles first, an expired and a current certificate."""
    current, old = key_pair("Microsoft Azure Federated SSO Certificate")[1], expired_cert()
    wsfed_key = key_pair("wsfed-only")[1]
    sso = f"https://login.microsoftonline.com/{tenant}/saml2"
    doc = (f'<?xml version="1.0" encoding="utf-8"?><EntityDescriptor ID="_x" entityID="https://sts.windows.net/'
           f'{tenant}/" {MD} xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
           '<RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration='
           f'"http://docs.oasis-open.org/wsfed/federation/200706">{_key(wsfed_key)}</RoleDescriptor>'
           f'<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{_key(old)}'
           f'{_key(current)}<SingleLogoutService Binding="{REDIRECT}" Location="{sso}"/>'
           f'<SingleSignOnService Binding="{REDIRECT}" Location="{sso}"/>'
           f'<SingleSignOnService Binding="{POST}" Location="{sso}"/></IDPSSODescriptor></EntityDescriptor>')
    return b"\xef\xbb\xbf" + doc.encode()


def okta(app: str = "exkppsa1qwuFV4D7z0h7") -> str:
    """Okta app metadata: one descriptor, POST listed before Redirect, no logout."""
    cert = key_pair("okta-app")[1]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/{app}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>
{cert_body(cert)[:64]}
{cert_body(cert)[64:]}
      </ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="{POST}" Location="https://example.okta.com/app/crm/{app}/sso/saml"/>
    <md:SingleSignOnService Binding="{REDIRECT}" Location="https://example.okta.com/app/crm/{app}/sso/saml"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def shibboleth() -> str:
    """A Shibboleth IdP v4: SAML1 and SAML2 descriptors, a key without `use`, an encryption-only key."""
    signing, encryption = key_pair("idp.example.edu")[1], key_pair("idp.example.edu-encryption")[1]
    base = "https://idp.example.edu/idp/profile"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- This is example metadata only. Do not include this file in a federation. -->
<EntityDescriptor {MD} xmlns:shibmd="urn:mace:shibboleth:metadata:1.0"
    xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" entityID="https://idp.example.edu/idp/shibboleth">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol urn:oasis:names:tc:SAML:1.1:protocol urn:mace:shibboleth:1.0">
    <Extensions><shibmd:Scope regexp="false">example.edu</shibmd:Scope></Extensions>
    {_key(signing, use=None)}
    {_key(encryption, use="encryption")}
    <SingleLogoutService Binding="{POST}" Location="{base}/SAML2/POST/SLO"/>
    <SingleLogoutService Binding="{REDIRECT}" Location="{base}/SAML2/Redirect/SLO"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</NameIDFormat>
    <SingleSignOnService Binding="urn:mace:shibboleth:1.0:profiles:AuthnRequest" Location="{base}/Shibboleth/SSO"/>
    <SingleSignOnService Binding="{POST}" Location="{base}/SAML2/POST/SSO"/>
    <SingleSignOnService Binding="{REDIRECT}" Location="{base}/SAML2/Redirect/SSO"/>
  </IDPSSODescriptor>
</EntityDescriptor>
"""


def federation() -> str:
    """An aggregate: an SP first, then two IdPs."""
    sp_cert, idp_a, idp_b = key_pair("sp.example.org")[1], key_pair("idp-a")[1], key_pair("idp-b")[1]

    def idp(entity: str, cert: str) -> str:
        return (f'<EntityDescriptor entityID="{entity}"><IDPSSODescriptor protocolSupportEnumeration='
                f'"urn:oasis:names:tc:SAML:2.0:protocol">{_key(cert)}<SingleSignOnService Binding="{REDIRECT}" '
                f'Location="{entity}/sso"/></IDPSSODescriptor></EntityDescriptor>')

    return (f'<EntitiesDescriptor {MD} Name="urn:example:federation">'
            f'<EntityDescriptor entityID="https://sp.example.org/sp"><SPSSODescriptor protocolSupportEnumeration='
            f'"urn:oasis:names:tc:SAML:2.0:protocol">{_key(sp_cert)}<AssertionConsumerService Binding="{POST}" '
            'Location="https://sp.example.org/acs" index="0"/></SPSSODescriptor></EntityDescriptor>'
            f'{idp("https://idp-a.example.org", idp_a)}{idp("https://idp-b.example.org", idp_b)}'
            '</EntitiesDescriptor>')


def post_only(entity: str = "crmapp") -> str:
    """JumpCloud-style: a bare-word entity ID, md: prefixes, HTTP-POST sign-on only."""
    body = cert_body(key_pair("jumpcloud")[1])
    return ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}'
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            f'<md:SingleSignOnService Binding="{POST}" Location="https://sso.jumpcloud.example/saml2/crm"/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>")


def only_expired() -> str:
    """Metadata whose only signing certificate has expired."""
    return (f'<EntityDescriptor {MD} entityID="https://old.example.com"><IDPSSODescriptor protocolSupportEnumeration='
            f'"urn:oasis:names:tc:SAML:2.0:protocol">{_key(expired_cert())}<SingleSignOnService Binding="{REDIRECT}" '
            'Location="https://old.example.com/sso"/></IDPSSODescriptor></EntityDescriptor>')


def without_signing_key() -> str:
    """Metadata with an encryption key only."""
    return (f'<EntityDescriptor {MD} entityID="https://enc.example.com"><IDPSSODescriptor protocolSupportEnumeration='
            f'"urn:oasis:names:tc:SAML:2.0:protocol">{_key(key_pair("enc")[1], use="encryption")}'
            f'<SingleSignOnService Binding="{REDIRECT}" Location="https://enc.example.com/sso"/>'
            "</IDPSSODescriptor></EntityDescriptor>")


def http_sso() -> str:
    """Metadata whose sign-on URL is plain http."""
    return okta().replace("https://example.okta.com", "http://example.okta.com")
