"""Deprovisioning that ends access, and reactivation: in the caller's transaction, so the user, their sessions, their
seats and the audit event change together or not at all."""
from __future__ import annotations

from typing import Any

from crm.auth.models import User
from crm.auth.sessions import end_sessions
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.licensing.models import LicensePackage
from crm.licensing.seats import grant_free_seats
from crm.licensing.services import all_packages, release_seat
from crm.timeutil import utcnow

SCIM, SCIM_DELETED, ADMIN, DORMANT = "scim", "scim_deleted", "admin", "dormant"
BY_DIRECTORY = (SCIM, SCIM_DELETED)  # a SAML sign-in never brings these back
GRANTED_BY_SCIM = "scim"


def deactivate(user: User, reason: str) -> dict[str, Any]:
    """Make the user inactive for this reason, end every web session of theirs and release their seats; what was
    done, for the caller's audit event."""
    seats = sorted(user.seats, key=lambda seat: seat.package.name_key)  # in name order, as seats are taken
    released = [seat.package.name for seat in seats]
    for seat in seats:
        release_seat(user, seat.package)
    db.session.expire(user, ["seats"])
    user.active, user.inactive_reason = False, reason
    ended = end_sessions(user.id)
    return {"sessions_ended": ended, "licenses_released": released}


def reactivate(user: User, provider: IdentityProvider | None) -> dict[str, Any]:
    """Make the user active again, with a seat in each package the provider's license policy grants that has a free
    one (none free: active without a license, waiting for a seat). The dormant clock starts over."""
    user.active, user.inactive_reason, user.reactivated_at = True, None, utcnow()
    granted = grant_by_policy(user, provider) if provider is not None else []
    return {"licenses_granted": granted, "waiting_for_seat": provider is not None and not granted
            and _offers_packages(provider)}


def grant_by_policy(user: User, provider: IdentityProvider) -> list[str]:
    """Seats for the user by the provider's license policy, where free (licensing.seats, as a sign-in takes them);
    the names of the packages granted."""
    db.session.flush()  # the user's row is written before any package row is locked, as everywhere
    seats = grant_free_seats(db.session.connection(), user.id, _package_ids(provider), GRANTED_BY_SCIM, utcnow())
    db.session.expire(user, ["seats"])
    for package in [obj for obj in db.session.identity_map.values() if isinstance(obj, LicensePackage)]:
        db.session.expire(package, ["seats_used"])  # counted by the statement, not by the session
    return seats.granted


def _package_ids(provider: IdentityProvider) -> list[int] | None:
    """The packages the provider's license policy grants (None: every package)."""
    return None if provider.license_policy == "all" else [p.id for p in provider.license_packages]


def _offers_packages(provider: IdentityProvider) -> bool:
    return bool(provider.license_packages if provider.license_policy != "all" else all_packages())
