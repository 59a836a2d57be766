"""SSO at a glance: each provider's sign-ins and refusals per day over the last 30 days, its top refusal causes, and
its signing certificates' validity, as plain values the pages draw as SVG with a table behind each chart.

Counted from the audit trail, in SQL: one grouped statement for every provider's days and one for their causes, on
the indexes the audit list already has ((category, occurred_at, id) and (idp_slug, outcome, occurred_at, id)). A
folded refusal counts as often as it was repeated (repeat_count).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, case, cast, func, select

from crm.audit.models import PROVISIONING, REJECTED, AuditEvent
from crm.extensions import db
from crm.identity_providers.models import IdpCertificate
from crm.timeutil import utcnow

DAYS = 30
TOP_CAUSES = 3
SIGN_IN = "sso.sign_in"
REFUSED = ("denied", "rejected")  # a sign-in refused by policy; a SAML message refused by the checks
UNRECORDED = "unrecorded"  # refusals written before their cause was kept in details["cause"]


@dataclass(frozen=True)
class DayCount:
    """One UTC day of a provider's sign-ins."""

    day: date
    signed_in: int
    refused: int


@dataclass(frozen=True)
class Activity:
    """A provider's last DAYS days (oldest first, every day present) and its most frequent refusal causes."""

    days: tuple[DayCount, ...]
    causes: tuple[tuple[str, int], ...]

    @property
    def signed_in(self) -> int:
        """Sign-ins over the whole period."""
        return sum(d.signed_in for d in self.days)

    @property
    def refused(self) -> int:
        """Refusals over the whole period."""
        return sum(d.refused for d in self.days)

    @property
    def peak(self) -> int:
        """The busiest day's sign-ins and refusals together (the chart's scale; at least 1)."""
        return max([d.signed_in + d.refused for d in self.days] + [1])


def _day(column):
    """The UTC calendar day of a timestamp: SQLite keeps timestamps as text, whose date() is the day."""
    return func.date(column) if db.session.get_bind().dialect.name == "sqlite" else cast(column, Date)


def sso_activity(slugs: list[str], today: date | None = None) -> dict[str, Activity]:
    """Every named provider's activity over the last DAYS days up to `today` (UTC), in two statements."""
    today = today or utcnow().date()
    first = today - timedelta(days=DAYS - 1)
    if not slugs:
        return {}
    since, e = datetime.combine(first, datetime.min.time()), AuditEvent
    refused = case((e.outcome.in_(REFUSED), 1), else_=0)
    day = _day(e.occurred_at)
    per_day = db.session.execute(
        select(e.idp_slug, day, refused, func.sum(e.repeat_count))
        .where(e.category == PROVISIONING, e.occurred_at >= since, e.action.in_((SIGN_IN, REJECTED)),
               e.idp_slug.in_(slugs))
        .group_by(e.idp_slug, day, refused)).all()
    cause = func.coalesce(e.details["cause"].as_string(), UNRECORDED)
    per_cause = db.session.execute(
        select(e.idp_slug, cause, func.sum(e.repeat_count))
        .where(e.idp_slug.in_(slugs), e.outcome.in_(REFUSED), e.occurred_at >= since,
               e.category == PROVISIONING, e.action.in_((SIGN_IN, REJECTED)))
        .group_by(e.idp_slug, cause)).all()
    counts: dict[str, dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for slug, when, is_refused, n in per_day:
        counts[slug][date.fromisoformat(str(when)[:10])][is_refused] += int(n)
    causes: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for slug, code, n in per_cause:
        causes[slug].append((code, int(n)))
    days = [first + timedelta(days=i) for i in range(DAYS)]
    return {slug: Activity(tuple(DayCount(d, *counts[slug][d]) for d in days),
                           tuple(sorted(causes[slug], key=lambda c: (-c[1], c[0]))[:TOP_CAUSES]))
            for slug in slugs}


@dataclass(frozen=True)
class CertificateSpan:
    """One signing certificate on the timeline: where its validity starts and ends, as fractions of the axis."""

    certificate: IdpCertificate
    start: float
    end: float
    expired: bool


@dataclass(frozen=True)
class CertificateTimeline:
    """The provider's certificates on one axis from the earliest not_before to the latest not_after, and today."""

    first: datetime
    last: datetime
    today: float  # fraction of the axis (outside 0..1 when today is before or after every certificate)
    spans: tuple[CertificateSpan, ...]


def certificate_timeline(certificates: list[IdpCertificate], now: datetime | None = None) -> CertificateTimeline | None:
    """The certificates' validity on a common axis (None without certificates), earliest start first."""
    if not certificates:
        return None
    now = now or utcnow()
    first = min(c.not_before for c in certificates)
    last = max(c.not_after for c in certificates)
    width = max((last - first).total_seconds(), 1)

    def at(moment: datetime) -> float:
        return (moment - first).total_seconds() / width

    spans = tuple(CertificateSpan(c, at(c.not_before), at(c.not_after), c.not_after <= now)
                  for c in sorted(certificates, key=lambda c: (c.not_before, c.id)))
    return CertificateTimeline(first, last, at(now), spans)
