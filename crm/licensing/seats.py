"""Seats by a provider's license policy: the one way a sign-in (JIT), a SCIM push and a reactivation take them.

A seat in each offered package that has a free one and that the user does not hold yet. The offered packages' rows
are locked first, in name order, as every way of taking seats takes them (an administrator's grant too,
licensing.services.take_seat): within one UPDATE, rows are locked in whatever order the scan meets them, which differs
between transactions once rows have moved, and two first logins (or a first login and a SCIM POST) would wait for
each other. PostgreSQL re-checks the free-seat condition after waiting for a row lock, so N racing grants for the
last K seats give exactly K. The user's row is written before, as everywhere.

On PostgreSQL one statement of data-modifying CTEs (one round trip); elsewhere the same steps one statement each.
Plain SQL on the caller's connection, in the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ARRAY, CTE, Connection, Integer, Select, bindparam, exists, func, insert, or_, select, update

from crm.licensing.models import LicensePackage, LicenseSeat
from crm.search_keys import fold

_packages, _seats = LicensePackage.__table__, LicenseSeat.__table__
_FREE = or_(_packages.c.seat_limit.is_(None), _packages.c.seats_used < _packages.c.seat_limit)


@dataclass(frozen=True)
class SeatGrant:
    """The packages offered to the user (in name order) and those a seat was taken in."""

    offered: list[str]
    granted: list[str]

    @property
    def full(self) -> list[str]:
        """The offered packages that had no free seat."""
        return [name for name in self.offered if name not in self.granted]

    @property
    def no_seat(self) -> bool:
        """Packages were offered, and none had a free seat."""
        return bool(self.offered) and not self.granted


def grant_free_seats(conn: Connection, user_id: int, package_ids: Collection[int] | None, granted_by: str,
                     now: datetime) -> SeatGrant:
    """Take a seat for the user in each package (every package when `package_ids` is None) that has a free one and
    that the user does not hold yet."""
    params = {"s_user_id": user_id, "s_granted_by": granted_by, "s_now": now,
              "s_package_ids": sorted(package_ids or [])}
    if conn.dialect.name == "postgresql":
        offered, granted = conn.execute(_IN_ONE_STATEMENT[package_ids is None], params).one()
        offered, granted = sorted(offered or [], key=fold), set(granted or [])
        return SeatGrant(offered, [name for name in offered if name in granted])
    packages = conn.execute(_offered(package_ids is None, expanding=True), params).all()
    taken = [p for p in packages if conn.execute(_TAKE_ONE, {"s_id": p.id}).rowcount == 1]
    if taken:
        conn.execute(insert(_seats), [{"user_id": user_id, "package_id": p.id, "granted_by": granted_by,
                                       "granted_at": now} for p in taken])
    return SeatGrant([p.name for p in packages], [p.name for p in taken])


def _offered(every_package: bool, expanding: bool = False, user_id=None) -> Select:
    """The packages offered, in name order, that the user holds no seat in."""
    user_id = bindparam("s_user_id") if user_id is None else user_id
    held = exists().where(_seats.c.user_id == user_id, _seats.c.package_id == _packages.c.id)
    offered = select(_packages.c.id, _packages.c.name, _packages.c.name_key).where(~held).order_by(
        _packages.c.name_key)
    if every_package:
        return offered
    if expanding:
        return offered.where(_packages.c.id.in_(bindparam("s_package_ids", expanding=True)))
    return offered.where(_packages.c.id == func.any(bindparam("s_package_ids", type_=ARRAY(Integer))))


@dataclass(frozen=True)
class SeatCtes:
    """The seat-taking CTEs of one statement: `offered` (id, name, name_key: locked, in name order), `taken` (id,
    name, name_key: the packages a seat was taken in) and the insert of the seats."""

    offered: CTE
    taken: CTE
    seats: CTE


def seat_ctes(every_package: bool, user_id=None, when=None) -> SeatCtes:
    """PostgreSQL: lock the offered rows in name order, take a free seat in each, insert the seats, for the user
    `user_id` (a column of another CTE of the statement; default the bind parameter s_user_id) and only `when` that
    condition holds (another CTE's row exists). Parameters: s_package_ids, s_granted_by, s_now."""
    user = bindparam("s_user_id", type_=_seats.c.user_id.type) if user_id is None else user_id
    offered = _offered(every_package, user_id=user).with_for_update().cte("offered").prefix_with("MATERIALIZED")
    taken = update(_packages).where(_packages.c.id == offered.c.id, _FREE)
    if when is not None:
        taken = taken.where(when)
    taken = (taken.values(seats_used=_packages.c.seats_used + 1)
             .returning(_packages.c.id, _packages.c.name, _packages.c.name_key).cte("taken"))
    seats = insert(_seats).from_select(
        ["user_id", "package_id", "granted_by", "granted_at"],
        select(user, taken.c.id, bindparam("s_granted_by", type_=_seats.c.granted_by.type),
               bindparam("s_now", type_=_seats.c.granted_at.type))).cte("new_seats")
    return SeatCtes(offered, taken, seats)


def _in_one_statement(every_package: bool) -> Select:
    """PostgreSQL: seat_ctes as one statement; it returns the names of the packages offered and of those granted."""
    ctes = seat_ctes(every_package)
    return select(select(func.array_agg(ctes.offered.c.name)).scalar_subquery(),
                  select(func.array_agg(ctes.taken.c.name)).scalar_subquery()).add_cte(ctes.seats)


# Built once per process: each grant only binds its values.
_IN_ONE_STATEMENT = {every: _in_one_statement(every) for every in (True, False)}
_TAKE_ONE = (update(_packages).where(_packages.c.id == bindparam("s_id"), _FREE)
             .values(seats_used=_packages.c.seats_used + 1))
