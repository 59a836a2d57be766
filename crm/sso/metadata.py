"""Reading IdP metadata as real IdPs publish it (Entra, AD FS, Okta, Google, Shibboleth, federations).

python3-saml's own parser takes the first entity, misses POST-only sign-on, takes encryption keys
for signing and never checks expiry; this one is written for what the importer meets in the field.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime

import xmlsec
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

from crm.identity_providers.certificates import (
    MAX_CERTIFICATES,
    CertificateInfo,
    CertificateInvalid,
    certificate_from_der,
)
from crm.sso.xml import parse_time
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


def parse_xml(document: bytes | str, max_bytes: int = MAX_METADATA_BYTES) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network; bytes keep their declared encoding."""
    if isinstance(document, str):
        # Pasted text is already decoded: drop a declaration that would name another encoding.
        document = re.sub(r"^\s*<\?xml[^>]*\?>", "", document.lstrip("\ufeff")).encode("utf-8")
    if len(document) > max_bytes:
        raise MetadataInvalid(f"The metadata is larger than {max_bytes / 1024 / 1024:g} MB.")
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
    return _choose_entity(_metadata_root(parse_xml(document)), entity_id, now or utcnow())


def _metadata_root(root: etree._Element) -> etree._Element:
    if etree.QName(root).namespace != NS["md"]:
        raise MetadataInvalid("This XML is not SAML metadata (expected an EntityDescriptor or EntitiesDescriptor).")
    return root


def _choose_entity(root: etree._Element, entity_id: str | None, now: datetime) -> IdpMetadata:
    entities = identity_provider_entities(root)
    if entity_id:
        entities = [e for e in entities if e.get("entityID") == entity_id.strip()]
        if not entities:
            raise MetadataInvalid(f"No identity provider with entity ID {entity_id} is in this metadata.")
    if not entities:
        raise MetadataInvalid("This metadata has no SAML 2.0 identity provider (no IDPSSODescriptor).")
    if len(entities) > 1:
        raise ChooseIdentityProvider([e.get("entityID", "") for e in entities])
    return _read_entity(entities[0], now)


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
    # Every current key is kept, the next one published ahead of a rollover included (one valid from a later day).
    current = sorted((c for c in seen.values() if not c.expired(now)), key=lambda c: c.not_after, reverse=True)
    expired = [c for c in seen.values() if c.expired(now)]
    if not current:
        latest = max(expired, key=lambda c: c.not_after)
        raise MetadataInvalid(f"Every signing certificate in the metadata has expired (the latest on "
                              f"{latest.not_after:%Y-%m-%d}). Download fresh metadata from the IdP.")
    notes = [f"Left out an expired certificate ({c.subject}, expired {c.not_after:%Y-%m-%d})." for c in expired]
    notes += [f"Left out a certificate valid to {c.not_after:%Y-%m-%d}: at most {MAX_CERTIFICATES} are kept."
              for c in current[MAX_CERTIFICATES:]]
    return tuple(current[:MAX_CERTIFICATES]), notes


def _b64(text: str) -> bytes:
    return base64.b64decode(re.sub(r"\s+", "", text), validate=True)


# --- metadata fetched from a URL -------------------------------------------------------------------------------

def read_published_metadata(document: bytes, entity_id: str, signing_cert: str | None, max_bytes: int,
                            now: datetime | None = None) -> IdpMetadata:
    """Read a provider's metadata fetched from its URL, parsed as an upload is.

    With a metadata-signing certificate (a federation's), the document's own signature must verify with exactly that
    certificate and its validUntil must lie ahead: an old signed copy replayed, or a document someone else signed,
    changes nothing. One IdP in the document is taken as it is (its entity ID may change); of several, the
    provider's.
    """
    now = now or utcnow()
    root = _metadata_root(parse_xml(document, max_bytes))
    if signing_cert:
        verify_metadata_signature(root, signing_cert)
        valid_until = _valid_until(root)
        if valid_until is None:
            raise MetadataInvalid("The metadata has no validUntil: a signed federation document must say until when "
                                  "it may be used.")
        if valid_until <= now:
            raise MetadataInvalid(f"The metadata was valid until {valid_until:%Y-%m-%d %H:%M} UTC: it is an old copy. "
                                  "Ask the federation why its feed is stale.")
    try:
        return _choose_entity(root, None, now)
    except ChooseIdentityProvider:
        return _choose_entity(root, entity_id, now)


def _valid_until(root: etree._Element) -> datetime | None:
    try:
        return parse_time(root.get("validUntil"))
    except (ValueError, OverflowError):
        raise MetadataInvalid(f"The metadata's validUntil {root.get('validUntil')[:40]!r} is not a date.") from None


ALLOWED_TRANSFORMS = {
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
}


def verify_metadata_signature(root: etree._Element, signing_cert: str) -> None:
    """The root's enveloped signature covers the whole document and verifies with this certificate only (never
    with the key the document carries itself); SHA-1 is refused as it is in responses."""
    signatures = root.findall("ds:Signature", NS)
    if not signatures:
        raise MetadataInvalid("The metadata is not signed, but this provider's metadata must be signed with the "
                              "configured metadata-signing certificate.")
    if len(signatures) > 1:
        raise MetadataInvalid("The metadata carries more than one signature on its root.")
    signature = signatures[0]
    references = signature.findall("ds:SignedInfo/ds:Reference", NS)
    root_id = root.get("ID")
    if len(references) != 1 or references[0].get("URI") not in ("", f"#{root_id}" if root_id else ""):
        raise MetadataInvalid("The metadata's signature does not cover the whole document.")
    if bad := [t.get("Algorithm") for t in references[0].iterfind("ds:Transforms/ds:Transform", NS)
               if t.get("Algorithm") not in ALLOWED_TRANSFORMS]:
        raise MetadataInvalid(f"The metadata's signature uses a transform that is not allowed: {bad[0]}.")
    algorithms = [n.get("Algorithm") for n in signature.iter(f"{{{NS['ds']}}}SignatureMethod",
                                                                f"{{{NS['ds']}}}DigestMethod")]
    if deprecated := [a for a in algorithms if a in C.DEPRECATED_ALGORITHMS]:
        raise MetadataInvalid(f"The metadata is signed with SHA-1 ({deprecated[0]}), which is refused; ask the "
                              "federation for its SHA-256 feed.")
    if root_id:
        xmlsec.tree.add_ids(root, ["ID"])
    context = xmlsec.SignatureContext()
    context.set_enabled_key_data([xmlsec.KeyData.X509])
    try:
        context.key = xmlsec.Key.from_memory(signing_cert, xmlsec.KeyFormat.CERT_PEM, None)
        context.verify(signature)
    except xmlsec.Error:
        raise MetadataInvalid("The metadata's signature does not verify with the configured metadata-signing "
                              "certificate: it was changed, or signed with another key.") from None
