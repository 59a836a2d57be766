"""The assertion inspector: every check of the sign-in, one by one, with what was expected and received.

Unlike responses.validate_response, which stops at the first failure, this runs each check on its own so
an admin sees all that is wrong at once. It never signs anyone in and never records the assertion.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import xmlsec
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from crm.extensions import db
from crm.identity_providers.certificates import CertificateInvalid, certificate_from_der
from crm.identity_providers.models import IdentityProvider
from crm.provisioning.identity import SamlIdentity
from crm.sso.models import UsedAssertion
from crm.sso.prechecks import check_attribute_limits, check_signature_shape, decode
from crm.sso.rejections import SamlRejected
from crm.sso.responses import BEARER, CLOCK_SKEW, check_identifiers
from crm.sso.settings import sp_urls

NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol", "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
      "ds": "http://www.w3.org/2000/09/xmldsig#"}
DS = "{http://www.w3.org/2000/09/xmldsig#}"
RESPONSE_TAG = "{urn:oasis:names:tc:SAML:2.0:protocol}Response"
SHA1_ALGORITHMS = ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1")


@dataclass
class Check:
    """One check: passed (True/False) or not run (None), with expected/received details and a hint."""

    key: str
    label: str
    passed: bool | None
    detail: str = ""
    hint: str | None = None


@dataclass
class Report:
    """What the inspector found."""

    checks: list[Check] = field(default_factory=list)
    identity: SamlIdentity | None = None
    friendly_names: dict[str, str] = field(default_factory=dict)
    expired: bool = False
    assertion_id: str | None = None

    @property
    def ok(self) -> bool:
        """True when every check that ran passed."""
        return all(c.passed is not False for c in self.checks) and self.identity is not None

    @property
    def verdict(self) -> str:
        """The outcome in plain words."""
        failed = [c for c in self.checks if c.passed is False]
        if not failed:
            return "This response would sign the user in."
        if self.expired and all(c.key == "validity" for c in failed):
            return "This response is valid but expired: its contents and the dry run are shown as they were."
        return f"This response would be refused: {failed[0].label.lower()} failed" + (
            f" (and {len(failed) - 1} more check{'s' if len(failed) > 2 else ''})." if len(failed) > 1 else ".")

    def add(self, key: str, label: str, passed: bool | None, detail: str = "", hint: str | None = None) -> bool:
        self.checks.append(Check(key, label, passed, detail, hint))
        return bool(passed)


_DECODE_HINTS = {  # what to do about each refusal of prechecks.decode, for the admin reading the report
    "SAMLResponse is not base64": "Paste the SAMLResponse value exactly (URL-decoded, as the browser's network tab "
                                  "shows it in the form data).",
}


def _decode(saml_response: str, report: Report) -> etree._Element | None:
    """The same decoding the ACS does (prechecks.decode), reported as the first check."""
    try:
        xml, root = decode(saml_response)
    except SamlRejected as refused:
        report.add("encoding", "Size and encoding", False,
                   " ".join(filter(None, (refused.reason + ".", _DECODE_HINTS.get(refused.reason)))))
        return None
    report.add("encoding", "Size and encoding", True, f"{len(xml):,} bytes of XML.")
    return root


def _check_signature_form(root: etree._Element, report: Report) -> bool:
    """The signature-form rules the ACS applies before python3-saml (prechecks.check_signature_shape)."""
    try:
        for signature in root.iter(DS + "Signature"):
            check_signature_shape(signature)
    except SamlRejected as refused:
        report.add("transforms", "Signature transforms", False, refused.reason)
        return False
    report.add("transforms", "Signature transforms", True,
               "One Reference to its element; only enveloped-signature and exclusive c14n.")
    return True


def inspect_response(provider: IdentityProvider, saml_response: str, *, request_id: str | None = None,
                     now: datetime | None = None, recorded: bool = False) -> Report:
    """Run every check on a base64 SAMLResponse against the provider's configuration.

    `recorded`: a stored attempt, checked as at `now` (its receipt); its own use is not a replay.
    """
    report = Report()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    root = _decode(saml_response, report)
    if root is None:
        return report
    if not _check_signature_form(root, report):
        return report
    assertions = root.findall("saml:Assertion", NS)
    if root.tag != RESPONSE_TAG or len(assertions) != 1:
        report.add("structure", "One assertion in a Response", False,
                   f"Found {len(assertions)} assertion(s) in <{etree.QName(root).localname}>; exactly one is required."
                   + (" Encrypted assertions are not supported." if root.find(".//saml:EncryptedAssertion", NS)
                      is not None else ""))
        return report
    assertion = assertions[0]
    report.assertion_id = assertion.get("ID")
    _check_status(root, report)
    _check_signature(provider, root, assertion, report)
    _check_issuer(provider, root, assertion, report)
    _check_audience_recipient_destination(provider, root, assertion, report)
    _check_validity(assertion, now, report)
    _check_request(provider, root, assertion, request_id, report)
    if recorded:
        report.add("replay", "Replay", None, "Not checked again for a recorded attempt.")
    else:
        _check_replay(provider, assertion, report)
    _read_identity(provider, assertion, report)
    return report


def _text(node) -> str | None:
    return "".join(node.itertext()).strip() if node is not None else None


def _check_status(root, report: Report) -> None:
    code = root.find("samlp:Status/samlp:StatusCode", NS)
    value = code.get("Value") if code is not None else None
    ok = value == "urn:oasis:names:tc:SAML:2.0:status:Success"
    message = _text(root.find("samlp:Status/samlp:StatusMessage", NS))
    report.add("status", "Status", ok, f"{value}" + (f": {message}" if message else ""),
               None if ok else "The IdP did not authenticate the user; its own logs say why.")


def _check_signature(provider, root, assertion, report: Report) -> None:
    signature = assertion.find("ds:Signature", NS)
    if signature is None:
        report.add("signature", "Signature", False, "The assertion is not signed.",
                   "Set the IdP to sign the assertion (Entra: 'Sign SAML assertion'; AD FS: the default).")
        return
    algorithms = [n.get("Algorithm") for n in signature.iter(DS + "SignatureMethod", DS + "DigestMethod")]
    if any(a in SHA1_ALGORITHMS for a in algorithms):
        report.add("signature", "Signature", False, "Signed with SHA-1: " + ", ".join(map(str, algorithms)),
                   "SHA-1 is refused. Switch the IdP's signing algorithm to SHA-256.")
        return
    sent = _keyinfo_fingerprint(signature)
    for cert in provider.certificates:
        if _verifies(assertion, signature, cert.pem):
            report.add("signature", "Signature", True, f"Verified with the configured certificate {cert.subject} "
                       f"(SHA-256 {cert.fingerprint_sha256}).")
            return
    configured = "; ".join(c.fingerprint_sha256 for c in provider.certificates)
    report.add("signature", "Signature", False, "No configured certificate verifies this signature.",
               f"Wrong certificate? The response's KeyInfo carries {sent or '(no certificate)'}; configured: "
               f"{configured}. Download the IdP's current signing certificate and add it.")


def _keyinfo_fingerprint(signature) -> str | None:
    node = signature.find(".//ds:X509Certificate", NS)
    if node is None or not (node.text or "").strip():
        return None
    try:
        return certificate_from_der(base64.b64decode(re.sub(r"\s+", "", node.text))).fingerprint_sha256
    except (CertificateInvalid, ValueError, binascii.Error):
        return "(unreadable certificate)"


def _verifies(assertion, signature, pem: str) -> bool:
    try:
        copy = etree.fromstring(etree.tostring(assertion))
        xmlsec.tree.add_ids(copy, ["ID"])  # the Reference URI points at the assertion's ID
        return bool(OneLogin_Saml2_Utils.validate_node_sign(copy.find("ds:Signature", NS), copy, cert=pem))
    except Exception:  # any xmlsec error means: not verified with this certificate
        return False


def _check_issuer(provider, root, assertion, report: Report) -> None:
    issuers = {_text(root.find("saml:Issuer", NS)), _text(assertion.find("saml:Issuer", NS))} - {None}
    ok = issuers == {provider.entity_id}
    report.add("issuer", "Issuer", ok, f"Expected {provider.entity_id}; received {', '.join(sorted(issuers)) or '—'}.",
               None if ok else "Entity ID mismatch: copy the IdP's Entity ID (Issuer) from its metadata.")


def _check_audience_recipient_destination(provider, root, assertion, report: Report) -> None:
    urls = sp_urls(provider.slug)
    audiences = [_text(a) for a in assertion.iterfind("saml:Conditions/saml:AudienceRestriction/saml:Audience", NS)]
    ok = urls["entity_id"] in audiences
    report.add("audience", "Audience", ok, f"Expected {urls['entity_id']}; received {', '.join(audiences) or 'none'}.",
               None if ok else "The IdP's Identifier (Entity ID) for this app must be exactly the value under "
                               "'Values for the IdP admin'.")
    recipients = [d.get("Recipient") for d in _scd(assertion)]
    ok = urls["acs"] in recipients
    report.add("recipient", "Recipient", ok, f"Expected {urls['acs']}; received {', '.join(map(str, recipients))}.",
               None if ok else "ACS URL mismatch: the IdP's Reply URL must be exactly the ACS URL shown above "
                               "(check CRM_BASE_URL).")
    destination = root.get("Destination")
    ok = destination is None or destination == urls["acs"]
    report.add("destination", "Destination", ok, f"Expected {urls['acs']}; received {destination or '(none)'}.",
               None if ok else "ACS URL mismatch: the IdP's Reply URL must be exactly the ACS URL shown above.")


def _scd(assertion) -> list:
    confirmations = assertion.iterfind("saml:Subject/saml:SubjectConfirmation", NS)
    return [c.find("saml:SubjectConfirmationData", NS) for c in confirmations
            if c.get("Method") == BEARER and c.find("saml:SubjectConfirmationData", NS) is not None]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(OneLogin_Saml2_Utils.parse_SAML_to_time(value), UTC).replace(tzinfo=None)
    except Exception:
        return None


def _check_validity(assertion, now: datetime, report: Report) -> None:
    issued = _time(assertion.get("IssueInstant"))
    conditions = assertion.find("saml:Conditions", NS)
    not_before = _time(conditions.get("NotBefore")) if conditions is not None else None
    not_after = _time(conditions.get("NotOnOrAfter")) if conditions is not None else None
    scd_after = [_time(d.get("NotOnOrAfter")) for d in _scd(assertion)]
    problems = []
    if not_before and not_before - CLOCK_SKEW > now:
        problems.append(f"not valid before {not_before:%H:%M:%S} UTC")
    if not_after and not_after + CLOCK_SKEW <= now:
        problems.append(f"expired at {not_after:%H:%M:%S} UTC")
    if scd_after and all(t and t <= now for t in scd_after):
        problems.append(f"its subject confirmation ended at {max(t for t in scd_after if t):%H:%M:%S} UTC")
    skew = (now - issued).total_seconds() if issued else None
    detail = (f"Issued {issued:%Y-%m-%d %H:%M:%S} UTC, {abs(skew):.0f} s {'ago' if skew >= 0 else 'in the future'}; "
              if issued else "") + (", ".join(problems) or "within its validity window") + "."
    hint = None
    if skew is not None and abs(skew) > 120 and (problems or skew < 0):
        hint = (f"Clock skew: this server's clock and the IdP's differ by about {abs(skew) / 60:.0f} minutes. "
                "Sync both with NTP; 5 minutes are tolerated.")
    report.expired = bool(problems)
    if not_after is None and not any(scd_after):  # the ACS refuses it too (responses._latest_not_on_or_after)
        problems.append("it has no NotOnOrAfter: it would be valid for ever")
        detail = detail.rstrip(".") + "; it has no NotOnOrAfter, so it would be valid for ever."
    report.add("validity", "Validity window", not problems, detail, hint)


def _check_request(provider, root, assertion, request_id: str | None, report: Report) -> None:
    outer = root.get("InResponseTo")
    inner = {d.get("InResponseTo") for d in _scd(assertion)} - {None}
    if outer is None and not inner:
        ok = provider.allow_idp_initiated
        report.add("request", "Request", ok, "IdP-initiated (no InResponseTo).",
                   None if ok else "IdP-initiated sign-in is off for this provider: allow it, or start from the CRM.")
    elif request_id is None:
        report.add("request", "Request", None, f"Answers request {outer or ', '.join(inner)} (not checked: pasted).")
    else:
        ok = outer == request_id and inner == {request_id}
        report.add("request", "Request", ok, f"Expected {request_id}; received {outer or '—'}.")


def _check_replay(provider, assertion, report: Report) -> None:
    used = db.session.get(UsedAssertion, (provider.id, assertion.get("ID") or ""))
    report.add("replay", "Replay", used is None, "Not used before." if used is None else
               f"This assertion was already used at {used.used_at:%Y-%m-%d %H:%M:%S} UTC.")


def _read_identity(provider, assertion, report: Report) -> None:
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    attributes: dict[str, list[str]] = {}
    for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        name = attribute.get("Name") or ""
        if attribute.get("FriendlyName"):
            report.friendly_names[name] = attribute.get("FriendlyName")
        attributes.setdefault(name, []).extend(_text(v) or "" for v in attribute.iterfind("saml:AttributeValue", NS))
    try:  # the limits the ACS applies, by the same function
        check_attribute_limits(assertion)
        report.add("limits", "Limits", True,
                   f"{len(attributes)} attributes, {sum(len(v) for v in attributes.values())} values.")
    except SamlRejected as refused:
        report.add("limits", "Limits", False, refused.reason + ".")
    if name_id is None or not _text(name_id):
        report.add("name_id", "NameID", False, "The assertion has no NameID.")
        return
    report.identity = SamlIdentity(provider.slug, _text(name_id), name_id.get("Format"), None,
                                   {k: tuple(v) for k, v in attributes.items()}, assertion.get("ID"))
    try:
        check_identifiers(report.identity)
    except SamlRejected as refused:
        report.add("name_id", "NameID", False, refused.reason + ".")
