"""SSO at a glance: each provider's sign-ins and refusals per day over the last 30 days, its top refusal causes, and
its signing certificates' validity, as plain values the pages draw as SVG with a table behind each chart.

Counted from the audit trail, in SQL: one grouped statement for every provider's days and causes, on the index the
audit list already has, (category, occurred_at, id). The 29 days before today are counted once per process and day
(about a quarter of a second at 1,000,000 events, 80,000 of them in the window), then only today's events. A folded
refusal counts as often as it was repeated (repeat_count).
"""
from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
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
_LOCK = threading.Lock()


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


def _counted(since: datetime, until: datetime | None, slugs: list[str]) -> dict[str, dict[date, Counter]]:
    """Per provider and UTC day: sign-ins under "", refusals under their cause; one grouped statement on the index
    (category, occurred_at, id)."""
    e = AuditEvent
    day = _day(e.occurred_at)
    cause = case((e.outcome.in_(REFUSED), func.coalesce(e.details["cause"].as_string(), UNRECORDED)), else_="")
    stmt = (select(e.idp_slug, day, cause, func.sum(e.repeat_count))
            .where(e.category == PROVISIONING, e.occurred_at >= since, e.action.in_((SIGN_IN, REJECTED)),
                   e.idp_slug.in_(slugs))
            .group_by(e.idp_slug, day, cause))
    if until is not None:
        stmt = stmt.where(e.occurred_at < until)
    counted: dict[str, dict[date, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for slug, when, why, n in db.session.execute(stmt):
        counted[slug][date.fromisoformat(str(when)[:10])][why] += int(n)
    return counted


def _past_days(first: date, today: date, slugs: list[str]) -> dict[str, dict[date, Counter]]:
    """The days before today, counted once per process and day: they are over, so their counts no longer change
    (refusals are pruned only after 90 days). A page then counts today's events alone."""
    cache = current_app.extensions.setdefault("sso_activity", {})
    key = (today, tuple(sorted(slugs)))
    with _LOCK:
        if key not in cache:
            cache.clear()  # yesterday's entry is of no use any more
            cache[key] = _counted(_midnight(first), _midnight(today), slugs)
        return cache[key]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def sso_activity(slugs: list[str], today: date | None = None) -> dict[str, Activity]:
    """Every named provider's activity over the last DAYS days up to `today` (UTC)."""
    today = today or utcnow().date()
    first = today - timedelta(days=DAYS - 1)
    if not slugs:
        return {}
    past, now = _past_days(first, today, slugs), _counted(_midnight(today), None, slugs)
    days = [first + timedelta(days=i) for i in range(DAYS)]
    activity = {}
    for slug in slugs:
        counts = [(now if d == today else past).get(slug, {}).get(d, Counter()) for d in days]
        causes = sum((Counter({k: n for k, n in c.items() if k}) for c in counts), Counter())
        activity[slug] = Activity(
            tuple(DayCount(d, c[""], sum(c.values()) - c[""]) for d, c in zip(days, counts, strict=True)),
            tuple(sorted(causes.items(), key=lambda c: (-c[1], c[0]))[:TOP_CAUSES]))
    return activity


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
