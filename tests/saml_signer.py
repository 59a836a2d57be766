"""A SAML IdP of the test suite's own: builds and signs real responses (xmlsec, test keys), with knobs for every
attack in SAML-SECURITY.md. Nothing in the app is patched: these responses go through the real ACS."""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import xmlsec
from lxml import etree

from tests.saml_keys import key_pair

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
NSMAP = {"samlp": SAMLP, "saml": SAML}
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"


class _Unset:
    """The default "as a valid response has it"; still the same object after pickling (signing in a process pool)."""

    def __reduce__(self) -> str:
        return "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _instant(delta: timedelta = timedelta(), clock: timedelta = timedelta(), at: datetime | None = None) -> str:
    """A SAML timestamp `delta` from now (or from `at`, naive UTC), on an IdP clock that is `clock` off."""
    return ((at.replace(tzinfo=UTC) if at else datetime.now(UTC)) + clock + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Spec:
    """Everything a response says; defaults make a valid SP-initiated response for provider `slug`."""

    slug: str = "entra"
    name_id: str = "nina.novak@example.com"
    name_id_format: str = EMAIL_FORMAT
    attributes: dict = field(default_factory=dict)
    in_response_to: str | None = None  # on the Response and in SubjectConfirmationData
    scd_in_response_to: object = UNSET  # override only the signed SubjectConfirmationData's value
    base_url: str = "http://localhost"
    issuer: str | None = None  # default https://idp.example.com/<slug> (what tests.factories.provider configures)
    destination: object = UNSET  # default: the ACS URL; None: omitted
    recipient: object = UNSET
    audience: object = UNSET  # None: no AudienceRestriction at all
    not_before: timedelta = timedelta(minutes=-1)
    not_on_or_after: timedelta = timedelta(minutes=5)
    scd_not_on_or_after: timedelta = timedelta(minutes=5)
    status: str = "urn:oasis:names:tc:SAML:2.0:status:Success"
    sign_assertion: bool = True
    sign_response: bool = False
    key_name: str = "test-idp"
    sha1: bool = False
    assertion_id: str | None = None
    session_index: str = "_session-1"
    clock_offset: timedelta = timedelta()  # the IdP's clock is this far off: every timestamp moves
    at: datetime | None = None  # the moment the IdP signs (naive UTC; default now): tests that fix the server's clock
    scd_not_before: timedelta | None = None  # SubjectConfirmationData NotBefore (default: none, as most IdPs)
    session_not_on_or_after: timedelta | None = None  # the AuthnStatement's SessionNotOnOrAfter (default: none)
    authn_instant: timedelta = timedelta()  # when the IdP authenticated the user (an old IdP session: negative)
    status_detail: str | None = None  # a second-level StatusCode (RequestDenied, ...)
    status_message: str | None = None
    encrypt_for: str | None = None  # a certificate PEM: the signed assertion is encrypted for it (EncryptedAssertion)
    content_encryption: str = "aes256-gcm"  # or aes128-cbc, aes256-cbc, aes128-gcm
    key_transport: str = "rsa-oaep"  # or rsa-1_5 (refused)
    encrypted_key_beside: bool = False  # EncryptedKey beside EncryptedData (as Shibboleth puts it), not in its KeyInfo
    encrypted_key_names: str = "x509"  # how the EncryptedKey names our key: "x509" (its certificate), "keyname", "none"

    @property
    def acs(self) -> str:
        return f"{self.base_url}/sso/{self.slug}/acs"

    @property
    def sp_entity_id(self) -> str:
        return f"{self.base_url}/sso/{self.slug}/metadata"

    def but(self, **changes) -> Spec:
        """A copy with some fields changed."""
        return replace(self, **changes)


def _pick(value, default):
    return default if value is UNSET else value


def build_assertion(spec: Spec) -> etree._Element:
    """The saml:Assertion element (unsigned)."""
    issuer = spec.issuer or f"https://idp.example.com/{spec.slug}"
    assertion = etree.Element(_q(SAML, "Assertion"), nsmap={"saml": SAML, "xs": XS, "xsi": XSI},
                              ID=spec.assertion_id or f"_a{uuid.uuid4().hex}", Version="2.0",
                              IssueInstant=_instant(clock=spec.clock_offset, at=spec.at))
    etree.SubElement(assertion, _q(SAML, "Issuer")).text = issuer
    subject = etree.SubElement(assertion, _q(SAML, "Subject"))
    name_id = etree.SubElement(subject, _q(SAML, "NameID"), Format=spec.name_id_format)
    name_id.text = spec.name_id
    confirmation = etree.SubElement(subject, _q(SAML, "SubjectConfirmation"), Method=BEARER)
    data = etree.SubElement(confirmation, _q(SAML, "SubjectConfirmationData"),
                            NotOnOrAfter=_instant(spec.scd_not_on_or_after, spec.clock_offset, spec.at))
    if spec.scd_not_before is not None:
        data.set("NotBefore", _instant(spec.scd_not_before, spec.clock_offset, spec.at))
    recipient = _pick(spec.recipient, spec.acs)
    if recipient is not None:
        data.set("Recipient", recipient)
    scd_irt = _pick(spec.scd_in_response_to, spec.in_response_to)
    if scd_irt is not None:
        data.set("InResponseTo", scd_irt)
    conditions = etree.SubElement(assertion, _q(SAML, "Conditions"),
                                  NotBefore=_instant(spec.not_before, spec.clock_offset, spec.at),
                                  NotOnOrAfter=_instant(spec.not_on_or_after, spec.clock_offset, spec.at))
    audience = _pick(spec.audience, spec.sp_entity_id)
    if audience is not None:
        restriction = etree.SubElement(conditions, _q(SAML, "AudienceRestriction"))
        etree.SubElement(restriction, _q(SAML, "Audience")).text = audience
    authn = etree.SubElement(assertion, _q(SAML, "AuthnStatement"),
                             AuthnInstant=_instant(spec.authn_instant, spec.clock_offset, spec.at),
                             SessionIndex=spec.session_index)
    if spec.session_not_on_or_after is not None:
        authn.set("SessionNotOnOrAfter", _instant(spec.session_not_on_or_after, spec.clock_offset, spec.at))
    context = etree.SubElement(authn, _q(SAML, "AuthnContext"))
    etree.SubElement(context, _q(SAML, "AuthnContextClassRef")).text = \
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    if spec.attributes:
        statement = etree.SubElement(assertion, _q(SAML, "AttributeStatement"))
        for name, values in spec.attributes.items():
            attribute = etree.SubElement(statement, _q(SAML, "Attribute"), Name=name)
            for value in values if isinstance(values, list | tuple) else [values]:
                node = etree.SubElement(attribute, _q(SAML, "AttributeValue"))
                node.set(_q(XSI, "type"), "xs:string")
                node.text = value
    return assertion


def sign(element: etree._Element, key_name: str = "test-idp", sha1: bool = False,
         inclusive_prefixes: str | None = None) -> etree._Element:
    """Return a signed copy of an element (enveloped, exclusive c14n, test key); the Signature follows its Issuer.

    `inclusive_prefixes` adds an InclusiveNamespaces PrefixList to the exclusive c14n, as OpenSAML IdPs do.
    """
    key_pem, cert_pem = key_pair(key_name)
    method = xmlsec.Transform.RSA_SHA1 if sha1 else xmlsec.Transform.RSA_SHA256
    signature = xmlsec.template.create(element, xmlsec.Transform.EXCL_C14N, method, ns="ds")
    element.find(_q(SAML, "Issuer")).addnext(signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA1 if sha1 else xmlsec.Transform.SHA256,
                                              uri="#" + element.get("ID"))
    xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    c14n = xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    if inclusive_prefixes:
        etree.SubElement(c14n, "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces",
                         PrefixList=inclusive_prefixes)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    key = xmlsec.Key.from_memory(key_pem.encode(), xmlsec.KeyFormat.PEM)
    key.load_cert_from_memory(cert_pem.encode(), xmlsec.KeyFormat.PEM)
    context = xmlsec.SignatureContext()
    context.key = key
    context.register_id(element, "ID")
    context.sign(signature)
    # Nodes xmlsec adds are not known to lxml's tag lookup (find/iter by tag miss them): hand back a re-parsed copy.
    return etree.fromstring(etree.tostring(element))


XENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"
_CONTENT = {"aes128-cbc": xmlsec.constants.TransformAes128Cbc, "aes256-cbc": xmlsec.constants.TransformAes256Cbc,
            "aes128-gcm": xmlsec.constants.TransformAes128Gcm, "aes256-gcm": xmlsec.constants.TransformAes256Gcm}
_SESSION_KEY = {"aes128-cbc": 128, "aes256-cbc": 256, "aes128-gcm": 128, "aes256-gcm": 256}
_TRANSPORT = {"rsa-oaep": xmlsec.constants.TransformRsaOaep, "rsa-1_5": xmlsec.constants.TransformRsaPkcs1}


def encrypt(assertion: etree._Element, certificate_pem: str, content: str = "aes256-gcm",
            transport: str = "rsa-oaep", key_beside: bool = False, names: str = "x509") -> etree._Element:
    """A saml:EncryptedAssertion holding `assertion` (already signed), for the certificate's RSA key: a fresh AES
    session key encrypted with RSA-OAEP, as Shibboleth, AD FS and pysaml2 send it."""
    wrapper = etree.Element(_q(SAML, "EncryptedAssertion"), nsmap={"saml": SAML})
    assertion = etree.fromstring(etree.tostring(assertion))  # its own document: the plaintext declares its namespaces
    data = xmlsec.template.encrypted_data_create(wrapper, _CONTENT[content], type=xmlsec.constants.TypeEncElement,
                                                 ns="xenc")
    xmlsec.template.encrypted_data_ensure_cipher_value(data)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(data, ns="dsig")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, _TRANSPORT[transport])
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    if names != "none":
        named = xmlsec.template.encrypted_data_ensure_key_info(encrypted_key, ns="dsig")
        if names == "keyname":
            xmlsec.template.add_key_name(named, "crm-sp-key")
        else:
            body = "".join(line for line in certificate_pem.splitlines() if "-----" not in line)
            x509_data = etree.SubElement(named, _q(DS, "X509Data"))
            etree.SubElement(x509_data, _q(DS, "X509Certificate")).text = body
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(certificate_pem.encode(), xmlsec.KeyFormat.CERT_PEM, None))
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, _SESSION_KEY[content],
                                      xmlsec.constants.KeyDataTypeSession)
    wrapper.append(context.encrypt_xml(data, assertion))
    wrapper = etree.fromstring(etree.tostring(wrapper))
    if key_beside:  # Shibboleth's form: the EncryptedKey follows the EncryptedData, pointed at by RetrievalMethod
        data_node = wrapper.find(_q(XENC, "EncryptedData"))
        moved = data_node.find(f"{_q(DS, 'KeyInfo')}/{_q(XENC, 'EncryptedKey')}")
        moved.getparent().remove(moved)
        wrapper.append(moved)
    return wrapper


def build_response(spec: Spec, assertion: etree._Element | None = None) -> etree._Element:
    """The samlp:Response with the (signed) assertion inside."""
    issuer = spec.issuer or f"https://idp.example.com/{spec.slug}"
    response = etree.Element(_q(SAMLP, "Response"), nsmap=NSMAP, ID=f"_r{uuid.uuid4().hex}", Version="2.0",
                             IssueInstant=_instant(at=spec.at))
    destination = _pick(spec.destination, spec.acs)
    if destination is not None:
        response.set("Destination", destination)
    if spec.in_response_to is not None:
        response.set("InResponseTo", spec.in_response_to)
    etree.SubElement(response, _q(SAML, "Issuer")).text = issuer
    status = etree.SubElement(response, _q(SAMLP, "Status"))
    code = etree.SubElement(status, _q(SAMLP, "StatusCode"), Value=spec.status)
    if spec.status_detail:
        etree.SubElement(code, _q(SAMLP, "StatusCode"), Value=spec.status_detail)
    if spec.status_message:
        etree.SubElement(status, _q(SAMLP, "StatusMessage")).text = spec.status_message
    if assertion is None:
        assertion = build_assertion(spec)
        if spec.sign_assertion:
            assertion = sign(assertion, spec.key_name, spec.sha1)
        if spec.encrypt_for:
            assertion = encrypt(assertion, spec.encrypt_for, spec.content_encryption, spec.key_transport,
                                spec.encrypted_key_beside, spec.encrypted_key_names)
    response.append(assertion)
    return sign(response, spec.key_name, spec.sha1) if spec.sign_response else response


def to_xml(element: etree._Element) -> bytes:
    """Serialise without reformatting (a signature survives only byte-stable canonical content)."""
    return etree.tostring(element)


def encode(xml: bytes | str | etree._Element) -> str:
    """Base64 as an IdP posts it in SAMLResponse."""
    if isinstance(xml, etree._Element):
        xml = to_xml(xml)
    return base64.b64encode(xml if isinstance(xml, bytes) else xml.encode()).decode()


def sign_redirect(param: str, encoded: str, key_name: str = "test-idp", relay_state: str | None = None) -> str:
    """The query string of an HTTP-Redirect binding message signed as an IdP signs it (SigAlg RSA-SHA256 over
    `SAMLRequest=...&RelayState=...&SigAlg=...`, URL-encoded as sent)."""
    from urllib.parse import quote_plus

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    parts = [f"{param}={quote_plus(encoded)}"] + ([f"RelayState={quote_plus(relay_state)}"] if relay_state else [])
    signed = "&".join(parts + [f"SigAlg={quote_plus(xmlsec.constants.TransformRsaSha256.href)}"])
    key = serialization.load_pem_private_key(key_pair(key_name)[0].encode(), password=None)
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}&Signature={quote_plus(base64.b64encode(signature).decode())}"


def signed_response(spec: Spec) -> str:
    """A valid, signed, base64-encoded SAMLResponse."""
    return encode(build_response(spec))
