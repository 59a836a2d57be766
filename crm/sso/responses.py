"""Validating a SAMLResponse: pre-checks, python3-saml in strict mode, then the checks it leaves to us.

The result is a frozen SamlIdentity for provisioning; nothing here touches users or contacts.
"""
from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from onelogin.saml2.errors import OneLogin_Saml2_ValidationError
from onelogin.saml2.response import OneLogin_Saml2_Response
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.provisioning.identity import SamlIdentity
from crm.sso import schema_cache
from crm.sso.models import UsedAssertion
from crm.sso.prechecks import MAX_ATTRIBUTES, MAX_VALUE_LENGTH, MAX_VALUES_PER_ATTRIBUTE, precheck
from crm.sso.rejections import SamlRejected
from crm.sso.settings import cached_settings, sp_urls
from crm.timeutil import utcnow

schema_cache.install()

BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
CLOCK_SKEW = timedelta(seconds=300)  # what python3-saml allows on Conditions; kept beyond NotOnOrAfter too
PURGE_EVERY = 100  # expired replay records are deleted on about one sign-in in a hundred

_ERROR_CODES = {
    OneLogin_Saml2_ValidationError.INVALID_SIGNATURE: "signature",
    OneLogin_Saml2_ValidationError.NO_SIGNATURE_FOUND: "signature",
    OneLogin_Saml2_ValidationError.NO_SIGNED_ASSERTION: "signature",
    OneLogin_Saml2_ValidationError.NO_SIGNED_MESSAGE: "signature",
    OneLogin_Saml2_ValidationError.WRONG_NUMBER_OF_SIGNATURES: "signature",
    OneLogin_Saml2_ValidationError.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: "signature",
    OneLogin_Saml2_ValidationError.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: "signature",
    OneLogin_Saml2_ValidationError.WRONG_SIGNED_ELEMENT: "signature",
    OneLogin_Saml2_ValidationError.ID_NOT_FOUND_IN_SIGNED_ELEMENT: "signature",
    OneLogin_Saml2_ValidationError.DUPLICATED_ID_IN_SIGNED_ELEMENTS: "signature",
    OneLogin_Saml2_ValidationError.INVALID_SIGNED_ELEMENT: "signature",
    OneLogin_Saml2_ValidationError.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: "signature",
    OneLogin_Saml2_ValidationError.DEPRECATED_SIGNATURE_METHOD: "deprecated_algorithm",
    OneLogin_Saml2_ValidationError.DEPRECATED_DIGEST_METHOD: "deprecated_algorithm",
    OneLogin_Saml2_ValidationError.ASSERTION_EXPIRED: "expired",
    OneLogin_Saml2_ValidationError.ASSERTION_TOO_EARLY: "expired",
    OneLogin_Saml2_ValidationError.SESSION_EXPIRED: "expired",
    OneLogin_Saml2_ValidationError.WRONG_SUBJECTCONFIRMATION: "expired",
    OneLogin_Saml2_ValidationError.WRONG_AUDIENCE: "audience",
    OneLogin_Saml2_ValidationError.WRONG_DESTINATION: "recipient",
    OneLogin_Saml2_ValidationError.EMPTY_DESTINATION: "recipient",
    OneLogin_Saml2_ValidationError.WRONG_ISSUER: "issuer",
    OneLogin_Saml2_ValidationError.STATUS_CODE_IS_NOT_SUCCESS: "status",
    OneLogin_Saml2_ValidationError.WRONG_INRESPONSETO: "unsolicited",
}


@dataclass(frozen=True)
class ValidatedResponse:
    """A response that passed every check: the identity, and how the sign-in was started."""

    identity: SamlIdentity
    idp_initiated: bool
    not_on_or_after: datetime  # the latest NotOnOrAfter: how long the assertion id must be remembered


def validate_response(provider: IdentityProvider, saml_response: str | None, request_data: dict,
                      pending_request_id: str | None) -> ValidatedResponse:
    """Run every check of SAML-SECURITY.md on a posted response; raise SamlRejected with the reason."""
    if not provider.enabled:
        raise SamlRejected("disabled", f"identity provider {provider.slug} is disabled", status=403)
    precheck(saml_response)
    try:
        response = OneLogin_Saml2_Response(cached_settings(provider), saml_response)
        in_response_to = response.get_in_response_to()
        response.is_valid(request_data, request_id=in_response_to and pending_request_id, raise_exceptions=True)
        confirmations = _subject_confirmation_data(response)  # read once: three checks below use it
        idp_initiated = _check_solicitation(provider, in_response_to, confirmations, pending_request_id)
        _check_audience_destination_recipient(response, confirmations, sp_urls(provider.slug))
        identity = SamlIdentity(idp_slug=provider.slug, name_id=response.get_nameid(),
                                name_id_format=response.get_nameid_format(),
                                session_index=response.get_session_index(),
                                attributes=_checked_attributes(response.get_attributes()),
                                assertion_id=response.get_assertion_id())
        check_identifiers(identity)
        not_on_or_after = _latest_not_on_or_after(response, confirmations)
    except SamlRejected:
        raise
    except OneLogin_Saml2_ValidationError as error:
        raise SamlRejected(_ERROR_CODES.get(error.code, "invalid"), f"python3-saml: {error}") from None
    except Exception as error:  # lxml, xmlsec, base64 and schema errors: a hostile or broken document
        raise SamlRejected("malformed", f"{type(error).__name__}: {error}") from None
    if not identity.assertion_id:
        raise SamlRejected("invalid", "the assertion has no ID")
    return ValidatedResponse(identity, idp_initiated, not_on_or_after)


MAX_NAME_ID = 250
MAX_ID = 256


def check_identifiers(identity: SamlIdentity) -> None:
    """NameID, assertion id and session index: bounded, and a NameID only of plain characters.

    A NameID that NFKC would change (KELVIN SIGN, full-width letters, ligatures) or that holds Unicode
    spaces, controls or format characters could fold onto someone else's username: it is refused.
    """
    name_id = identity.name_id
    if not name_id:
        raise SamlRejected("invalid", "the NameID is empty")
    if len(name_id) > MAX_NAME_ID:
        raise SamlRejected("limits", f"NameID is longer than {MAX_NAME_ID} characters")
    odd = [c for c in name_id if unicodedata.category(c)[0] in "ZC" and c != " "]
    if odd or unicodedata.normalize("NFKC", name_id) != name_id:
        raise SamlRejected("invalid", f"NameID {name_id!r} holds look-alike, space or control characters")
    for label, value in (("assertion ID", identity.assertion_id), ("SessionIndex", identity.session_index),
                         ("NameID format", identity.name_id_format)):
        if value and len(value) > MAX_ID:
            raise SamlRejected("limits", f"{label} is longer than {MAX_ID} characters")


def _latest_not_on_or_after(response: OneLogin_Saml2_Response, confirmations: list):
    """When the assertion stops being usable (Conditions or SubjectConfirmationData); one is required, so
    a replay record can be dropped once it has passed."""
    times = [_parse(c.get("NotOnOrAfter")) for c in response._query_assertion("/saml:Conditions")]
    times += [_parse(d.get("NotOnOrAfter")) for d in confirmations]
    times = [t for t in times if t is not None]
    if not times:
        raise SamlRejected("invalid", "the assertion has no NotOnOrAfter: it would be valid for ever")
    return max(times)


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    return datetime.fromtimestamp(OneLogin_Saml2_Utils.parse_SAML_to_time(value), UTC).replace(tzinfo=None)


def _subject_confirmation_data(response: OneLogin_Saml2_Response) -> list:
    # Read from the signed assertion the way python3-saml itself does (by the signature's Reference), so a
    # wrapped, unsigned copy can never supply these values (XSW).
    nodes = response._query_assertion("/saml:Subject/saml:SubjectConfirmation")
    found = [n.find("saml:SubjectConfirmationData", namespaces={"saml": "urn:oasis:names:tc:SAML:2.0:assertion"})
             for n in nodes if n.get("Method") == BEARER]
    return [d for d in found if d is not None]


def _check_solicitation(provider: IdentityProvider, outer: str | None, confirmations: list,
                        pending_request_id: str | None) -> bool:
    """SP-initiated: both InResponseTo values equal our request id. Else IdP-initiated, if the provider allows it."""
    inner = {scd.get("InResponseTo") for scd in confirmations}
    if outer is None and inner <= {None}:
        if not provider.allow_idp_initiated:
            raise SamlRejected("unsolicited", "unsolicited response (no InResponseTo) and IdP-initiated sign-in is "
                                              "not allowed for this provider")
        return True
    if not pending_request_id:
        raise SamlRejected("unsolicited", f"InResponseTo {outer or inner} but no sign-in was started in this session")
    if outer != pending_request_id or inner != {pending_request_id}:
        raise SamlRejected("unsolicited", f"InResponseTo (response {outer}, assertion {sorted(map(str, inner))}) "
                                          f"does not match the request {pending_request_id}")
    return False


def _check_audience_destination_recipient(response: OneLogin_Saml2_Response, confirmations: list,
                                          urls: dict[str, str]) -> None:
    audiences = response.get_audiences()
    if urls["entity_id"] not in audiences:
        raise SamlRejected("audience", f"AudienceRestriction {audiences or 'missing'} does not name this SP "
                                       f"({urls['entity_id']})")
    destination = response.document.get("Destination")
    if destination is not None and destination != urls["acs"]:
        raise SamlRejected("recipient", f"Destination {destination} is not the ACS URL {urls['acs']}")
    recipients = [scd.get("Recipient") for scd in confirmations]
    if urls["acs"] not in recipients:
        raise SamlRejected("recipient", f"Recipient {recipients} is not exactly the ACS URL {urls['acs']}")


def _checked_attributes(attributes: dict) -> dict[str, tuple[str, ...]]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise SamlRejected("limits", f"{len(attributes)} attributes (limit {MAX_ATTRIBUTES})")
    checked = {}
    for name, values in attributes.items():
        values = tuple("" if v is None else str(v) for v in values)
        if len(values) > MAX_VALUES_PER_ATTRIBUTE:
            raise SamlRejected("limits", f"attribute {name[:100]} has {len(values)} values "
                                         f"(limit {MAX_VALUES_PER_ATTRIBUTE})")
        if any(len(v) > MAX_VALUE_LENGTH for v in values) or len(name) > MAX_VALUE_LENGTH:
            raise SamlRejected("limits", f"attribute {name[:100]} has a value over {MAX_VALUE_LENGTH} characters")
        checked[name] = values
    return checked


def remember_assertion(provider_id: int, validated: ValidatedResponse) -> None:
    """Record the assertion id in the sign-in's transaction (flushed now): a second use, by any worker on any
    server, is refused by the primary key, and a refused replay rolls the whole sign-in back."""
    assertion_id = validated.identity.assertion_id
    expires = _naive(validated.not_on_or_after)
    try:  # a plain INSERT (no unit of work): the sign-in's first write, so a replay is refused before any other
        db.session.execute(insert(UsedAssertion.__table__).values(
            assertion_id=assertion_id, provider_id=provider_id, used_at=utcnow(),
            expires_at=max(expires + CLOCK_SKEW, utcnow() + CLOCK_SKEW)))
    except IntegrityError:
        db.session.rollback()
        raise SamlRejected("replay", f"assertion {assertion_id} was already used") from None
    if secrets.randbelow(PURGE_EVERY) == 0:
        # An assertion past its NotOnOrAfter (plus skew) is refused by the validity checks anyway.
        db.session.execute(delete(UsedAssertion).where(UsedAssertion.provider_id == provider_id,
                                                       UsedAssertion.expires_at < utcnow() - CLOCK_SKEW))


def _naive(value) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
