"""Applying a plan: matching the user, writing user, contact, seats, roles and the audit event in one
transaction. Everything or nothing."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload

from crm.accounts.services import find_or_create
from crm.audit import services as audit
from crm.audit.models import PROVISIONING, AuditEvent
from crm.auth.models import User
from crm.contacts.models import Contact
from crm.contacts.services import LOOKUP_MODELS, contact_values, find_lookup
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.identity_providers.policy import ProviderPolicy
from crm.identity_providers.services import cached_policy
from crm.licensing.models import LicensePackage, LicenseSeat
from crm.licensing.services import NoSeatLeft, take_seat
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.plan import CREATE, DENY, Plan, UserState, deny
from crm.provisioning.planner import plan_sign_in
from crm.roles.models import SSO, RoleMembership
from crm.search_keys import fold
from crm.timeutil import utcnow
from crm.users.models import UserIdentity

ACTOR = (None, "sso")


@dataclass(frozen=True)
class Outcome:
    """What happened: the user to sign in (None when refused), the event's outcome and reference."""

    user_id: int | None
    outcome: str  # created, updated, unchanged, denied
    reference: str
    denial_message: str | None = None
    denial_code: str | None = None
    user: User | None = field(default=None, repr=False, compare=False)  # loaded, to sign in without a SELECT


class Match:
    """The user an identity belongs to, or a refusal when it belongs to someone else."""

    def __init__(self, user: User | None = None, bound: bool = False, refusal=None, seat_count: int | None = None):
        self.user, self.bound, self.refusal, self.seat_count = user, bound, refusal, seat_count


def _binding(*criteria) -> tuple[UserIdentity | None, int | None]:
    """The binding with what the planner reads of its user (contact, roles, seat count) in one statement."""
    seat_count = select(func.count()).where(LicenseSeat.user_id == UserIdentity.user_id).scalar_subquery()
    row = db.session.execute(select(UserIdentity, seat_count).where(*criteria).options(
        lazyload(UserIdentity.provider), joinedload(UserIdentity.user).joinedload(User.memberships))).unique().first()
    return (row[0], row[1]) if row else (None, None)


def match_user(identity: SamlIdentity, policy: ProviderPolicy) -> Match:
    """The user bound by immutable id, else by NameID; else a local user with username = NameID, linked.

    The immutable id wins: a NameID reassigned to someone else at the IdP never reaches the old account.
    Local users with a password or an administrator role are never linked automatically (an admin does it).
    """
    immutable = identity.first(policy.immutable_id_attribute)
    if immutable:
        binding, seats = _binding(UserIdentity.provider_id == policy.provider_id,
                                  UserIdentity.immutable_id == immutable)
        if binding is not None:
            return Match(binding.user, bound=True, seat_count=seats)
    key = fold(identity.name_id)
    binding, seats = _binding(UserIdentity.provider_id == policy.provider_id, UserIdentity.name_id_key == key)
    if binding is not None:
        if immutable and binding.immutable_id and binding.immutable_id != immutable:
            return Match(refusal=deny("username_taken", f"NameID {identity.name_id} is bound to {binding.user.username}"
                                                        f" with another immutable id: the IdP reassigned it"))
        return Match(binding.user, bound=True, seat_count=seats)
    user = db.session.scalar(select(User).where(User.username_key == key))
    if user is None:
        return Match()
    bound_to = (user.identity.provider_id, user.identity.name_id_key) if user.identity else None
    if bound_to == (policy.provider_id, key):
        return Match(user, bound=True)  # bound by a concurrent first login between the two queries above
    if user.identity is not None:
        return Match(refusal=deny("other_idp", f"user {user.username} is bound to identity provider "
                                               f"{user.identity.provider.slug}; not taken over by {policy.slug}"))
    if user.password_hash or user.is_admin:
        return Match(refusal=deny("username_taken", f"user {user.username} has a local password or an administrator "
                                                    "role: an administrator must link it (Users → the user → "
                                                    "Single sign-on link)"))
    return Match(user, bound=False)


def user_state(user: User, bound: bool, seat_count: int | None = None) -> UserState:
    """Snapshot of the user for the planner."""
    return UserState(
        user_id=user.id, username=user.username, active=user.active, bound=bound,
        contact=contact_values(user.contact) if user.contact else {},
        roles={m.role_id: (m.source, m.role.name) for m in user.memberships},
        license_count=len(user.seats) if seat_count is None else seat_count,
    )


class Lookups:
    """Type and Department rows by name, each read once per sign-in (the planner asks, the writer uses)."""

    def __init__(self):
        self._found: dict[tuple[str, str], object] = {}

    def get(self, field: str, name: str):
        key = (field, fold(name))
        if key not in self._found:
            self._found[key] = find_lookup(field, name)
        return self._found[key]

    def exists(self, field: str, name: str) -> bool:
        return self.get(field, name) is not None


def provision(identity: SamlIdentity, provider: IdentityProvider, *, first: Callable[[], None] | None = None,
              then: Callable[[Outcome], None] | None = None) -> Outcome:
    """Plan and apply one SSO sign-in in one transaction; a concurrent first login of the same person is retried
    as a known user. The caller's `first` and `then` write what it keeps of the sign-in in the same transaction.

    Three tries: a first login can collide twice (on a new account's name, then on the username).
    """
    for attempt in (1, 2, 3):
        try:
            if first is not None:
                first()
            outcome = _provision_once(identity, cached_policy(provider))
            if then is not None:
                then(outcome)
            _commit_keeping_loaded()
            return outcome
        except IntegrityError:
            db.session.rollback()
            if attempt == 3:
                raise
            provider = db.session.get(IdentityProvider, provider.id)
    raise AssertionError("unreachable")


def _commit_keeping_loaded() -> None:
    """Commit without expiring what is loaded: the caller signs in the user just written (no SELECT to reload)."""
    session = db.session()
    keep, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def _provision_once(identity: SamlIdentity, policy: ProviderPolicy) -> Outcome:
    match = match_user(identity, policy)
    if match.refusal:
        return _record_denial(identity, policy, Plan(action=DENY, username=identity.name_id,
                                                      denial=match.refusal), match.user)
    lookups = Lookups()
    state = user_state(match.user, match.bound, match.seat_count) if match.user else None
    plan = plan_sign_in(identity, policy, state, lookups.exists)
    if plan.action == DENY:
        return _record_denial(identity, policy, plan, match.user)
    immutable = identity.first(policy.immutable_id_attribute)
    with db.session.no_autoflush:  # user, identity and contact go to the database together
        if plan.action == CREATE:
            user = User(username=identity.name_id, user_type=policy.user_type, active=True, last_login_at=utcnow(),
                        contact=Contact(full_name=""))
            db.session.add(user)
        else:
            user = match.user
            user.last_login_at = utcnow()
        if plan.link or plan.action == CREATE:
            db.session.add(UserIdentity(user=user, provider_id=policy.provider_id, name_id=identity.name_id,
                                        immutable_id=immutable))
        elif immutable and user.identity.immutable_id is None:
            user.identity.immutable_id = immutable  # bound before the IdP sent one: remember it from now on
        _write_contact(user, plan, lookups)
    if plan.action == CREATE or plan.link:
        db.session.flush()  # a concurrent first login of the same person fails here (unique username): retried
    packages = _relevant_packages(policy) if plan.grant_licenses else []
    granted, seat_notes = _grant_licenses(user, packages)
    plan.notes += seat_notes
    _write_roles(user, plan)
    no_seat = bool(packages and not granted)  # seats are granted only to users who hold none
    if plan.action == CREATE:
        outcome = "created"
    elif plan.link or plan.field_changes or plan.roles_add or plan.roles_remove or granted:
        outcome = "updated"
    else:
        outcome = "unchanged"
    if no_seat:
        plan.denial = deny("no_seat", "no license package had a free seat")
    event = _record(identity, policy, plan, user, "denied" if no_seat else outcome, granted)
    if no_seat:
        return Outcome(None, "denied", event.reference, plan.denial.message, "no_seat")
    return Outcome(user.id, outcome, event.reference, user=user)


def _write_contact(user: User, plan: Plan, lookups: Lookups) -> None:
    if user.contact is not None and user.contact.full_name and not plan.contact:
        return  # nothing changes: no statement at all
    contact = user.contact or Contact(full_name="")
    user.contact = contact
    for key, value in plan.contact.items():
        if key == "account":
            account, created = find_or_create(value) if value else (None, False)
            if created:
                plan.notes.append(f"Account {value} was created.")
            contact.account = account
        elif key in LOOKUP_MODELS:
            setattr(contact, key, lookups.get(key, value) if value else None)
        else:
            setattr(contact, key, value)
    if not contact.full_name:
        contact.full_name = " ".join(p for p in (contact.given_name, contact.surname) if p) or user.username


def _relevant_packages(policy: ProviderPolicy) -> list[LicensePackage]:
    stmt = select(LicensePackage).order_by(LicensePackage.name_key)
    if not policy.all_licenses:
        stmt = stmt.where(LicensePackage.id.in_(policy.package_ids))
    return list(db.session.scalars(stmt))


def _grant_licenses(user: User, packages: list[LicensePackage]) -> tuple[list[str], list[str]]:
    """A seat in each package that has a free one (for a user who holds none)."""
    granted, notes = [], []
    for package in packages:
        try:
            if take_seat(user, package, "sso", known_free=True):
                granted.append(package.name)
        except NoSeatLeft:
            notes.append(f"No free seat in {package.name}.")
    if packages:
        db.session.expire(user, ["seats"])
    return granted, notes


def _write_roles(user: User, plan: Plan) -> None:
    if not (plan.roles_add or plan.roles_remove):
        return
    for role_id in plan.roles_remove:
        membership = db.session.get(RoleMembership, (user.id, role_id))
        if membership is not None and membership.source == SSO:
            db.session.delete(membership)
    for role_id in plan.roles_add:
        db.session.add(RoleMembership(user_id=user.id, role_id=role_id, source=SSO))
    db.session.expire(user, ["memberships"])


def _details(identity: SamlIdentity, plan: Plan, granted: list[str]) -> dict:
    return {
        "attributes": {name: list(values) for name, values in identity.attributes.items()},
        "name_id_format": identity.name_id_format,
        "assertion_id": identity.assertion_id,
        "licenses_granted": granted,
        "roles_added": sorted(plan.roles_add.values()),
        "roles_removed": sorted(plan.roles_remove.values()),
        "notes": plan.notes,
    }


def _record(identity: SamlIdentity, policy: ProviderPolicy, plan: Plan, user: User | None, outcome: str,
            granted: list[str]) -> AuditEvent:
    changes = {k: {"before": v["before"], "after": v["after"]} for k, v in plan.field_changes.items()}
    verb = {"created": "Created", "updated": "Updated", "unchanged": "Signed in", "denied": "Refused"}[outcome]
    about = {"target": user} if user else {"target_type": "User", "target_label": identity.name_id[:250]}
    return audit.record(
        "sso.sign_in", f"{verb} {identity.name_id} through {policy.slug}", category=PROVISIONING, actor=ACTOR,
        changes=changes, details=_details(identity, plan, granted), idp_slug=policy.slug,
        name_id=identity.name_id[:250],
        outcome=outcome, reason=plan.denial.reason if plan.denial else "; ".join(plan.notes) or None, **about,
    )


def _record_denial(identity: SamlIdentity, policy: ProviderPolicy, plan: Plan, user: User | None) -> Outcome:
    event = _record(identity, policy, plan, user, "denied", [])
    return Outcome(None, "denied", event.reference, plan.denial.message, plan.denial.code)
