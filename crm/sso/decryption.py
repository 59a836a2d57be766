"""An EncryptedAssertion opened with one of our published keys, spliced back into the response byte for byte.

python3-saml moves the decrypted Assertion into the Response with lxml's replace(), which re-binds its namespace
prefixes to the Response's; an IdP that declares its own prefix inside the EncryptedAssertion (pysaml2 does) then
fails the signature check. Here the Assertion's own serialisation is put where the EncryptedAssertion was and the
whole response is parsed again (with the same hardened parser), so what was signed is exactly what is verified.
"""
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass

import xmlsec
from lxml import etree

from crm.sso import prechecks
from crm.sso.xml import DS, SAML
from crm.sso.xmlsec_keys import loaded_key

XENC = "{http://www.w3.org/2001/04/xmlenc#}"
# RSA-OAEP only: RSA PKCS#1 v1.5 key transport is open to Bleichenbacher's attack (refused as SAML-SECURITY.md asks).
KEY_TRANSPORT = {"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p", "http://www.w3.org/2009/xmlenc11#rsa-oaep"}
CONTENT = {f"http://www.w3.org/2001/04/xmlenc#aes{n}-cbc" for n in (128, 192, 256)} | {
    f"http://www.w3.org/2009/xmlenc11#aes{n}-gcm" for n in (128, 192, 256)}
MARKER_NS = "urn:crm:decrypted-assertion"


class DecryptionFailed(ValueError):
    """The assertion cannot be opened; `encrypted_for` is the fingerprint (or KeyName) of the key the IdP used,
    when its EncryptedKey says."""

    def __init__(self, reason: str, encrypted_for: str | None = None, no_key: bool = False):
        super().__init__(reason)
        self.encrypted_for = encrypted_for
        self.no_key = no_key


@dataclass(frozen=True)
class DecryptionKey:
    """A published key as decryption needs it."""

    fingerprint: str
    certificate_body: str
    private_key_pem: str


@dataclass(frozen=True)
class Decrypted:
    """The response with its assertion in clear, and which of our keys opened it."""

    xml: bytes
    root: etree._Element
    fingerprint: str


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, AA:BB:… as our key list shows it."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def encrypted_for(encrypted_assertion: etree._Element) -> str | None:
    """Which key the IdP encrypted for, as its EncryptedKey names it: a certificate's fingerprint, or a KeyName."""
    for key in encrypted_assertion.iter(f"{XENC}EncryptedKey"):
        certificate = key.find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
        if certificate is not None and certificate.text:
            try:
                return fingerprint(base64.b64decode("".join(certificate.text.split()), validate=True))
            except ValueError:
                pass
        name = key.find(f"{DS}KeyInfo/{DS}KeyName")
        if name is not None and (name.text or "").strip():
            return (name.text or "").strip()[:200]
    return None


def decrypt_response(root: etree._Element, xml: bytes, keys: Sequence[DecryptionKey]) -> Decrypted:
    """Open the response's one EncryptedAssertion with each of our keys in turn (the one it names first)."""
    encrypted = root.find(f"{SAML}EncryptedAssertion")
    data = encrypted.find(f"{XENC}EncryptedData") if encrypted is not None else None
    if data is None:
        raise DecryptionFailed("the EncryptedAssertion holds no EncryptedData")
    named = encrypted_for(encrypted)
    if not keys:
        raise DecryptionFailed("the assertion is encrypted, but this service provider holds no key", named,
                               no_key=True)
    _check_algorithms(encrypted)
    template = _with_key_inside(encrypted, data)
    ordered = sorted(keys, key=lambda k: k.fingerprint != named)
    for key in ordered:
        assertion = _open(template, key)
        if assertion is not None:
            return Decrypted(*_spliced(root, encrypted, assertion), key.fingerprint)
    held = ", ".join(k.fingerprint for k in keys)
    target = named or "a key it does not name"
    raise DecryptionFailed(f"none of our keys opens the assertion (it was encrypted for {target}; we hold {held})",
                           named)


def _check_algorithms(encrypted: etree._Element) -> None:
    for method in encrypted.iter(f"{XENC}EncryptionMethod"):
        algorithm = method.get("Algorithm")
        parent = method.getparent().tag
        allowed = KEY_TRANSPORT if parent == f"{XENC}EncryptedKey" else CONTENT
        if algorithm not in allowed:
            kind = "key transport" if allowed is KEY_TRANSPORT else "content encryption"
            raise DecryptionFailed(f"the assertion's {kind} algorithm {algorithm} is not accepted (RSA-OAEP key "
                                   "transport and AES-CBC or AES-GCM content only)")


def _with_key_inside(encrypted: etree._Element, data: etree._Element) -> etree._Element:
    """A standalone copy of the EncryptedData whose KeyInfo holds the EncryptedKey (IdPs put it beside, as
    EncryptedAssertion allows, or inside; libxmlsec looks inside only)."""
    copy = deepcopy(data)
    key_info = copy.find(f"{DS}KeyInfo")
    if key_info is None:
        key_info = etree.SubElement(copy, f"{DS}KeyInfo")
        copy.insert(1, key_info)  # after EncryptionMethod, before CipherData
    if key_info.find(f"{XENC}EncryptedKey") is None:
        for node in list(key_info):
            if etree.QName(node).localname == "RetrievalMethod":
                key_info.remove(node)
        siblings = encrypted.findall(f"{XENC}EncryptedKey")
        if not siblings:
            raise DecryptionFailed("the EncryptedAssertion carries no EncryptedKey")
        for sibling in siblings:
            key_info.append(deepcopy(sibling))
    return copy


def _open(template: etree._Element, key: DecryptionKey) -> bytes | None:
    """The Assertion's serialisation, or None when this key does not open it."""
    manager = xmlsec.KeysManager()  # the EncryptedKey inside is found through a manager (a context key is not tried)
    manager.add_key(loaded_key(key.fingerprint, key.private_key_pem, xmlsec.KeyFormat.PEM))
    context = xmlsec.EncryptionContext(manager)
    try:
        opened = context.decrypt(deepcopy(template))
    except xmlsec.Error:
        return None
    if not isinstance(opened, etree._Element) or opened.tag != f"{SAML}Assertion":
        raise DecryptionFailed("the EncryptedAssertion does not hold a SAML Assertion")
    return etree.tostring(opened)


def _spliced(root: etree._Element, encrypted: etree._Element, assertion: bytes) -> tuple[bytes, etree._Element]:
    """The response with the Assertion's bytes where the EncryptedAssertion was, parsed again."""
    outer = deepcopy(root)
    old = outer.find(f"{SAML}EncryptedAssertion")
    marker = etree.Element(f"{{{MARKER_NS}}}here")
    marker.tail = old.tail
    outer.replace(old, marker)
    text, count = re.subn(rb'<([A-Za-z_][\w.-]*:)?here xmlns(:[A-Za-z_][\w.-]*)?="' + MARKER_NS.encode() + rb'"/>',
                          lambda _: assertion, etree.tostring(outer), count=1)
    if count != 1:
        raise DecryptionFailed("the decrypted assertion could not be put back into the response")
    return text, prechecks.parse(text)
