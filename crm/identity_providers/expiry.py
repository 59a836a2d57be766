"""Providers whose signing certificates are about to run out: the console's banner and `sso check`.

A provider is at risk 30 days before its last valid signing certificate expires, urgently 7 days before, and once
every certificate has expired nobody can sign in through it. The last one counts, so a provider that already holds
its IdP's next certificate (added by hand, or picked up from its metadata URL) is not at risk. Disabled providers are
left out: nobody signs in through them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from crm.extensions import db
from crm.identity_providers.models import IdentityProvider, IdpCertificate
from crm.timeutil import utcnow

WARNING_DAYS = (30, 7)
EXPIRED = "expired"


@dataclass(frozen=True)
class AtRisk:
    """A provider whose last valid signing certificate expires within 30 days (or has expired)."""

    slug: str
    display_name: str
    expires: datetime | None  # when the last certificate ends (None: it has none)
    days_left: int
    level: str  # "30", "7" or "expired"
    metadata_url: str | None

    @property
    def urgent(self) -> bool:
        """Seven days or less, or too late already."""
        return self.level != "30"

    def message(self) -> str:
        """What the administrator must know, in one sentence."""
        if self.level == EXPIRED:
            return (f"Every signing certificate of {self.display_name} has expired: nobody can sign in through it "
                    "until its IdP's current certificate is added.")
        when = "today" if self.days_left == 0 else f"in {self.days_left} day{'s' if self.days_left != 1 else ''}"
        source = (" Its metadata URL does not publish a newer one yet." if self.metadata_url else
                  " Add the IdP's next certificate (or give the provider a metadata URL).")
        return (f"The last signing certificate of {self.display_name} expires {when} "
                f"({self.expires:%Y-%m-%d %H:%M} UTC); sign-ins through it will then be refused.{source}")

    def as_json(self) -> dict:
        """As `sso check --json` prints it."""
        return asdict(self) | {"expires": self.expires.isoformat() if self.expires else None,
                               "message": self.message()}


def providers_at_risk(now: datetime | None = None) -> list[AtRisk]:
    """Enabled providers whose last valid signing certificate ends within 30 days, the soonest first (one query)."""
    now = now or utcnow()
    last = func.max(IdpCertificate.not_after)
    rows = db.session.execute(
        select(IdentityProvider.slug, IdentityProvider.display_name, IdentityProvider.metadata_url, last)
        .outerjoin(IdpCertificate, IdpCertificate.provider_id == IdentityProvider.id)
        .where(IdentityProvider.enabled.is_(True))
        .group_by(IdentityProvider.id, IdentityProvider.slug, IdentityProvider.display_name,
                  IdentityProvider.metadata_url))
    found = []
    for slug, name, url, expires in rows:
        left = expires - now if expires else timedelta(0)
        if expires is not None and left > timedelta(days=WARNING_DAYS[0]):
            continue
        level = EXPIRED if expires is None or left <= timedelta(0) else (
            str(WARNING_DAYS[1]) if left <= timedelta(days=WARNING_DAYS[1]) else str(WARNING_DAYS[0]))
        found.append(AtRisk(slug, name, expires, max(left.days, 0), level, url))
    return sorted(found, key=lambda r: (r.expires or datetime.min, r.slug))
