"""The signing certificates a provider once had, read from the audit trail.

Why from the audit trail: every removal is audited already (a metadata refresh that no longer finds a certificate,
an admin's Remove, an import or `sso set --certificate-file` that replaces them), each naming the certificate by its
SHA-256 fingerprint, and those events are kept. So when an IdP still signs with a key it has rolled away from, the
sign-in can say "this provider no longer lists that certificate" (removed when, how) instead of "bad signature".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from crm.audit.models import CONFIG, AuditEvent
from crm.extensions import db

FINGERPRINT = re.compile(r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}")
REFRESH, REMOVE = "sso.metadata_refresh", "sso.certificate_remove"
MAX_EVENTS = 200  # a provider's newest removals: enough for years of key rollovers, bounded for a config build


@dataclass(frozen=True)
class RemovedCertificate:
    """A signing certificate the provider had and no longer has: when it went, and the audit event that says so."""

    fingerprint_sha256: str
    removed_at: datetime
    by_refresh: bool  # True: its IdP's metadata stopped publishing it; False: an admin removed or replaced it
    reference: str

    def words(self) -> str:
        """When and how it was removed, for the report."""
        how = "a refresh of the provider's metadata" if self.by_refresh else "an administrator"
        return f"removed on {self.removed_at:%Y-%m-%d} by {how} ({self.reference})"


def removed_certificates(idp_slug: str, since: datetime) -> tuple[RemovedCertificate, ...]:
    """The certificates removed from this provider since it was created (not those of an earlier provider that had
    the same slug), newest removal first, one entry per fingerprint."""
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.idp_slug == idp_slug, AuditEvent.category == CONFIG,
                                 AuditEvent.action.in_((REFRESH, REMOVE)), AuditEvent.occurred_at >= since)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(MAX_EVENTS))
    found: dict[str, RemovedCertificate] = {}
    for event in events:
        for fingerprint in _removed_in(event.action, event.changes or {}):
            found.setdefault(fingerprint, RemovedCertificate(fingerprint, event.occurred_at, event.action == REFRESH,
                                                             event.reference))
    return tuple(found.values())


def _removed_in(action: str, changes: dict[str, Any]) -> list[str]:
    """The fingerprints an event says were removed: a refresh's `certificates.removed` list, or a removal's
    `certificate.before` (each a description that ends with the fingerprint: the last one in it, since the subject
    before it is the IdP's text and may hold anything fingerprint-shaped)."""
    if action == REFRESH:
        described = (changes.get("certificates") or {}).get("removed") or []
    else:
        described = [(changes.get("certificate") or {}).get("before")]
    return [found[-1] for text in described if isinstance(text, str) and (found := FINGERPRINT.findall(text))]
