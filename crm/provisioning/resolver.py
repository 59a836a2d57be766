"""Who is this person? One function for every way in (SSO and SCIM): by immutable id, by NameID, or a local user
that may be linked (by username = NameID, by email, or never: the provider's "Link an existing account by"), with the
user as the planner needs them, in one statement per lookup.

The guarantees are the database's, not this module's: a username is unique (user_account.username_key), a NameID
is bound once per provider (user_identity: provider_id + name_id_key), an immutable id once per provider
(provider_id + immutable_id), and a user has one binding (user_identity.user_id). Two concurrent first logins of
one person cannot both create a user: the second fails on one of these keys and is retried as a returning user.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import Connection, ScalarSelect, Select, bindparam, exists, func, literal, select, true

from crm.auth.models import User
from crm.auth.permissions import ADMINISTER
from crm.contacts.fields import CONTACT_FIELDS
from crm.contacts.models import Account, Contact, ContactType, Department
from crm.identity_providers.models import IdentityProvider
from crm.identity_providers.policy import LINK_BY_EMAIL, LINK_BY_USERNAME, LINK_NEVER, ProviderPolicy
from crm.licensing.models import LicenseSeat
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.plan import Denial, UserState, deny
from crm.provisioning.planner import mapped_email, mapped_value
from crm.roles.models import Role, RoleMembership, RolePermission
from crm.search_keys import fold
from crm.users.models import UserIdentity

_users, _identities, _providers = User.__table__, UserIdentity.__table__, IdentityProvider.__table__
_contacts, _memberships, _roles = Contact.__table__, RoleMembership.__table__, Role.__table__
_accounts, _types, _departments = Account.__table__, ContactType.__table__, Department.__table__
_LOOKUPS = {"account": _accounts, "type": _types, "department": _departments}
LOOKUP_TABLES = {"type": _types, "department": _departments}  # the lookups a contact field names by name
_grants = RolePermission.__table__
_ADMINISTERS = exists().where(_grants.c.role_id == _memberships.c.role_id, _grants.c.permission == ADMINISTER)


def _lookup_name(key: str) -> ScalarSelect:
    """The name of the contact's Account, Type or Department. (A subquery rather than one more outer join: PostgreSQL
    plans each sign-in's lookup again until it settles on a generic plan, and every joined table makes that planning
    dearer: nine tables took 1.5 ms to plan, these subqueries 0.6 ms.)"""
    table = _LOOKUPS[key]
    return select(table.c.name).where(table.c.id == _contacts.c[f"{key}_id"]).scalar_subquery()


_CONTACT_COLUMNS = [(_lookup_name(f.key) if f.lookup else _contacts.c[f.key]).label(f"contact_{f.key}")
                    for f in CONTACT_FIELDS]


@dataclass(frozen=True)
class Resolution:
    """The user an identity belongs to (None: someone new), or why it may not sign in as anyone."""

    state: UserState | None = None
    refusal: Denial | None = None
    binding_id: int | None = None  # the user's binding to this provider, when there is one
    stored_immutable_id: str | None = None
    # The ids of the Type and Department the mapping names, read with the lookup ((field, folded name): id or None)
    lookups: dict[tuple[str, str], int | None] = field(default_factory=dict)


def resolve_sign_in(conn: Connection, identity: SamlIdentity, policy: ProviderPolicy) -> Resolution:
    """resolve() for a SAML sign-in: the provider's immutable id attribute, its linking rule and mapped email, and the
    Type and Department its mapping rows name (a first name per field: what else they name is read when needed)."""
    named: dict[str, str] = {}
    for rule in policy.field_rules:
        if rule.field in LOOKUP_TABLES and rule.field not in named:
            value = mapped_value(identity, rule)[0] or rule.default
            if value:
                named[rule.field] = fold(value)
    return resolve(conn, policy.provider_id, policy.slug, identity.name_id,
                   identity.first(policy.immutable_id_attribute), link_by=policy.link_by,
                   email=mapped_email(identity, policy), lookup_names=named)


def resolve(conn: Connection, provider_id: int, slug: str, name_id: str, immutable_id: str | None,
            link_by: str = LINK_BY_USERNAME, email: str | None = None,
            lookup_names: dict[str, str] | None = None) -> Resolution:
    """The user bound by immutable id, else by NameID; else a local user to be linked, found by `link_by`: the user
    whose username = NameID (today's rule), whose contact email = `email` (a second statement, for a first sign-in
    only), or none (LINK_NEVER: a user named after the NameID is refused, for an administrator to link by hand).

    The immutable id wins: a NameID reassigned to someone else at the IdP never reaches the old account. Local
    users with a password or an administrator role are never linked automatically (an admin does it). Whether the
    provider may claim the account (its email domains) is the planner's rule.

    The same statement reads the ids of the lookups named in `lookup_names` ({field: folded name}).
    """
    lookup_names = lookup_names or {}
    params = {f"lookup_{key}": lookup_names.get(key) for key in LOOKUP_TABLES}
    rows = conn.execute(_BY_IMMUTABLE_ID_ELSE_NAME_ID_ELSE_USERNAME,
                        {"provider_id": provider_id, "immutable_id": immutable_id, "value": fold(name_id)} | params
                        ).all()
    found = {(key, name): getattr(rows[0], f"lookup_{key}") for key, name in lookup_names.items()}
    resolution = _resolve(conn, rows if rows[0].id is not None else [], provider_id, slug, name_id, immutable_id,
                          link_by, email)
    return replace(resolution, lookups=found)


def _resolve(conn: Connection, rows: list, provider_id: int, slug: str, name_id: str, immutable_id: str | None,
             link_by: str, email: str | None) -> Resolution:
    """resolve() from the lookup's rows (none when nobody was found)."""
    key = fold(name_id)
    if rows and immutable_id and (rows[0].bound_provider, rows[0].stored_immutable_id) == (provider_id, immutable_id):
        return _bound(rows)  # bound under the immutable id
    if rows and (rows[0].bound_provider, rows[0].bound_key) == (provider_id, key):
        if immutable_id and rows[0].stored_immutable_id and rows[0].stored_immutable_id != immutable_id:
            return Resolution(refusal=deny("username_taken", f"NameID {name_id} is bound to {rows[0].username} "
                                                             "with another immutable id: the IdP reassigned it"))
        return _bound(rows)
    if link_by == LINK_BY_EMAIL:
        return _by_email(conn, rows, slug, name_id, email)
    if not rows:
        return Resolution()
    if link_by == LINK_NEVER:
        return Resolution(refusal=deny("link_never", f"user {rows[0].username} exists and {slug} links no existing "
                                                     "account (Link an existing account by: never): an administrator "
                                                     "links it (Users → the user → Single sign-on link)"))
    return _local_user(rows, slug)


def _by_email(conn: Connection, named: list, slug: str, name_id: str, email: str | None) -> Resolution:
    """Email linking: the one user whose contact email is the mapped email attribute. Two users with that email
    and no way to tell which is this person: refused rather than guessed. A user named after the NameID whom the
    email does not point to is refused too (a new user could not take that username)."""
    if email and "@" in email:
        rows = conn.execute(_BY_EMAIL, {"value": fold(email)}).all()
        if rows and rows[0].same_email > 1:
            return Resolution(refusal=deny("link_ambiguous", f"more than one user has the email {email}: {slug} "
                                                             "links by email only when exactly one does; an "
                                                             "administrator links the right one by hand"))
        if rows:
            return _local_user(rows, slug)
    if named:
        return Resolution(refusal=deny("username_taken", f"user {named[0].username} exists (username = NameID "
                                                         f"{name_id}) but {slug} links by email and the email "
                                                         f"{email or '(none sent)'} is not that user's: an "
                                                         "administrator must link it (Users → the user → Single "
                                                         "sign-on link)"))
    return Resolution()


def _with_user(stmt: Select) -> Select:
    """The statement's rows joined with the user, contact, seat count and roles (one row per role, or one
    without): everything the planner reads of a user, in one statement."""
    seats = select(func.count()).where(LicenseSeat.__table__.c.user_id == _users.c.id).scalar_subquery()
    return (stmt.add_columns(_users.c.id, _users.c.username, _users.c.active, _users.c.inactive_reason,
                             _users.c.password_hash.is_not(None).label("has_password"), seats.label("seat_count"),
                             *_CONTACT_COLUMNS, _memberships.c.role_id, _memberships.c.source, _roles.c.name,
                             _ADMINISTERS.label("grants_admin"))
            .outerjoin(_contacts, _contacts.c.id == _users.c.contact_id)
            .outerjoin(_memberships, _memberships.c.user_id == _users.c.id)
            .outerjoin(_roles, _roles.c.id == _memberships.c.role_id))


def _user_and_binding(user_id) -> Select:
    """The user with this id and the user's binding (one per user), with what the planner reads of the user."""
    binding = select(_identities.c.id.label("binding_id"), _identities.c.provider_id.label("bound_provider"),
                     _identities.c.name_id_key.label("bound_key"),
                     _identities.c.immutable_id.label("stored_immutable_id"),
                     select(_providers.c.slug).where(_providers.c.id == _identities.c.provider_id).scalar_subquery()
                     .label("bound_to"))
    return _with_user(binding.select_from(_users.outerjoin(_identities, _identities.c.user_id == _users.c.id))
                      .where(_users.c.id == user_id))


def _bound_under(column, value: str) -> ScalarSelect:
    return (select(_identities.c.user_id)
            .where(_identities.c.provider_id == bindparam("provider_id"), column == bindparam(value))
            .scalar_subquery())


# Built once: a sign-in only binds values to it (SQLAlchemy and the server reuse the compiled statement). It finds
# the user bound under the immutable id or, when there is none, under the NameID or, when there is none, the user
# named after it: one round trip, a first login's too (COALESCE looks no further than the first it finds).
# It also reads the ids of a Type and a Department by name (what a new user's contact needs; None when there is none
# of that name), so it always returns a row: one without a user (id None) when there is nobody to find.
_FOUND = _user_and_binding(func.coalesce(
    _bound_under(_identities.c.immutable_id, "immutable_id"),
    _bound_under(_identities.c.name_id_key, "value"),
    select(_users.c.id).where(_users.c.username_key == bindparam("value")).scalar_subquery())).subquery("found")
_BY_IMMUTABLE_ID_ELSE_NAME_ID_ELSE_USERNAME = select(
    *(select(table.c.id).where(table.c.name_key == bindparam(f"lookup_{key}")).scalar_subquery()
      .label(f"lookup_{key}") for key, table in LOOKUP_TABLES.items()), *_FOUND.c
).select_from(select(literal(1).label("one")).subquery("one").outerjoin(_FOUND, true()))
# Email linking: the user whose contact has this email (ix_contact_email_key_id, then user_account's unique
# contact_id) and how many users have it, counted no further than 2: one statement, two index seeks.
_WITH_EMAIL = select(_users.c.id).join(_contacts, _contacts.c.id == _users.c.contact_id) \
    .where(_contacts.c.email_key == bindparam("value"))
_BY_EMAIL = _user_and_binding(_WITH_EMAIL.order_by(_users.c.id).limit(1).correlate(None).scalar_subquery()).add_columns(
    select(func.count()).select_from(_WITH_EMAIL.limit(2).subquery()).correlate(None).scalar_subquery()
    .label("same_email"))


def _state(rows: list, bound: bool) -> UserState:
    first = rows[0]
    contact = {f.key: first._mapping[f"contact_{f.key}"] for f in CONTACT_FIELDS} if first.contact_full_name \
        is not None else {}
    return UserState(user_id=first.id, username=first.username, active=first.active, bound=bound, contact=contact,
                     roles={r.role_id: (r.source, r.name) for r in rows if r.role_id is not None},
                     license_count=first.seat_count, inactive_reason=first.inactive_reason)


def _bound(rows: list) -> Resolution:
    return Resolution(_state(rows, bound=True), binding_id=rows[0].binding_id,
                      stored_immutable_id=rows[0].stored_immutable_id)


def _local_user(rows: list, slug: str) -> Resolution:
    """A user named after the NameID and not bound under it here: linked, if that is safe."""
    first, state = rows[0], _state(rows, bound=False)
    if first.binding_id is not None:
        return Resolution(refusal=deny("other_idp", f"user {state.username} is bound to identity provider "
                                                    f"{first.bound_to}; not taken over by {slug}"))
    if first.has_password or any(r.grants_admin for r in rows):  # a local password, or an administrator role
        return Resolution(refusal=deny("username_taken", f"user {state.username} has a local password or an "
                                                         "administrator role: an administrator must link it (Users → "
                                                         "the user → Single sign-on link)"))
    return Resolution(state)
