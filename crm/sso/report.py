"""The troubleshooting report: every check of the sign-in on one response (the ACS's own list, run to the end),
the NameID and attributes, and a dry run of what JIT would do. Nothing is provisioned or recorded."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from crm.extensions import db
from crm.identity_providers.config import ProviderConfig
from crm.provisioning.dry_run import dry_run
from crm.provisioning.identity import SamlIdentity
from crm.sso.checks import Inspection, Result, inspect
from crm.sso.models import SignInAttempt, UsedAssertion
from crm.sso.settings import sp_urls


def build_report(config: ProviderConfig, saml_response: str, request_id: str | None = None,
                 received_at: datetime | None = None, used: bool = False) -> dict[str, Any]:
    """Every check, the NameID and attributes, and what JIT would do (the session is rolled back afterwards,
    whatever the dry run touched).

    `request_id`: the request the browser had pending (None: not known, so not checked); `received_at`: a
    recorded attempt, checked as at its receipt (the dry run is against today's data); `used`: it signed someone
    in or was refused, so its own use is not reported as a replay.
    """
    try:
        return _report(config, saml_response, request_id, received_at, used)
    finally:
        db.session.rollback()


def _report(config: ProviderConfig, saml_response: str, request_id: str | None, received_at: datetime | None,
            used: bool) -> dict[str, Any]:
    urls = sp_urls(config.slug)
    ins = Inspection(config, saml_response, urls["acs"], urls["entity_id"], request_id,
                     received_at or datetime.now(UTC).replace(tzinfo=None),
                     request_known=request_id is not None,
                     replay_lookup=None if used else lambda assertion_id: _used_at(config.id, assertion_id))
    results = inspect(ins)
    failed = [r for r in results if r.passed is False]
    result: dict[str, Any] = {
        "provider": config.slug, "verdict": _verdict(failed, ins.expired),
        "ok": not failed and ins.identity is not None,
        "expired": ins.expired, "encrypted_with": ins.decrypted_with,
        "assertion_id": ins.assertion.get("ID") if ins.assertion is not None else None,
        "checks": [{"key": r.key, "label": r.label, "passed": r.passed, "detail": r.detail, "hint": r.hint}
                   for r in results],
        "name_id": None, "name_id_format": None, "attributes": {}, "friendly_names": ins.friendly_names,
        "dry_run": None,
    }
    if ins.identity is None:
        return result
    identity = ins.identity
    result.update(name_id=identity.name_id, name_id_format=identity.name_id_format,
                  attributes={k: list(v) for k, v in identity.attributes.items()})
    planned = dry_run(db.session.connection(), identity, config.policy)
    plan = planned.plan
    result["dry_run"] = {
        "action": plan.action, "user": planned.user,
        "refusal": {"code": plan.denial.code, "message": plan.denial.message, "reason": plan.denial.reason}
        if plan.denial else None,
        "fields": planned.fields, "licenses": planned.licenses,
        "roles_added": sorted(plan.roles_add.values()), "roles_removed": sorted(plan.roles_remove.values()),
        "unmatched_rows": planned.unmatched_rows, "notes": list(plan.notes), "hints": planned.hints,
    }
    return result


def attempt_identity(config: ProviderConfig, attempt: SignInAttempt) -> SamlIdentity | None:
    """The NameID and attributes of a recorded attempt, read as its report reads them (signature and all, as at its
    receipt); None when the response never got that far. Nothing is planned or written."""
    urls = sp_urls(config.slug)
    ins = Inspection(config, attempt.saml_response, urls["acs"], urls["entity_id"], attempt.request_id,
                     attempt.received_at, request_known=attempt.request_id is not None)
    inspect(ins)
    return ins.identity


def latest_identity(config: ProviderConfig, attempts: list[SignInAttempt],
                    tries: int = 5) -> tuple[SignInAttempt, SamlIdentity] | None:
    """The newest attempt (of the first few, newest first) whose attributes can be read, with its identity: what the
    provider page previews its mapping against."""
    for attempt in attempts[:tries]:
        identity = attempt_identity(config, attempt)
        if identity is not None:
            return attempt, identity
    return None


def _verdict(failed: list[Result], expired: bool) -> str:
    """The outcome in plain words."""
    if not failed:
        return "This response would sign the user in."
    if expired and all(r.key == "validity" for r in failed):
        return "This response is valid but expired: its contents and the dry run are shown as they were."
    more = len(failed) - 1
    return f"This response would be refused: {failed[0].label.lower()} failed" + (
        f" (and {more} more check{'s' if more > 1 else ''})." if more else ".")


def _used_at(provider_id: int, assertion_id: str) -> datetime | None:
    return db.session.scalar(select(UsedAssertion.used_at).where(UsedAssertion.provider_id == provider_id,
                                                                 UsedAssertion.assertion_id == assertion_id))

