"""Building and signing the demo IdP's SAML responses (python3-saml's signer, SHA-256)."""
from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from onelogin.saml2.utils import OneLogin_Saml2_Utils

EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def _instant(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).strftime("%Y-%m-%dT%H:%M:%SZ")


def _attributes(attributes: dict[str, tuple[str, ...]]) -> str:
    rows = []
    for name, values in attributes.items():
        body = "".join(f'<saml:AttributeValue xsi:type="xs:string">{escape(v)}</saml:AttributeValue>' for v in values)
        rows.append(f"<saml:Attribute Name={quoteattr(name)}>{body}</saml:Attribute>")
    return f"<saml:AttributeStatement>{''.join(rows)}</saml:AttributeStatement>" if rows else ""


def signed_response(*, issuer: str, audience: str, acs_url: str, name_id: str,
                    attributes: dict[str, tuple[str, ...]], in_response_to: str | None, key: str, cert: str) -> str:
    """A base64 SAMLResponse whose assertion is signed (sign first, then wrap: add_sign signs the Issuer's parent)."""
    irt = f" InResponseTo={quoteattr(in_response_to)}" if in_response_to else ""
    assertion = (
        '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_instant()}">'
        f"<saml:Issuer>{escape(issuer)}</saml:Issuer>"
        f'<saml:Subject><saml:NameID Format="{EMAIL_FORMAT}">{escape(name_id)}</saml:NameID>'
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData NotOnOrAfter="{_instant(timedelta(minutes=5))}" '
        f"Recipient={quoteattr(acs_url)}{irt}/></saml:SubjectConfirmation></saml:Subject>"
        f'<saml:Conditions NotBefore="{_instant(timedelta(minutes=-1))}" '
        f'NotOnOrAfter="{_instant(timedelta(minutes=5))}">'
        f"<saml:AudienceRestriction><saml:Audience>{escape(audience)}</saml:Audience></saml:AudienceRestriction>"
        "</saml:Conditions>"
        f'<saml:AuthnStatement AuthnInstant="{_instant()}" SessionIndex="_{uuid.uuid4().hex}"><saml:AuthnContext>'
        "<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
        f"{_attributes(attributes)}</saml:Assertion>"
    )
    signed = OneLogin_Saml2_Utils.add_sign(assertion, key, cert)
    signed = signed.decode() if isinstance(signed, bytes) else signed
    response = (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_instant()}" Destination={quoteattr(acs_url)}{irt}>'
        f"<saml:Issuer>{escape(issuer)}</saml:Issuer>"
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        f"{signed.split('?>', 1)[-1] if signed.startswith('<?xml') else signed}</samlp:Response>"
    )
    return base64.b64encode(response.encode()).decode()
