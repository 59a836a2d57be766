"""Single logout at /sso/<slug>/sls (HTTP-Redirect binding): the IdP's LogoutRequest, which ends this browser's
session when it names it, and the IdP's LogoutResponse to the request our logout sent.

Before python3-saml sees a message: the encoded message and its inflated XML are capped (a few hundred bytes of
deflate can inflate to gigabytes, so inflating stops at the cap), the XML is parsed with python3-saml's hardened
parser, and its Issuer must be the provider's entity ID (python3-saml checks the Issuer only when there is one).
python3-saml then verifies the signature against the provider's certificates whenever one comes, and requires one
when the provider signs its logout messages (IdentityProvider.logout_signed: wantMessagesSigned), checks the
schema, NotOnOrAfter and Destination (here: equal to our SLS URL, not merely starting with it).

Unsigned logout messages are common, so a LogoutRequest ends this browser's session only when it names the NameID
and the SessionIndex this session signed in with; one without a SessionIndex is refused when the session has one.
"""
from __future__ import annotations

import base64
import binascii
import zlib

from flask import request
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response

from crm.identity_providers.config import ProviderConfig
from crm.search_keys import fold
from crm.sso import browser, prechecks
from crm.sso.rejections import SamlRejected
from crm.sso.request_data import saml_request_data
from crm.sso.settings import RSA_SHA256, cached_settings, sp_urls
from crm.sso.xml import SAML, SAMLP, element_text

MAX_ENCODED_CHARS = 16 * 1024  # a LogoutRequest is 1-2 KB of XML, a few hundred characters deflated
MAX_XML_BYTES = 32 * 1024  # inflated
_WHITESPACE = b" \t\n\r"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


def answer(config: ProviderConfig) -> str | None:
    """Process the message this request carries; the URL to send the browser to next (None: the login page).
    SamlRejected when it is refused (`unread` when it never parsed)."""
    if request.args.get("SAMLRequest"):
        return _logout_request(config, request.args["SAMLRequest"])
    if request.args.get("SAMLResponse"):
        return _logout_response(config, request.args["SAMLResponse"])
    raise SamlRejected("malformed", "single logout: no SAMLRequest or SAMLResponse", unread=True)


def inflate(encoded: str) -> bytes:
    """The message's XML: base64, then raw deflate (or, as python3-saml allows, not deflated), capped before and
    while inflating (SamlRejected, unread)."""
    if len(encoded) > MAX_ENCODED_CHARS:
        raise SamlRejected("too_large", f"logout message is {len(encoded)} characters (limit {MAX_ENCODED_CHARS})",
                           unread=True)
    try:
        deflated = base64.b64decode(encoded.encode("ascii").translate(None, _WHITESPACE), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SamlRejected("malformed", "logout message is not base64", unread=True) from None
    inflater = zlib.decompressobj(-15)
    try:
        xml = inflater.decompress(deflated, MAX_XML_BYTES + 1)
    except zlib.error:
        return _capped(deflated)  # not deflated: python3-saml reads the plain XML too
    if len(xml) > MAX_XML_BYTES or inflater.unconsumed_tail:
        raise SamlRejected("too_large", f"logout message inflates to more than {MAX_XML_BYTES} bytes", unread=True)
    return xml


def _capped(xml: bytes) -> bytes:
    if len(xml) > MAX_XML_BYTES:
        raise SamlRejected("too_large", f"logout message is over {MAX_XML_BYTES} bytes", unread=True)
    return xml


def _read(config: ProviderConfig, encoded: str, tag: str):
    """The parsed message, checked to be a `tag` issued by the provider (SamlRejected)."""
    try:
        root = prechecks.parse(inflate(encoded))
    except SamlRejected as refused:
        raise SamlRejected(refused.code, f"single logout: {refused.reason}", unread=True) from None
    if root.tag != f"{SAMLP}{tag}":
        raise SamlRejected("malformed", f"single logout: a {root.tag.rsplit('}', 1)[-1][:60]} where a {tag} belongs")
    issuer = element_text(root.find(f"{SAML}Issuer"))
    if (issuer or "").strip() != config.entity_id:
        raise SamlRejected("issuer", f"{tag} issuer {(issuer or '(none)')[:200]!r} is not {config.entity_id}")
    destination = root.get("Destination")
    if destination is not None and destination != sp_urls(config.slug)["sls"]:
        raise SamlRejected("recipient", f"{tag} Destination {destination[:200]!r} is not this SP's logout URL")
    return root


def _auth(config: ProviderConfig) -> tuple[OneLogin_Saml2_Auth, dict]:
    """python3-saml's view of this request, and the request dict its validators want."""
    data = saml_request_data() | {"query_string": request.query_string.decode("latin-1"),
                                  "validate_signature_from_qs": True}  # the IdP's own encoding is what it signed
    return OneLogin_Saml2_Auth(data, cached_settings(config)), data


def _verified(config: ProviderConfig, encoded: str, kind: str):
    """A LogoutRequest or LogoutResponse read within its caps, its signature checked (a signed one always; an
    unsigned one refused when the provider signs) and the library's checks passed: (root, auth, message)."""
    root = _read(config, encoded, kind)
    auth, data = _auth(config)
    request_kind = kind == "LogoutRequest"
    signed = (auth.validate_request_signature if request_kind else auth.validate_response_signature)(data["get_data"])
    if not signed:
        raise SamlRejected("signature", f"{kind} signature: {auth.get_last_error_reason()}")
    message = (OneLogin_Saml2_Logout_Request if request_kind else OneLogin_Saml2_Logout_Response)(
        auth.get_settings(), encoded)
    if not message.is_valid(data):
        raise SamlRejected("invalid", f"{kind}: {message.get_error()}")
    return root, auth, message


def _logout_request(config: ProviderConfig, encoded: str) -> str | None:
    """An IdP-initiated logout: verified, then this browser's session ended if the request names it; the
    LogoutResponse goes to the provider's SLO URL, or, without one, the browser to the login page."""
    root, auth, message = _verified(config, encoded, "LogoutRequest")
    indexes = [i.text for i in root.iterfind(f"{SAMLP}SessionIndex") if i.text]
    name_id = element_text(root.find(f"{SAML}NameID"))
    ours = browser.sso_session_of(config.slug)
    if ours and ours.get("session_index") and not indexes:
        raise SamlRejected("invalid", "LogoutRequest without a SessionIndex, though this session has one")
    if ours and fold(name_id) == fold(ours.get("name_id")) and (
            not ours.get("session_index") or ours["session_index"] in indexes):
        browser.end_session()
    if not config.slo_url:
        return None
    reply = OneLogin_Saml2_Logout_Response(auth.get_settings())
    reply.build(message.id)
    parameters = {"SAMLResponse": reply.get_response()}
    if request.args.get("RelayState"):
        parameters["RelayState"] = request.args["RelayState"]
    if config.sign_requests:  # the provider wants our messages signed: the response too (SigAlg, Signature)
        auth.add_response_signature(parameters, RSA_SHA256)
    return auth.redirect_to(config.slo_url, parameters)


def _logout_response(config: ProviderConfig, encoded: str) -> None:
    """The IdP's answer to our LogoutRequest: our session ended before we sent it, so a valid one only lands on the
    login page."""
    _, _, message = _verified(config, encoded, "LogoutResponse")
    if message.get_status() != SUCCESS:
        raise SamlRejected("status", f"LogoutResponse status {message.get_status()}")
    return None
