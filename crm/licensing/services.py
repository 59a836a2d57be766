"""License seats: granted by one conditional UPDATE, so no race can take more seats than exist."""
from __future__ import annotations

from sqlalchemy import or_, select, update

from crm.audit import services as audit
from crm.auth.models import User
from crm.extensions import db
from crm.licensing.models import LicensePackage, LicenseSeat
from crm.search_keys import fold


class LicenseError(ValueError):
    """A license action that cannot be done; the message is shown to the admin."""


class NoSeatLeft(LicenseError):
    """Every seat of the package is taken."""

    def __init__(self, package: LicensePackage):
        super().__init__(f'No free seat is left in "{package.name}" ({package.seat_limit} of {package.seat_limit} '
                         "used). Revoke a seat or raise the limit first.")
        self.package = package


def take_seat(user: User, package: LicensePackage, granted_by: str, known_free: bool = False) -> bool:
    """Give the user a seat in the current transaction; False if already held; NoSeatLeft if full.
    `known_free`: the caller knows the user holds no seat in the package (no need to look).

    The UPDATE only succeeds while a seat is free; PostgreSQL re-checks the condition after waiting
    for a concurrent grant's row lock, so N racing grants for the last K seats give exactly K.
    """
    if not known_free and db.session.get(LicenseSeat, (user.id, package.id)) is not None:
        return False
    taken = db.session.execute(
        update(LicensePackage)
        .where(LicensePackage.id == package.id)
        .where(or_(LicensePackage.seat_limit.is_(None), LicensePackage.seats_used < LicensePackage.seat_limit))
        .values(seats_used=LicensePackage.seats_used + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise NoSeatLeft(package)
    db.session.add(LicenseSeat(user_id=user.id, package_id=package.id, granted_by=granted_by))
    db.session.flush()
    db.session.expire(package, ["seats_used"])
    return True


def release_seat(user: User, package: LicensePackage) -> bool:
    """Take the user's seat back in the current transaction; False if the user held none."""
    seat = db.session.get(LicenseSeat, (user.id, package.id))
    if seat is None:
        return False
    db.session.delete(seat)
    db.session.execute(
        update(LicensePackage).where(LicensePackage.id == package.id)
        .values(seats_used=LicensePackage.seats_used - 1).execution_options(synchronize_session=False)
    )
    db.session.flush()
    db.session.expire(package, ["seats_used"])
    return True


def grant(user: User, package: LicensePackage, granted_by: str) -> bool:
    """An admin grants a seat: take it and audit it."""
    if not take_seat(user, package, granted_by):
        return False
    audit.record("license.grant", f"Granted {package.name} to {user.username}", target=user,
                 changes={"licenses": {"before": None, "after": package.name}})
    return True


def revoke(user: User, package: LicensePackage) -> bool:
    """An admin revokes a seat: release it and audit it."""
    if not release_seat(user, package):
        return False
    audit.record("license.revoke", f"Revoked {package.name} from {user.username}", target=user,
                 changes={"licenses": {"before": package.name, "after": None}})
    return True


def find_package(name: str) -> LicensePackage | None:
    """The package with this name (case-insensitive)."""
    return db.session.scalar(select(LicensePackage).where(LicensePackage.name_key == fold(name)))


def all_packages() -> list[LicensePackage]:
    """Every package, by name."""
    return list(db.session.scalars(select(LicensePackage).order_by(LicensePackage.name_key)))


def save_package(package: LicensePackage | None, name: str, seat_limit: int | None) -> LicensePackage:
    """Create or change a package; a limit below the seats in use is refused."""
    name = (name or "").strip()
    if not name:
        raise LicenseError("Enter a name.")
    if seat_limit is not None and seat_limit < 0:
        raise LicenseError("The seat limit cannot be negative.")
    clash = find_package(name)
    if clash is not None and clash is not package:
        raise LicenseError(f'A license package named "{clash.name}" already exists.')
    if package is not None and seat_limit is not None and seat_limit < package.seats_used:
        raise LicenseError(f"{package.seats_used} seats are in use; revoke seats before lowering the limit "
                           f"to {seat_limit}.")
    before = package_values(package) if package else {}
    package = package or LicensePackage(seats_used=0)
    package.name, package.seat_limit = name, seat_limit
    db.session.add(package)
    db.session.flush()
    changes = audit.diff(before, package_values(package))
    if changes:
        audit.record("license_package." + ("update" if before else "create"),
                     f"{'Changed' if before else 'Created'} license package {package.name}",
                     target=package, changes=changes)
    return package


def package_values(package: LicensePackage) -> dict:
    """The package's settings as shown in the audit trail."""
    return {"name": package.name, "seat_limit": "unlimited" if package.seat_limit is None else package.seat_limit}
