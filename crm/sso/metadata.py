"""Reading IdP metadata as real IdPs publish it (Entra, AD FS, Okta, Google, Shibboleth, federations).

python3-saml's own parser takes the first entity, misses POST-only sign-on, takes encryption keys
for signing and never checks expiry; this one is written for what the importer meets in the field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from crm.identity_providers.certificates import (
    MAX_CERTIFICATES,
    CertificateInfo,
    CertificateInvalid,
    certificate_from_der,
)
from crm.timeutil import utcnow

NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MAX_METADATA_BYTES = 5 * 1024 * 1024


class MetadataInvalid(ValueError):
    """The metadata cannot be used; the message says why in plain words."""


class ChooseIdentityProvider(MetadataInvalid):
    """The document describes several IdPs (a federation): the admin must choose one by entity ID."""

    def __init__(self, entity_ids: list[str]):
        super().__init__(f"This metadata describes {len(entity_ids)} identity providers; choose one by its entity ID.")
        self.entity_ids = entity_ids


@dataclass(frozen=True)
class IdpMetadata:
    """What the provider form needs from an IdP's metadata."""

    entity_id: str
    sso_url: str
    sso_binding: str  # "redirect" or "post"
    slo_url: str | None
    certificates: tuple[CertificateInfo, ...]
    name_id_formats: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def parse_xml(document: bytes | str) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network; bytes keep their declared encoding."""
    if isinstance(document, str):
        # Pasted text is already decoded: drop a declaration that would name another encoding.
        document = re.sub(r"^\s*<\?xml[^>]*\?>", "", document.lstrip("\ufeff")).encode("utf-8")
    if len(document) > MAX_METADATA_BYTES:
        raise MetadataInvalid("The metadata is larger than 5 MB.")
    if not document.strip():
        raise MetadataInvalid("The metadata is empty.")
    if b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        raise MetadataInvalid("The metadata contains a DTD or entity declarations, which are refused for safety.")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        raise MetadataInvalid(f"This is not well-formed XML: {error.msg} (line {error.lineno}).") from None


def identity_provider_entities(root: etree._Element) -> list[etree._Element]:
    """The EntityDescriptors that have a SAML 2.0 IDPSSODescriptor."""
    if etree.QName(root).localname == "EntityDescriptor":
        entities = [root]
    else:
        entities = root.iterfind(".//md:EntityDescriptor", NS)
    return [e for e in entities if _idp_descriptor(e) is not None]


def _idp_descriptor(entity: etree._Element) -> etree._Element | None:
    for descriptor in entity.iterfind("md:IDPSSODescriptor", NS):
        if SAML2_PROTOCOL in descriptor.get("protocolSupportEnumeration", "").split():
            return descriptor
    return None


def parse_idp_metadata(document: bytes | str, entity_id: str | None = None,
                       now: datetime | None = None) -> IdpMetadata:
    """Read one IdP from metadata; raise MetadataInvalid (or ChooseIdentityProvider) with the reason."""
    root = parse_xml(document)
    if etree.QName(root).namespace != NS["md"]:
        raise MetadataInvalid("This XML is not SAML metadata (expected an EntityDescriptor or EntitiesDescriptor).")
    entities = identity_provider_entities(root)
    if entity_id:
        entities = [e for e in entities if e.get("entityID") == entity_id.strip()]
        if not entities:
            raise MetadataInvalid(f"No identity provider with entity ID {entity_id} is in this metadata.")
    if not entities:
        raise MetadataInvalid("This metadata has no SAML 2.0 identity provider (no IDPSSODescriptor).")
    if len(entities) > 1:
        raise ChooseIdentityProvider([e.get("entityID", "") for e in entities])
    return _read_entity(entities[0], now or utcnow())


def _read_entity(entity: etree._Element, now: datetime) -> IdpMetadata:
    descriptor = _idp_descriptor(entity)
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise MetadataInvalid("The identity provider has no entityID.")
    sso_url, sso_binding = _endpoint(descriptor, "SingleSignOnService")
    if not sso_url:
        raise MetadataInvalid("The identity provider offers no sign-on URL with the HTTP-Redirect or HTTP-POST "
                              "binding.")
    slo_url, slo_binding = _endpoint(descriptor, "SingleLogoutService")
    notes = []
    if slo_url and slo_binding != "redirect":
        notes.append("Single logout is offered by HTTP-POST only; it was left out (HTTP-Redirect is used).")
        slo_url = None
    certificates, cert_notes = _signing_certificates(descriptor, now)
    formats = tuple(n.text.strip() for n in descriptor.iterfind("md:NameIDFormat", NS) if n.text)
    return IdpMetadata(entity_id=entity_id, sso_url=sso_url, sso_binding=sso_binding, slo_url=slo_url,
                       certificates=certificates, name_id_formats=formats, notes=tuple(notes + cert_notes))


def _endpoint(descriptor: etree._Element, kind: str) -> tuple[str | None, str | None]:
    found = {s.get("Binding"): (s.get("Location") or "").strip() for s in descriptor.iterfind(f"md:{kind}", NS)}
    if found.get(REDIRECT):
        return found[REDIRECT], "redirect"
    if found.get(POST):
        return found[POST], "post"
    return None, None


def _signing_certificates(descriptor: etree._Element, now: datetime) -> tuple[tuple[CertificateInfo, ...], list[str]]:
    """Signing keys of the IDPSSODescriptor only (a KeyDescriptor without `use` signs too)."""
    seen: dict[str, CertificateInfo] = {}
    for key in descriptor.iterfind("md:KeyDescriptor", NS):
        if key.get("use", "signing") != "signing":
            continue
        for node in key.iterfind(".//ds:X509Certificate", NS):
            try:
                info = certificate_from_der(_b64(node.text or ""))
            except (CertificateInvalid, ValueError):
                continue
            seen.setdefault(info.fingerprint_sha256, info)
    if not seen:
        raise MetadataInvalid("The metadata has no signing certificate for the identity provider.")
    current = sorted((c for c in seen.values() if not c.expired(now)), key=lambda c: c.not_after, reverse=True)
    expired = [c for c in seen.values() if c.expired(now)]
    if not current:
        latest = max(expired, key=lambda c: c.not_after)
        raise MetadataInvalid(f"Every signing certificate in the metadata has expired (the latest on "
                              f"{latest.not_after:%Y-%m-%d}). Download fresh metadata from the IdP.")
    notes = [f"Left out an expired certificate ({c.subject}, expired {c.not_after:%Y-%m-%d})." for c in expired]
    notes += [f"Left out a certificate valid to {c.not_after:%Y-%m-%d}: two at once are kept for rollover."
              for c in current[MAX_CERTIFICATES:]]
    return tuple(current[:MAX_CERTIFICATES]), notes


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
