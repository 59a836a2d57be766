"""Home realms and enforced single sign-on: which provider a person signs in with, and whether a password is still
allowed to them.

A provider's email domains (the `allowed_domains` column, the same list JIT links and admits by) say whose people
it holds: the login page sends "nina@contoso.com" straight to the one provider that owns contoso.com. A provider
that requires single sign-on refuses a password to its people: users bound to it, and local users whose username or
email is in its domains. Break-glass administrators (at most three, each sign-in audited and shown to every
administrator for a week) keep their password, so that nobody is locked out when the IdP is down or misconfigured.

Enforcement can only be turned on through the lock-out guard: a Test Sign In through the provider passed every check
within the last hour, a break-glass administrator with a password exists, and no email domain would belong to two
providers that both require single sign-on.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from crm.audit import services as audit
from crm.audit.models import ADMIN, CONFIG, AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.roles.services import active_admins
from crm.search_keys import fold
from crm.timeutil import utcnow

MAX_BREAK_GLASS = 3
TEST_VALID_FOR = timedelta(minutes=60)
BANNER_DAYS = 7
BREAK_GLASS_SIGN_IN = "auth.break_glass_sign_in"


class PolicyRefused(ValueError):
    """A change the lock-out guard (or another rule of this module) refuses; the message says why."""


def domain_of(identifier: str | None) -> str | None:
    """The email domain of an identifier ("nina@contoso.com" -> "contoso.com"), None for a bare username."""
    _local, at, domain = (identifier or "").strip().rpartition("@")
    return fold(domain) if at and domain else None


def _enabled() -> list[IdentityProvider]:
    return list(db.session.scalars(select(IdentityProvider).where(IdentityProvider.enabled.is_(True))
                                   .order_by(IdentityProvider.display_name)))


def owners(identifier: str | None, enabled: list[IdentityProvider] | None = None) -> list[IdentityProvider]:
    """The enabled providers (read now unless given) whose email domains hold the identifier's domain."""
    domain = domain_of(identifier)
    if domain is None:
        return []
    return [p for p in (enabled if enabled is not None else _enabled())
            if domain in {fold(d) for d in p.allowed_domains or ()}]


@dataclass(frozen=True)
class Realm:
    """Where an identifier signs in: the providers that own it (by domain or binding), and the one that requires
    single sign-on of it, if any (then no password)."""

    providers: tuple[IdentityProvider, ...]
    enforced_by: IdentityProvider | None


def realm_of(identifier: str | None, user: User | None) -> Realm:
    """The realm of what was typed on the login page and the user it names (None: no such user)."""
    enabled = _enabled()  # read once for the identifier and the user's email
    found = owners(identifier, enabled)
    if user is not None:
        bound = user.identity.provider if user.identity is not None else None
        if bound is not None and bound.enabled and bound not in found:
            found.insert(0, bound)
        if user.contact is not None and user.contact.email:
            found += [p for p in owners(user.contact.email, enabled) if p not in found]
    enforcer = next((p for p in found if p.enforce_sso), None)
    if user is not None and user.break_glass:
        enforcer = None
    return Realm(tuple(found), enforcer)


def password_refused_by(user: User) -> IdentityProvider | None:
    """The provider that requires single sign-on of this user, who may therefore not use (or get) a password."""
    return realm_of(user.username, user).enforced_by


# --- the lock-out guard -----------------------------------------------------------------------------------------

def break_glass_admins() -> list[User]:
    """Active administrators marked break-glass who have a password."""
    return list(db.session.scalars(select(User).where(User.id.in_(active_admins()), User.break_glass.is_(True),
                                                      User.password_hash.is_not(None)).order_by(User.username_key)))


def enforcement_problems(provider: IdentityProvider, domains: list[str] | None = None) -> list[str]:
    """Why single sign-on cannot be required of this provider's users now (nothing: it can)."""
    problems = []
    if provider.test_passed_at is None or utcnow() - provider.test_passed_at > TEST_VALID_FOR:
        problems.append(f"Run a Test Sign In through {provider.display_name} first: enforcement needs one that "
                        "passed every check in the last 60 minutes, so that nobody is locked out.")
    if not break_glass_admins():
        problems.append("Mark a break-glass administrator with a password first (Users → the administrator → "
                        "Break-glass, or `users break-glass USERNAME on`): they keep their password if the identity "
                        "provider fails.")
    problems += domain_clashes(provider, domains if domains is not None else provider.allowed_domains or [])
    return problems


def domain_clashes(provider: IdentityProvider, domains: list[str]) -> list[str]:
    """Email domains another provider that requires single sign-on owns already."""
    clashes = []
    for other in _enabled():
        if other.id == provider.id or not other.enforce_sso:
            continue
        shared = sorted({fold(d) for d in domains} & {fold(d) for d in other.allowed_domains or ()})
        if shared:
            clashes.append(f"{', '.join(shared)} {'is' if len(shared) == 1 else 'are'} already an email domain of "
                           f"{other.display_name}, which requires single sign-on: a domain may belong to one such "
                           "provider only.")
    return clashes


def passed_test_sign_in(provider: IdentityProvider) -> None:
    """A Test Sign In through the provider passed every check (the lock-out guard counts it for an hour)."""
    provider.test_passed_at = utcnow()


# --- break-glass administrators ---------------------------------------------------------------------------------

def set_break_glass(user: User, on: bool) -> bool:
    """Mark or unmark a break-glass administrator (audited); whether anything changed. Refused with a reason: not an
    active administrator with a password, a fourth one, or the last one while a provider requires single sign-on."""
    if bool(user.break_glass) == on:
        return False
    if on:
        if user.id not in set(db.session.scalars(active_admins())):
            raise PolicyRefused(f"{user.username} is not an active administrator: only administrators can be "
                                "break-glass.")
        if user.password_hash is None:
            raise PolicyRefused(f"{user.username} has no password: set one first (`users set-password`), or they "
                                "could not sign in when single sign-on fails.")
        if len(break_glass_admins()) >= MAX_BREAK_GLASS:
            raise PolicyRefused(f"There are {MAX_BREAK_GLASS} break-glass administrators already; unmark one first.")
    else:
        enforcing = [p.display_name for p in _enabled() if p.enforce_sso]
        if enforcing and [u.id for u in break_glass_admins()] == [user.id]:
            raise PolicyRefused(f"{user.username} is the last break-glass administrator while "
                                f"{', '.join(enforcing)} requires single sign-on; mark another one first.")
    user.break_glass = on
    audit.record("user.break_glass_" + ("on" if on else "off"),
                 f"{user.username} {'is now' if on else 'is no longer'} a break-glass administrator", category=CONFIG,
                 target=user, changes={"break_glass": {"before": not on, "after": on}})
    return True


def record_break_glass_sign_in(user: User, client: str | None) -> None:
    """Audit a break-glass administrator's password sign-in (every administrator sees it for a week)."""
    audit.record(BREAK_GLASS_SIGN_IN, f"Break-glass administrator {user.username} signed in with a password",
                 category=ADMIN, target=user, actor=(user.id, user.username), details={"client": client})


def recent_break_glass_sign_ins() -> list[AuditEvent]:
    """Break-glass sign-ins of the last week, newest first (for the administrators' banner: the category's index
    keeps it cheap on every page)."""
    since = utcnow() - timedelta(days=BANNER_DAYS)
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.category == ADMIN,
                                                            AuditEvent.occurred_at >= since,
                                                            AuditEvent.action == BREAK_GLASS_SIGN_IN)
                                   .order_by(AuditEvent.occurred_at.desc()).limit(5)))
