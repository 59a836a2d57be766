"""Deprovisioning that ends access, and reactivation: in the caller's transaction, so the user, their sessions, their
seats and the audit event change together or not at all."""
from __future__ import annotations

from typing import Any

from crm.auth.models import User
from crm.auth.sessions import end_sessions
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.licensing.models import LicensePackage
from crm.licensing.services import NoSeatLeft, all_packages, release_seat, take_seat
from crm.timeutil import utcnow

SCIM, SCIM_DELETED, ADMIN, DORMANT = "scim", "scim_deleted", "admin", "dormant"
BY_DIRECTORY = (SCIM, SCIM_DELETED)  # a SAML sign-in never brings these back
GRANTED_BY_SCIM = "scim"


def deactivate(user: User, reason: str) -> dict[str, Any]:
    """Make the user inactive for this reason, end every web session of theirs and release their seats; what was
    done, for the caller's audit event."""
    released = sorted(seat.package.name for seat in user.seats)
    for seat in list(user.seats):
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
            and bool(_packages_of(provider))}


def grant_by_policy(user: User, provider: IdentityProvider) -> list[str]:
    """Seats for the user by the provider's license policy, where free; the names of the packages granted."""
    granted = []
    for package in _packages_of(provider):
        try:
            if take_seat(user, package, GRANTED_BY_SCIM):
                granted.append(package.name)
        except NoSeatLeft:
            continue
    db.session.expire(user, ["seats"])
    return granted


def _packages_of(provider: IdentityProvider) -> list[LicensePackage]:
    # In name order, as every way of taking seats locks the packages' rows (no two wait for each other).
    return all_packages() if provider.license_policy == "all" else sorted(provider.license_packages,
                                                                           key=lambda p: p.name_key)
