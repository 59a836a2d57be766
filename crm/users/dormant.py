"""Seat reclaim: JIT users who have not signed in for a provider's number of days are deactivated as dormant and
their seats go back to the pool. Unlike a user the directory deactivated, a dormant one comes back at the next valid
SSO sign-in (crm.provisioning reactivates them and grants seats by the provider's license policy where free).

Who is reclaimed: an active user bound to a provider whose users come from SAML sign-in (JIT), not created by SCIM
(the directory owns those), not an administrator (reclaiming the last one would lock everyone out). Local users
without a binding are never reclaimed. The dormant clock runs from the last sign-in, else from the creation, and
starts over when the user is made active again, so a user an administrator just reactivated is not reclaimed before
they had the chance to sign in.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Select, bindparam, exists, func, literal, or_, select, type_coerce

from crm.audit import services as audit
from crm.auth.models import User
from crm.auth.permissions import ADMINISTER
from crm.extensions import db
from crm.identity_providers.models import USERS_FROM_SCIM, IdentityProvider
from crm.licensing.models import LicensePackage, LicenseSeat
from crm.roles.models import RoleMembership, RolePermission
from crm.timeutil import utcnow
from crm.users.lifecycle import DORMANT, deactivate
from crm.users.models import UserIdentity

_users, _identities, _providers = User.__table__, UserIdentity.__table__, IdentityProvider.__table__
_seats, _packages = LicenseSeat.__table__, LicensePackage.__table__
_memberships, _grants = RoleMembership.__table__, RolePermission.__table__
FROM_SCIM = "scim"  # user_account.source of a user the directory created
_ADMINISTRATOR = exists().where(_memberships.c.user_id == _users.c.id, _grants.c.role_id == _memberships.c.role_id,
                                _grants.c.permission == ADMINISTER)


@dataclass(frozen=True)
class DormantUser:
    """A user who would be (or was) deactivated as dormant, and the seats that go back to the pool."""

    user_id: int
    username: str
    provider: str  # the slug of the provider the user signs in through
    last_sign_in: datetime | None  # None: never signed in (the clock ran from the creation)
    days: int  # the limit that applied: the provider's, or the command line's
    seats: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """The row `users deactivate-dormant --json` prints."""
        return {"username": self.username, "provider": self.provider,
                "last_sign_in": self.last_sign_in.isoformat() if self.last_sign_in else None,
                "seats": list(self.seats)}


def reclaim_is_on() -> list[IdentityProvider]:
    """The providers with a number of days set, by display name (the Licenses page says which)."""
    return list(db.session.scalars(select(IdentityProvider).where(IdentityProvider.dormant_days.is_not(None))
                                   .order_by(IdentityProvider.display_name)))


def find_dormant(days: int | None = None, *, only: Collection[int] | None = None, now: datetime | None = None,
                 lock: bool = False) -> list[DormantUser]:
    """The dormant users by username, with their seats, in one statement: `days` applies to the JIT users of every
    provider; without it, each provider's own setting (providers without one are left alone). `only` narrows to
    these user ids (what an administrator saw in the preview); `lock` holds their rows until the commit."""
    if days is not None and days < 1:
        raise ValueError("days must be at least 1")
    now = now or utcnow()
    stmt = _dormant_statement(days is not None, db.session.get_bind().dialect.name, only is not None)
    if lock:
        stmt = stmt.with_for_update(of=_users)
    params: dict[str, Any] = {"now": now, "cutoff": now - timedelta(days=days or 0)}
    if only is not None:
        params["only"] = list(only) or [0]
    found: dict[int, DormantUser] = {}
    for row in db.session.execute(stmt, params):
        known = found.get(row.id)
        seats = (known.seats if known else ()) + ((row.package,) if row.package is not None else ())
        found[row.id] = DormantUser(row.id, row.username, row.slug, row.last_login_at, days or row.dormant_days, seats)
    return list(found.values())


def _dormant_statement(overridden: bool, dialect: str, narrowed: bool) -> Select:
    """One row per dormant user and seat (a row without a package for a user without seats)."""
    cutoff = bindparam("cutoff", type_=DateTime) if overridden else _days_before_now(_providers.c.dormant_days,
                                                                                      dialect)
    clock = func.coalesce(_users.c.last_login_at, _users.c.created_at)
    stmt = (select(_users.c.id, _users.c.username, _users.c.last_login_at, _providers.c.slug,
                   _providers.c.dormant_days, _packages.c.name.label("package"))
            .select_from(_users.join(_identities, _identities.c.user_id == _users.c.id)
                         .join(_providers, _providers.c.id == _identities.c.provider_id)
                         .outerjoin(_seats, _seats.c.user_id == _users.c.id)
                         .outerjoin(_packages, _packages.c.id == _seats.c.package_id))
            .where(_users.c.active.is_(True), or_(_users.c.source.is_(None), _users.c.source != FROM_SCIM),
                   _providers.c.users_from != USERS_FROM_SCIM, ~_ADMINISTRATOR, clock < cutoff,
                   or_(_users.c.reactivated_at.is_(None), _users.c.reactivated_at < cutoff))
            .order_by(_users.c.username_key, _packages.c.name_key))
    if not overridden:
        stmt = stmt.where(_providers.c.dormant_days.is_not(None))
    if narrowed:
        stmt = stmt.where(_users.c.id.in_(bindparam("only", expanding=True)))
    return stmt


def _days_before_now(days, dialect: str):
    """`now` minus a provider's number of days, computed by the database (each row has its provider's limit)."""
    now = bindparam("now", type_=DateTime)
    if dialect == "postgresql":
        return type_coerce(now - func.make_interval(0, 0, 0, days), DateTime)
    # SQLite keeps DateTime as ISO text; datetime() gives the same layout, so the comparison stays textual.
    return func.datetime(now, literal("-").concat(days).concat(" days"))


def reclaim(days: int | None = None, *, only: Collection[int] | None = None,
            now: datetime | None = None) -> list[DormantUser]:
    """Deactivate the dormant users (reason "dormant"): sessions ended, seats released, one audit event per user,
    all in the caller's transaction (the caller commits). Their rows are locked first, then the packages in name
    order as every way of taking seats does, and dormancy is checked again under the lock: whoever signed in
    since the preview keeps their seats."""
    now = now or utcnow()
    dormant = find_dormant(days, only=only, now=now, lock=True)
    names = sorted({name for user in dormant for name in user.seats})
    if names:
        db.session.execute(select(_packages.c.id).where(_packages.c.name.in_(names))
                           .order_by(_packages.c.name_key).with_for_update())
    for found in dormant:
        user = db.session.get(User, found.user_id)
        done = deactivate(user, DORMANT)
        last = found.last_sign_in.isoformat() if found.last_sign_in else None
        audit.record("user.deactivate_dormant",
                     f"Deactivated dormant user {user.username}: no sign-in for {found.days} days", target=user,
                     changes={"active": {"before": True, "after": False},
                              "inactive_reason": {"before": None, "after": DORMANT}},
                     details=done | {"days": found.days, "last_sign_in": last}, idp_slug=found.provider)
    return dormant


def freed_seats(dormant: list[DormantUser]) -> dict[str, int]:
    """How many seats of each package reclaiming these users frees, by package name."""
    counts: dict[str, int] = {}
    for user in dormant:
        for name in user.seats:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: item[0].lower()))

