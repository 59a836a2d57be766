"""Troubleshooting a provider: the inspector's checks plus the JIT dry run, as one report."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.provisioning.dry_run import dry_run
from crm.sso.inspector import inspect_response


def build_report(provider: IdentityProvider, saml_response: str, request_id: str | None = None,
                 received_at: datetime | None = None, used: bool = False) -> dict[str, Any]:
    """Every check, the NameID and attributes, and what JIT would do; nothing is provisioned or recorded (the
    session is rolled back afterwards, whatever the dry run touched).

    `received_at`: a recorded attempt, checked as at its receipt (the dry run is against today's data); `used`: it
    signed someone in or was refused, so its own use is not reported as a replay.
    """
    try:
        return _report(provider, saml_response, request_id, received_at, used)
    finally:
        db.session.rollback()


def _report(provider: IdentityProvider, saml_response: str, request_id: str | None,
            received_at: datetime | None, used: bool) -> dict[str, Any]:
    report = inspect_response(provider, saml_response, request_id=request_id, now=received_at, recorded=used)
    result: dict[str, Any] = {
        "provider": provider.slug,
        "verdict": report.verdict,
        "ok": report.ok,
        "expired": report.expired,
        "assertion_id": report.assertion_id,
        "checks": [{"key": c.key, "label": c.label, "passed": c.passed, "detail": c.detail, "hint": c.hint}
                   for c in report.checks],
        "name_id": None, "name_id_format": None, "attributes": {}, "friendly_names": report.friendly_names,
        "dry_run": None,
    }
    if report.identity is None:
        return result
    identity = report.identity
    result.update(name_id=identity.name_id, name_id_format=identity.name_id_format,
                  attributes={k: list(v) for k, v in identity.attributes.items()})
    planned = dry_run(identity, provider)
    plan = planned.plan
    result["dry_run"] = {
        "action": plan.action, "user": planned.user,
        "refusal": {"code": plan.denial.code, "message": plan.denial.message, "reason": plan.denial.reason}
        if plan.denial else None,
        "fields": planned.fields, "licenses": planned.licenses,
        "roles_added": sorted(plan.roles_add.values()), "roles_removed": sorted(plan.roles_remove.values()),
        "unmatched_rows": planned.unmatched_rows, "notes": plan.notes, "hints": planned.hints,
    }
    return result
