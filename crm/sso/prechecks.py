"""Checks that run before python3-saml sees a response: size, base64, XML shape and signature transforms.

libxmlsec runs the transforms named in a signature's Reference before it checks the signature, so an
XSLT transform in an unsigned, hostile POST would burn CPU; only the two transforms SAML uses pass.
"""
from __future__ import annotations

import base64
import binascii
import re

from lxml import etree

from crm.sso.rejections import SamlRejected

MAX_RESPONSE_CHARS = 256 * 1024  # base64 text; real responses with 150 groups are ~40 KB
ALLOWED_TRANSFORMS = frozenset({
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
})
DS = "{http://www.w3.org/2000/09/xmldsig#}"
_WHITESPACE = re.compile(rb"\s+")


def precheck(saml_response: str | None) -> bytes:
    """Return the decoded XML of a response that may be handed to python3-saml, or raise SamlRejected (400)."""
    if not saml_response:
        raise SamlRejected("malformed", "no SAMLResponse was posted")
    if len(saml_response) > MAX_RESPONSE_CHARS:
        raise SamlRejected("too_large", f"SAMLResponse is {len(saml_response)} characters (limit {MAX_RESPONSE_CHARS})")
    try:
        document = base64.b64decode(_WHITESPACE.sub(b"", saml_response.encode("ascii")), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SamlRejected("malformed", "SAMLResponse is not base64") from None
    if b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        raise SamlRejected("malformed", "SAMLResponse contains a DTD")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        raise SamlRejected("malformed", f"SAMLResponse is not XML: {error.msg}") from None
    for transform in root.iter(f"{DS}Transform"):
        algorithm = transform.get("Algorithm")
        if algorithm not in ALLOWED_TRANSFORMS or len(transform):
            raise SamlRejected("transform", f"signature transform {algorithm!r} is not allowed")
    return document
