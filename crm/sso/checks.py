"""Every check a SAMLResponse must pass, as one list of named functions over one parsed response.

Two runners use the same list: the ACS runs it fail-fast (`validate`), the troubleshooting report runs every check
and shows each result (`inspect`). Nothing is written twice, so the report cannot drift from the sign-in.

The checks are python3-saml's strict-mode checks (its parser, schemas and signature verification, the same rules
as OneLogin_Saml2_Response.is_valid) plus those SAML-SECURITY.md leaves to the application, each on its own so an
admin sees every problem at once. The response is decoded and parsed once, with python3-saml's own hardened parser.
What a check takes and returns is in inspection.py; the signature check, the largest, in signatures.py.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from crm.identity_providers.models import MAX_CLOCK_SKEW as MAX_CLOCK_SKEW_SECONDS
from crm.provisioning.identity import SamlIdentity
from crm.sso import prechecks, schema_cache
from crm.sso.decryption import DecryptionFailed, DecryptionKey, decrypt_response
from crm.sso.inspection import Check, Finding, Inspection, fail, ok
from crm.sso.lookalikes import mixed_scripts
from crm.sso.rejections import SamlRejected
from crm.sso.signatures import check_signature
from crm.sso.xml import DS, SAML, SAMLP, element_text, parse_time

schema_cache.install()

# The most clock skew a provider may allow (its own setting is 0-300 s, checked here rather than by python3-saml,
# whose allowance is a fixed ALLOWED_CLOCK_DRIFT for the whole process): how long past its NotOnOrAfter an
# assertion id must still be remembered against replay.
MAX_CLOCK_SKEW = timedelta(seconds=MAX_CLOCK_SKEW_SECONDS)
MAX_NAME_ID = 250
MAX_ID = 256
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


# --- the checks, in the order the ACS runs them (cheap refusals of hostile input first) --------------------------

def check_encoding(ins: Inspection) -> Finding:
    """Size, base64 and XML, parsed once (no DTD, no entities, no comments)."""
    try:
        ins.xml = ins.xml or prechecks.decode_base64(ins.encoded)  # the ACS may have decoded it already
        ins.root = prechecks.parse(ins.xml)
    except SamlRejected as refused:
        hint = None
        if refused.reason == "SAMLResponse is not base64":
            hint = ("Paste the SAMLResponse value exactly (URL-decoded, as the browser's network tab shows it in "
                    "the form data).")
        return fail(refused.code, refused.reason, hint=hint)
    return ok(f"{len(ins.xml):,} bytes of XML.")


def check_decryption(ins: Inspection) -> Finding:
    """An EncryptedAssertion is opened with our keys (each published key in turn) before anything else reads the
    response; a provider that must encrypt has a plain assertion refused."""
    # Where an IdP puts it, a child of the Response: one look, no walk of the tree (one anywhere else is refused by
    # the structure check), so a plain sign-in costs what it did before.
    encrypted = ins.root.find(f"{SAML}EncryptedAssertion")
    if encrypted is None:
        if ins.config is not None and ins.config.want_encrypted:
            return fail("encryption", "the assertion is not encrypted, but this provider must encrypt its assertions",
                        hint="Set the IdP to encrypt the assertion with our encryption certificate (it is in our SP "
                             "metadata), or turn Require encrypted assertions off for this provider.")
        return ok("Not encrypted.")
    if len(list(ins.root.iter(f"{SAML}EncryptedAssertion"))) != 1:
        return fail("invalid", "the response must hold exactly one EncryptedAssertion, directly in the Response")
    if next(ins.root.iter(f"{SAML}Assertion"), None) is not None:
        return fail("invalid", "the response holds an encrypted and a plain assertion; exactly one is required")
    from crm.sso.sp_keys import SpKeyError

    try:
        keys = (ins.decryption_keys or _held_keys)()
    except SpKeyError as error:  # SECRET_KEY changed since our keys were made
        return fail("encryption", str(error), hint="Restore the SECRET_KEY the keys were made with, or rotate and "
                                                   "retire them (`sso sp-key rotate`, `sso sp-key retire KEY_ID`).")
    try:
        opened = decrypt_response(ins.root, ins.xml, keys)
    except DecryptionFailed as failed:
        return _decryption_failure(failed, keys)
    ins.received_root = ins.root
    ins.xml, ins.root, ins.decrypted_with = opened.xml, opened.root, opened.fingerprint
    return ok(f"Encrypted; opened with our key {opened.fingerprint}.")


def _held_keys() -> Sequence[DecryptionKey]:
    from crm.sso.sp_keys import decryption_keys

    return decryption_keys()


def _decryption_failure(failed: DecryptionFailed, keys: Sequence[DecryptionKey]) -> Finding:
    """The report's words for the key problems: no key of ours at all, or a key we no longer (or never) held."""
    if failed.no_key:
        return fail("encryption", str(failed), "The assertion is encrypted, but this console holds no key of its own.",
                    "The IdP encrypts with a certificate that is not ours: give it our SP metadata (a key is made "
                    "when the metadata is first fetched), or turn its assertion encryption off.")
    if failed.encrypted_for is None or any(k.fingerprint == failed.encrypted_for for k in keys):
        return fail("encryption", str(failed))
    held = ", ".join(k.fingerprint for k in keys)
    return fail("encryption", f"the assertion is encrypted for a key we do not hold ({failed.encrypted_for})",
                f"The assertion is encrypted for the key {failed.encrypted_for}, which we do not hold; our published "
                f"keys: {held}.",
                "The IdP has old metadata of ours (from before a key rollover, or another console's): give it our "
                "current SP metadata, or let it fetch it from its URL.")


def check_signature_form(ins: Inspection) -> Finding:
    """At least one signature, and each of the plain enveloped SAML form (libxmlsec runs whatever it is given)."""
    signatures = list(ins.root.iter(f"{DS}Signature"))
    if not signatures:
        return fail("signature", "the response carries no signature at all",
                    hint="Set the IdP to sign the assertion (Entra: 'Sign SAML assertion'; AD FS: the default).")
    try:
        for signature in signatures:
            prechecks.check_signature_shape(signature)
    except SamlRejected as refused:
        return fail(refused.code, refused.reason)
    return ok("One Reference to its element; only enveloped-signature and exclusive c14n.")


def check_limits(ins: Inspection) -> Finding:
    """How many attributes and values, and how long, before any costly work."""
    try:
        attributes, values = prechecks.check_attribute_limits(ins.root)
    except SamlRejected as refused:
        return fail(refused.code, refused.reason)
    return ok(f"{attributes} attributes, {values} values.")


def check_structure(ins: Inspection) -> Finding:
    """A SAML 2.0 Response that matches the protocol schema, with exactly one plain Assertion holding one
    Conditions and one AuthnStatement (so no other copy can be read instead of the signed one)."""
    root = ins.root
    if root.tag != f"{SAMLP}Response" or root.get("Version") != "2.0" or not root.get("ID"):
        return fail("invalid", f"<{root.tag.rsplit('}', 1)[-1]}> is not a SAML 2.0 Response with an ID")
    if OneLogin_Saml2_XML.validate_xml(root, "saml-schema-protocol-2.0.xsd") == "invalid_xml":
        return fail("invalid", "the response does not match saml-schema-protocol-2.0.xsd")
    assertions = list(root.iter(f"{SAML}Assertion"))
    encrypted = next(root.iter(f"{SAML}EncryptedAssertion"), None) is not None
    if len(assertions) != 1 or assertions[0].getparent() is not root or encrypted:
        return fail("invalid", f"found {len(assertions)} assertion(s) in the response; exactly one is required"
                    + (". Encrypted assertions are not supported" if encrypted else ""))
    ins.assertion = assertion = assertions[0]
    if len(assertion.findall(f"{SAML}Conditions")) != 1 or len(assertion.findall(f"{SAML}AuthnStatement")) != 1:
        return fail("invalid", "the assertion must hold one Conditions and one AuthnStatement")
    if next(assertion.iter(f"{SAML}EncryptedAttribute"), None) is not None:
        return fail("invalid", "encrypted attributes are not supported")
    return ok()


def check_status(ins: Inspection) -> Finding:
    """The IdP says it authenticated the user."""
    code = ins.root.find(f"{SAMLP}Status/{SAMLP}StatusCode")
    if code is None:  # (this runs before the schema check, which would say the same less plainly)
        return fail("invalid", "the response has no Status/StatusCode")
    value = code.get("Value")
    message = element_text(ins.root.find(f"{SAMLP}Status/{SAMLP}StatusMessage"))
    detail = f"{value}" + (f": {message}" if message else "")
    if value != SUCCESS:
        nested = [c.get("Value") for c in ins.root.iterfind(f"{SAMLP}Status/{SAMLP}StatusCode/{SAMLP}StatusCode")]
        detail += "".join(f" ({n})" for n in nested if n)
        if ins.config is not None and not ins.config.sign_requests and _refused_unsigned(value, nested, message):
            return fail("status", f"status {detail}: the IdP refused our unsigned AuthnRequest", detail,
                        "The IdP wants signed authentication requests: turn on Sign authentication requests for this "
                        f"provider (`sso set {ins.config.slug} --sign-requests on`) and make sure it has our current "
                        "SP metadata (our signing certificate is in it).")
        return fail("status", f"status {detail}", detail,
                    "The IdP did not authenticate the user; its own logs say why.")
    return ok(detail)


REQUEST_REFUSED = ("status:RequestDenied", "status:RequestUnsupported", "status:Requester")
FAILED_STATUSES = ("status:Requester", "status:Responder")
SIGNING_WORDS = re.compile(r"\b(?:not signed|unsigned|signature|signed correctly|security requirements)\b")


def _refused_unsigned(value: str | None, nested: list[str | None], message: str | None) -> bool:
    """A status that says the IdP would not take our request, and words about its signature: what Shibboleth, AD FS
    and Keycloak answer an unsigned AuthnRequest when they want it signed; or, whatever the codes, a message that our
    request was not signed (pysaml2 answers Responder/AuthnFailed "Request was not signed correctly")."""
    codes = [c for c in (value, *nested) if c]
    refused = any(c.endswith(suffix) for c in codes for suffix in REQUEST_REFUSED)
    words = (message or "").lower()
    about_signing = SIGNING_WORDS.search(words) is not None  # whole words: "assigned", "sign-in" are not about it
    if about_signing and re.search(r"\brequest\b", words) and value and value.endswith(FAILED_STATUSES):
        return True
    return refused and (about_signing or any(c.endswith("status:RequestDenied") for c in nested))


def check_issuer(ins: Inspection) -> Finding:
    """The response's and the assertion's Issuer are the provider's Entity ID."""
    outer = ins.root.findall(f"{SAML}Issuer")
    inner = ins.assertion.findall(f"{SAML}Issuer")
    issuers = sorted({element_text(i) for i in outer + inner} - {None})
    expected = ins.config.entity_id
    detail = f"Expected {expected}; received {', '.join(issuers) or '—'}."
    if len(outer) > 1 or len(inner) != 1 or issuers != [expected]:
        return fail("issuer", f"issuer {issuers or 'missing'} is not {expected}", detail,
                    "Entity ID mismatch: copy the IdP's Entity ID (Issuer) from its metadata.")
    return ok(detail)


def check_audience(ins: Inspection) -> Finding:
    """The assertion names this SP among its audiences (an assertion without any is refused too)."""
    audiences = [element_text(a) for a in
                 ins.assertion.iterfind(f"{SAML}Conditions/{SAML}AudienceRestriction/{SAML}Audience")]
    detail = f"Expected {ins.entity_id}; received {', '.join(map(str, audiences)) or 'none'}."
    if ins.entity_id not in audiences:
        return fail("audience", f"AudienceRestriction {audiences or 'missing'} does not name this SP "
                                f"({ins.entity_id})", detail,
                    "The IdP's Identifier (Entity ID) for this app must be exactly the value under 'Values for the "
                    "IdP admin'.")
    return ok(detail)


def check_recipient(ins: Inspection) -> Finding:
    """A bearer confirmation names exactly this ACS URL."""
    recipients = [d.get("Recipient") for d in ins.bearer_data()]
    detail = f"Expected {ins.acs_url}; received {', '.join(map(str, recipients)) or 'none'}."
    if ins.acs_url not in recipients:
        return fail("recipient", f"Recipient {recipients} is not exactly the ACS URL {ins.acs_url}", detail,
                    "ACS URL mismatch: the IdP's Reply URL must be exactly the ACS URL shown above "
                    "(check CRM_BASE_URL).")
    return ok(detail)


def check_destination(ins: Inspection) -> Finding:
    """The response's Destination, when it has one, is exactly this ACS URL."""
    destination = ins.root.get("Destination")
    detail = f"Expected {ins.acs_url}; received {'(none)' if destination is None else destination or '(empty)'}."
    if destination is not None and destination != ins.acs_url:
        return fail("recipient", f"Destination {destination!r} is not the ACS URL {ins.acs_url}", detail,
                    "ACS URL mismatch: the IdP's Reply URL must be exactly the ACS URL shown above.")
    return ok(detail)


def check_validity(ins: Inspection) -> Finding:
    """Conditions and a bearer confirmation within their windows, give or take the provider's clock skew (0-300 s,
    not python3-saml's fixed 300 s), the IdP's session still current as sent (SessionNotOnOrAfter gets no
    allowance), and a NotOnOrAfter at all (else the assertion would be valid for ever)."""
    now, skew = ins.now, ins.config.clock_skew
    conditions = ins.assertion.find(f"{SAML}Conditions")
    not_before, not_after = parse_time(conditions.get("NotBefore")), parse_time(conditions.get("NotOnOrAfter"))
    confirmations = [(parse_time(d.get("NotBefore")), parse_time(d.get("NotOnOrAfter"))) for d in ins.bearer_data()]
    session = ins.assertion.find(f"{SAML}AuthnStatement")
    ins.session_ends = session_end = parse_time(session.get("SessionNotOnOrAfter"))
    problems = []
    if not_before and not_before - skew > now:
        problems.append(f"not valid before {not_before:%H:%M:%S} UTC")
    if not_after and not_after + skew <= now:
        problems.append(f"expired at {not_after:%H:%M:%S} UTC")
    if not any((nb is None or nb - skew <= now) and (na is None or na + skew > now) for nb, na in confirmations):
        problems.append(_confirmation_problem(confirmations, now, skew) if confirmations
                        else "it has no current bearer subject confirmation")
    if session_end and session_end <= now:
        problems.append(f"its session ended at {session_end:%H:%M:%S} UTC")
    ins.expired = bool(problems)
    ends = [t for t in (not_after, *(na for _, na in confirmations)) if t]
    ins.not_on_or_after = max(ends) if ends else None
    detail, hint = _validity_words(ins, problems, skew)
    if not ends:
        return fail("invalid", "the assertion has no NotOnOrAfter: it would be valid for ever",
                    detail.rstrip(".") + "; it has no NotOnOrAfter, so it would be valid for ever.", hint)
    if problems:
        return fail("expired", "; ".join(problems) + f"; server time {now:%H:%M:%S} UTC, clock skew allowed "
                                                     f"{skew.total_seconds():.0f} s", detail, hint)
    return ok(detail)


def _confirmation_problem(confirmations: list, now: datetime, skew: timedelta) -> str:
    """Why no bearer confirmation is current: it starts later, or the last one ended."""
    starts = [nb for nb, _ in confirmations if nb and nb - skew > now]
    if starts and len(starts) == len(confirmations):
        return f"its subject confirmation is not valid before {min(starts):%H:%M:%S} UTC"
    ended = [na for _, na in confirmations if na]
    return f"its subject confirmation ended at {max(ended):%H:%M:%S} UTC" if ended \
        else "it has no current bearer subject confirmation"


def _validity_words(ins: Inspection, problems: list[str], skew: timedelta) -> tuple[str, str | None]:
    """The report's detail (issue time, the server's time, the skew allowed, what is wrong) and, when the clocks
    look apart, the hint that names the clock skew."""
    now = ins.now
    issued = parse_time(ins.assertion.get("IssueInstant"))
    off = (now - issued).total_seconds() if issued else None
    allowed = skew.total_seconds()
    detail = ((f"Issued {issued:%Y-%m-%d %H:%M:%S} UTC, {abs(off):.0f} s {'ago' if off >= 0 else 'in the future'}; "
               if issued else "") + f"this server's time {now:%Y-%m-%d %H:%M:%S} UTC, clock skew allowed "
              f"{allowed:.0f} s; " + (", ".join(problems) or "within its validity window") + ".")
    hint = None
    if problems and off is not None and (abs(off) > allowed or off < 0):
        apart = f"about {abs(off) / 60:.0f} minutes" if abs(off) >= 90 else f"{abs(off):.0f} s"
        hint = (f"Clock skew: this server's clock ({now:%H:%M:%S} UTC) and the IdP's differ by {apart}; this "
                f"provider allows {allowed:.0f} s. Sync both with NTP, or raise the provider's clock skew (at most "
                f"{MAX_CLOCK_SKEW.total_seconds():.0f} s).")
    return detail, hint


def check_request(ins: Inspection) -> Finding:
    """SP-initiated: both InResponseTo values are this browser's request. Else IdP-initiated, where allowed."""
    outer = ins.root.get("InResponseTo")
    inner = {d.get("InResponseTo") for d in ins.bearer_data()} - {None}
    if outer is None and not inner:
        ins.idp_initiated = True
        if not ins.config.allow_idp_initiated:
            return fail("unsolicited", "unsolicited response (no InResponseTo) and IdP-initiated sign-in is not "
                                       "allowed for this provider", "IdP-initiated (no InResponseTo).",
                        "IdP-initiated sign-in is off for this provider: allow it, or start from the CRM.")
        return ok("IdP-initiated (no InResponseTo).")
    if not ins.request_known:
        return Finding(None, f"Answers request {outer or ', '.join(sorted(inner))} (not checked: pasted).")
    detail = f"Expected {ins.request_id or '(no sign-in started in this browser)'}; received {outer or '—'}."
    if not ins.request_id:
        return fail("unsolicited", f"InResponseTo {outer or sorted(inner)} but no sign-in was started in this "
                                   "session", detail)
    if outer != ins.request_id or inner != {ins.request_id}:
        return fail("unsolicited", f"InResponseTo (response {outer}, assertion {sorted(inner)}) does not match the "
                                   f"request {ins.request_id}", detail)
    return ok(detail)


def check_reauthentication(ins: Inspection) -> Finding:
    """With ForceAuthn, the IdP authenticated the user after our request was sent (its AuthnInstant, give or take
    the clock skew): ForceAuthn is only a request, and an IdP that ignored it would hand back its old session."""
    if not ins.config.force_authn:
        return ok("ForceAuthn is off for this provider.")
    if ins.idp_initiated:
        return ok("IdP-initiated: no AuthnRequest asked for ForceAuthn.")
    if ins.request_sent_at is None:
        return Finding(None, "Not checked: when the request was sent is not known here.")
    authn = parse_time(ins.assertion.find(f"{SAML}AuthnStatement").get("AuthnInstant"))
    sent, skew = ins.request_sent_at, ins.config.clock_skew
    detail = (f"Request sent {sent:%H:%M:%S} UTC; the IdP authenticated the user "
              + (f"at {authn:%H:%M:%S} UTC." if authn else "at no stated time."))
    if authn is None or authn + skew < sent:
        return fail("reauthentication", f"ForceAuthn was asked at {sent:%H:%M:%S} UTC but the IdP authenticated the "
                                        f"user at {f'{authn:%H:%M:%S} UTC' if authn else 'no stated time'} "
                    f"(clock skew allowed {skew.total_seconds():.0f} s)", detail,
                    "The IdP reused its session instead of asking the user to sign in again. Let the IdP honour "
                    "ForceAuthn, or turn Force re-authentication off for this provider.")
    return ok(detail)


def check_name_id(ins: Inspection) -> Finding:
    """A NameID of plain characters within the limits, an assertion ID, and the attributes, read as the identity
    that provisioning is handed."""
    name_id = ins.assertion.find(f"{SAML}Subject/{SAML}NameID")
    value = element_text(name_id)
    if not value:
        return fail("invalid", "the assertion has no NameID" if name_id is None else "the NameID is empty")
    qualifier = name_id.get("SPNameQualifier")
    if qualifier and qualifier != ins.entity_id:
        return fail("invalid", f"SPNameQualifier {qualifier} is not this SP's Entity ID")
    attributes: dict[str, list[str]] = {}
    for attribute in ins.assertion.iterfind(f"{SAML}AttributeStatement/{SAML}Attribute"):
        name = attribute.get("Name")
        if not name:
            continue
        if name in attributes:
            return fail("invalid", f"the attribute {name[:100]} is sent twice")
        if attribute.get("FriendlyName"):
            ins.friendly_names[name] = attribute.get("FriendlyName")
        attributes[name] = [v.strip() for v in map(element_text, attribute.iterfind(f"{SAML}AttributeValue"))
                            if v and v.strip()]
    statement = ins.assertion.find(f"{SAML}AuthnStatement")
    ins.identity = SamlIdentity(ins.config.slug, value, name_id.get("Format"), statement.get("SessionIndex"),
                                attributes, ins.assertion.get("ID"))
    return _identifiers(ins.identity)


def _identifiers(identity: SamlIdentity) -> Finding:
    """NameID, assertion id and session index bounded; a NameID that NFKC would change (KELVIN SIGN, full-width
    letters, ligatures), that holds Unicode spaces, controls or format characters, or that mixes scripts in one part
    (lookalikes.py) could pass for someone else's username: it is refused."""
    name_id = identity.name_id
    if not name_id:
        return fail("invalid", "the NameID is empty")
    if len(name_id) > MAX_NAME_ID:
        return fail("limits", f"NameID is longer than {MAX_NAME_ID} characters")
    odd = [c for c in name_id if unicodedata.category(c)[0] in "ZC" and c != " "]
    if odd or unicodedata.normalize("NFKC", name_id) != name_id:
        return fail("invalid", f"NameID {name_id!r} holds look-alike, space or control characters")
    if mixed := mixed_scripts(name_id):
        part, scripts = mixed
        return fail("look_alike", f"NameID {name_id!r} mixes {' and '.join(scripts)} letters in {part!r}, as a "
                                  "look-alike of another name does (a Cyrillic 'а' among Latin letters)",
                    hint="Each part of a NameID (between '@' and '.') must be written in one script.")
    if not identity.assertion_id:
        return fail("invalid", "the assertion has no ID")
    for label, value in (("assertion ID", identity.assertion_id), ("SessionIndex", identity.session_index),
                         ("NameID format", identity.name_id_format)):
        if value and len(value) > MAX_ID:
            return fail("limits", f"{label} is longer than {MAX_ID} characters")
    return ok(f"{name_id} ({identity.name_id_format or 'no format'}).")


def check_replay(ins: Inspection) -> Finding:
    """The assertion was not used before. The ACS does not look: recording it with the sign-in refuses a second
    use by the database's unique key, on every worker and server."""
    if ins.replay_lookup is None:
        return Finding(None, "Not checked here: the sign-in records the assertion, and the database refuses a "
                             "second use.")
    used_at = ins.replay_lookup(ins.assertion.get("ID") or "")
    if used_at is not None:
        return fail("replay", f"assertion {ins.assertion.get('ID')} was already used",
                    f"This assertion was already used at {used_at:%Y-%m-%d %H:%M:%S} UTC.")
    return ok("Not used before.")


CHECKS: tuple[Check, ...] = (
    Check("encoding", "Size and encoding", check_encoding, gate=True),
    # Before anything else reads it: an IdP's refusal (an error Response, unsigned and without an assertion, as
    # pysaml2 and others send it) is named as the IdP's answer, not as a missing signature or assertion; nothing after
    # it matters then (no response but a Success signs anyone in).
    Check("status", "Status", check_status, gate=True),
    Check("decryption", "Encryption", check_decryption, gate=True, quiet=True),
    Check("transforms", "Signature form", check_signature_form, gate=True),
    Check("limits", "Limits", check_limits),
    Check("structure", "One assertion in a Response", check_structure, gate=True, quiet=True),
    Check("signature", "Signature", check_signature),
    Check("issuer", "Issuer", check_issuer),
    Check("audience", "Audience", check_audience),
    Check("recipient", "Recipient", check_recipient),
    Check("destination", "Destination", check_destination),
    Check("validity", "Validity window", check_validity),
    Check("request", "Request", check_request),
    Check("reauthentication", "Re-authentication (ForceAuthn)", check_reauthentication, quiet=True),
    Check("name_id", "NameID", check_name_id, quiet=True),
    Check("replay", "Replay", check_replay),
)


# --- the two runners -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ValidatedResponse:
    """A response that passed every check: who signed in, how the sign-in was started, and until when its
    assertion id must be remembered."""

    identity: SamlIdentity
    idp_initiated: bool
    not_on_or_after: datetime
    session_ends: datetime | None = None  # SessionNotOnOrAfter: the session here ends then at the latest


def validate(ins: Inspection, checks: tuple[Check, ...] | None = None) -> ValidatedResponse:
    """The ACS's runner: every check in turn, the first failure raises SamlRejected with its code and reason."""
    for check in checks or CHECKS:
        try:
            finding = check.run(ins)
        except Exception as error:  # lxml, xmlsec or a library helper choking on a hostile document
            raise SamlRejected("malformed", f"{check.key}: {type(error).__name__}: {error}") from None
        if finding.passed is False:  # what the encoding check refuses never parsed: not worth an audit event
            raise SamlRejected(finding.code, finding.reason or finding.detail, unread=check.key == "encoding")
    return ValidatedResponse(ins.identity, ins.idp_initiated, ins.not_on_or_after, ins.session_ends)


@dataclass(frozen=True)
class Result:
    """One check's result as the report shows it."""

    key: str
    label: str
    passed: bool | None
    detail: str
    hint: str | None


def inspect(ins: Inspection, checks: tuple[Check, ...] | None = None) -> list[Result]:
    """The report's runner: every check, each result kept; it stops only after a failed gate."""
    results = []
    for check in checks or CHECKS:
        try:
            finding = check.run(ins)
        except Exception as error:
            finding = fail("malformed", f"{type(error).__name__}: {error}")
        if finding.passed is not True or not check.quiet:
            results.append(Result(check.key, check.label, finding.passed, finding.detail, finding.hint))
        if check.gate and finding.passed is False:
            break
    return results
