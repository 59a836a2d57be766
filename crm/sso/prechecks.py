"""Checks that run before python3-saml sees a response: size, base64, XML shape and the signatures' form.

libxmlsec follows every Reference and runs every transform of a signature before it checks the
signature value, and python3-saml only inspects the first Reference. So an unsigned, hostile POST could
make it read local files (URI="file:///dev/zero"), run XSLT or cubic XPath (xpointer) for seconds. Here
each signature must be exactly what SAML uses: one Reference to its parent's ID, enveloped-signature and
exclusive c14n only, no Object or Manifest, a KeyInfo with X509Data only.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading

from lxml import etree
from onelogin.saml2 import xmlparser

from crm.identity_providers.certificates import CertificateInvalid, certificate_from_der
from crm.sso.rejections import SamlRejected

MAX_RESPONSE_CHARS = 256 * 1024  # base64 text; real responses with 150 groups are ~40 KB
MAX_ATTRIBUTES = 200
MAX_VALUES_PER_ATTRIBUTE = 1000
MAX_VALUE_LENGTH = 2048
# From this size (XML bytes) a signature's digest is checked before libxmlsec verifies it (digest_differs): real
# responses are 10-40 KB, where libxmlsec's own check is cheap and the look would only add to a valid sign-in.
QUICK_DIGEST_FROM = 64 * 1024
ALLOWED_TRANSFORMS = frozenset({
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
})
DS = "{http://www.w3.org/2000/09/xmldsig#}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
EXC_C14N_NS = "{http://www.w3.org/2001/10/xml-exc-c14n#}"
SIGNED_PARENTS = frozenset({"{urn:oasis:names:tc:SAML:2.0:protocol}Response",
                            "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion"})
_WHITESPACE = b" \t\n\r\x0b\x0c"  # what IdPs wrap base64 with (bytes.translate drops it: a regex was 2 ms)
_ID_REFERENCE = re.compile(r"^#[A-Za-z_][\w.-]*$")


def decode(saml_response: str | None) -> tuple[bytes, etree._Element]:
    """The XML and its parsed tree: size capped, base64 checked, no DTD (SamlRejected "too_large"/"malformed").
    This is the one parse of a response: every check reads this tree."""
    document = decode_base64(saml_response)
    return document, parse(document)


def decode_base64(saml_response: str | None) -> bytes:
    """The posted SAMLResponse as XML bytes: size capped, base64 checked, no DTD (SamlRejected)."""
    if not saml_response:
        raise SamlRejected("malformed", "no SAMLResponse was posted")
    if len(saml_response) > MAX_RESPONSE_CHARS:
        raise SamlRejected("too_large", f"SAMLResponse is {len(saml_response)} characters (limit {MAX_RESPONSE_CHARS})")
    try:
        document = _strict_base64(saml_response.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SamlRejected("malformed", "SAMLResponse is not base64") from None
    if b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        raise SamlRejected("malformed", "SAMLResponse contains a DTD")
    return document


def _strict_base64(encoded: bytes) -> bytes:
    """Strict base64 (b64decode's validate=True), the whitespace that IdPs wrap it with aside; most post it on one
    line, and copying a large body only to drop no whitespace cost a fifth of the decoding."""
    try:
        return binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:  # not on one line (or not base64 at all: then it fails again below)
        return binascii.a2b_base64(encoded.translate(None, _WHITESPACE), strict_mode=True)


_local = threading.local()  # lxml parsers and compiled XPath expressions are not shared between threads


def _parser() -> etree.XMLParser:
    """python3-saml's parser settings, with lxml's own element class: the library's RestrictedElement filters
    comments and processing instructions out of every iteration in Python, which this parser has removed already
    (on a response with 1,500 values that filtering was a third of its cost)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(**xmlparser.GlobalParserTLS.parser_config)
    return parser


def parse(document: bytes) -> etree._Element:
    """The response's XML tree, parsed once (SamlRejected "malformed" when it is not XML)."""
    try:  # python3-saml's own hardened parsing: no DTD, no entities, no network; comments and PIs removed
        return xmlparser.fromstring(document, parser=_parser())
    except etree.XMLSyntaxError as error:
        raise SamlRejected("malformed", f"SAMLResponse is not XML: {error.msg}") from None
    except (xmlparser.DTDForbidden, xmlparser.EntitiesForbidden, ValueError) as error:
        raise SamlRejected("malformed", f"SAMLResponse is refused: {error}") from None


# The limits are counted and measured by libxml2's XPath, in C: walking the values in Python made an lxml proxy
# object per value, and on a response with thousands of them those objects (and the garbage collections they set
# off) cost more than a whole valid sign-in. A value's length is its string-value, all its text (as itertext()).
_LIMIT_QUERIES = {  # over the element and everything in it, as iter() walks it
    "attributes": "count(descendant-or-self::saml:Attribute)",
    "values": "count(descendant-or-self::saml:Attribute/saml:AttributeValue)",
    "first_over": "(descendant-or-self::saml:Attribute[count(saml:AttributeValue) > $values"
                  " or string-length(@Name) > $length or saml:AttributeValue[string-length() > $length]])[1]",
    "own_values": "count(saml:AttributeValue)",
}


def _query(name: str) -> etree.XPath:
    """One of the limit queries, compiled once per thread."""
    queries = _local.__dict__.setdefault("queries", {})
    if name not in queries:
        queries[name] = etree.XPath(_LIMIT_QUERIES[name], namespaces={"saml": SAML[1:-1]})
    return queries[name]


def check_attribute_limits(root: etree._Element) -> tuple[int, int]:
    """How many attributes and values, and how long: refused before the costly signature check, so thousands of
    values cost no more than a valid sign-in (SamlRejected "limits", naming the first attribute over a limit).
    Returns how many attributes and values the response holds."""
    attributes = int(_query("attributes")(root))
    if attributes > MAX_ATTRIBUTES:
        raise SamlRejected("limits", f"{attributes} attributes (limit {MAX_ATTRIBUTES})")
    over = _query("first_over")(root, values=MAX_VALUES_PER_ATTRIBUTE, length=MAX_VALUE_LENGTH)
    if over:
        name, values = over[0].get("Name") or "", int(_query("own_values")(over[0]))
        if values > MAX_VALUES_PER_ATTRIBUTE:
            raise SamlRejected("limits", f"attribute {name[:100]} has {values} values "
                                         f"(limit {MAX_VALUES_PER_ATTRIBUTE})")
        raise SamlRejected("limits", f"attribute {name[:100]} has a value over {MAX_VALUE_LENGTH} characters")
    return attributes, int(_query("values")(root))


def check_signature_shape(signature: etree._Element) -> None:
    """Refuse any signature that is not the plain enveloped SAML form (SamlRejected "transform")."""
    parent = signature.getparent()
    if parent is None or parent.tag not in SIGNED_PARENTS:
        raise SamlRejected("transform", "a signature outside a Response or Assertion")
    references = signature.findall(f"{DS}SignedInfo/{DS}Reference")
    if len(references) != 1 or len(list(signature.iter(f"{DS}Reference"))) != 1:
        raise SamlRejected("transform", f"a signature with {len(references)} references (exactly one is allowed)")
    uri = references[0].get("URI") or ""
    if not _ID_REFERENCE.match(uri) or uri[1:] != parent.get("ID"):
        raise SamlRejected("transform", f"signature Reference URI {uri[:100]!r} is not its parent's ID")
    if signature.find(f"{DS}Object") is not None or next(signature.iter(f"{DS}Manifest"), None) is not None:
        raise SamlRejected("transform", "a signature carrying an Object or Manifest")
    key_info = signature.find(f"{DS}KeyInfo")
    if key_info is not None and any(child.tag != f"{DS}X509Data" for child in key_info):
        raise SamlRejected("transform", "KeyInfo may only carry X509Data")
    for transform in signature.iter(f"{DS}Transform"):
        _check_transform(transform)


def _check_transform(transform: etree._Element) -> None:
    algorithm = transform.get("Algorithm")
    if algorithm not in ALLOWED_TRANSFORMS:
        raise SamlRejected("transform", f"signature transform {algorithm!r} is not allowed")
    children = list(transform)
    # Exclusive c14n may name InclusiveNamespaces (OpenSAML/Shibboleth IdPs do); nothing else may appear.
    allowed = (algorithm.endswith("xml-exc-c14n#") and len(children) == 1
               and children[0].tag == f"{EXC_C14N_NS}InclusiveNamespaces" and len(children[0]) == 0
               and set(children[0].attrib) <= {"PrefixList"})
    if children and not allowed:
        raise SamlRejected("transform", f"signature transform {algorithm!r} carries content")


ENVELOPED_EXC_C14N = ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", "http://www.w3.org/2001/10/xml-exc-c14n#"]
DIGEST_METHODS = {  # what a Reference's DigestMethod may name (SHA-1 is refused before the digest is looked at)
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}


def digest_differs(signature: etree._Element) -> bool:
    """True when the element a signature signs no longer matches the digest the signature states: it was changed
    after signing, and no certificate can verify it. Found with one canonicalisation, in C: libxmlsec computes the
    same digest through a node set at three times the cost, and only after it has set up the key.

    False when the digest matches, and whenever this look cannot be sure (a form other than enveloped-signature plus
    plain exclusive c14n, a digest it does not know, the signature not found whole in its parent's canonical form):
    libxmlsec's verification then decides, as it always does for a response that gets this far."""
    reference = signature.find(f"{DS}SignedInfo/{DS}Reference")
    if reference is None:
        return False
    transforms = reference.findall(f"{DS}Transforms/{DS}Transform")
    if [t.get("Algorithm") for t in transforms] != ENVELOPED_EXC_C14N or len(transforms[1]):
        return False
    method = reference.find(f"{DS}DigestMethod")
    algorithm = DIGEST_METHODS.get(method.get("Algorithm") if method is not None else None)
    try:
        stated = base64.b64decode("".join((reference.findtext(f"{DS}DigestValue") or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    if algorithm is None or not stated:
        return False
    # Exclusive c14n renders the signature inside its parent exactly as on its own, but where the parent renders a
    # namespace the signature then leaves out: found exactly once, it is cut out as the enveloped transform does.
    signed = etree.tostring(signature.getparent(), method="c14n", exclusive=True)
    own = etree.tostring(signature, method="c14n", exclusive=True)
    if signed.count(own) != 1:
        return False
    start = signed.index(own)
    digest = hashlib.new(algorithm, memoryview(signed)[:start])
    digest.update(memoryview(signed)[start + len(own):])
    return digest.digest() != stated


def keyinfo_fingerprint(signed: etree._Element) -> str:
    """The SHA-256 fingerprint of the certificate a signed element's KeyInfo carries (what the IdP signed with)."""
    node = signed.find(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    if node is None or not (node.text or "").strip():
        return "(no certificate)"
    try:
        return certificate_from_der(base64.b64decode(re.sub(r"\s+", "", node.text))).fingerprint_sha256
    except (CertificateInvalid, ValueError, binascii.Error):
        return "(unreadable certificate)"
