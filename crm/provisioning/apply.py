"""Applying a plan: the user, its binding, contact, roles and seats, written with plain SQL statements in the
caller's transaction (the sign-in owner commits, with its replay record, attempt and audit event).

Seats come last, so that a first login holds a license package's row lock only from its seat to the commit.
A concurrent first login of the same person fails here on a unique key (username, NameID binding, a new account's
name) and the owner retries the whole sign-in as a returning user.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    CTE,
    BindParameter,
    Connection,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)

from crm.auth.models import User
from crm.contacts.fields import FIELDS_BY_KEY
from crm.contacts.models import Account, Contact
from crm.identity_providers.policy import ProviderPolicy
from crm.licensing.seats import grant_free_seats
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.plan import CREATE, Plan
from crm.provisioning.resolver import LOOKUP_TABLES, Resolution
from crm.roles.models import SSO, RoleMembership
from crm.search_keys import ASCII_WHITESPACE, fold
from crm.users.models import UserIdentity

_users, _identities, _contacts = User.__table__, UserIdentity.__table__, Contact.__table__
_memberships = RoleMembership.__table__
_accounts = Account.__table__
GRANTED_BY = "sso"
NO_FREE_SEAT = "No free seat in {}."  # the note for each package offered that had no free seat

# Built once: a sign-in only binds values to them (building a statement costs more than running it on SQLite).
_LOOKUP_ID = {key: select(t.c.id).where(t.c.name_key == bindparam("b_key")) for key, t in LOOKUP_TABLES.items()}
_ACCOUNT_ID = select(_accounts.c.id).where(_accounts.c.name_key == bindparam("b_key"))
_INSERT_ACCOUNT = insert(_accounts).returning(_accounts.c.id)
_INSERT_CONTACT = insert(_contacts).returning(_contacts.c.id)
_INSERT_USER = insert(_users).returning(_users.c.id)
_INSERT_IDENTITY = insert(_identities)
_GIVE_CONTACT = update(_users).where(_users.c.id == bindparam("b_user_id")).values(contact_id=bindparam("b_contact"))
_UPDATE_CONTACT = update(_contacts).where(  # the columns to set are the parameters' other keys
    _contacts.c.id == select(_users.c.contact_id).where(_users.c.id == bindparam("b_user_id")).scalar_subquery())
_REMEMBER_IMMUTABLE_ID = (update(_identities).where(_identities.c.id == bindparam("b_id"))
                          .values(immutable_id=bindparam("b_immutable_id")))
_REACTIVATE = (update(_users).where(_users.c.id == bindparam("b_user_id"))
               .values(active=True, inactive_reason=None, reactivated_at=bindparam("b_now")))
_ADD_MEMBERS = insert(_memberships)
_REMOVE_SSO_MEMBERS = delete(_memberships).where(_memberships.c.user_id == bindparam("b_user_id"),
                                                 _memberships.c.source == SSO,
                                                 _memberships.c.role_id.in_(bindparam("b_roles", expanding=True)))


@dataclass
class AppliedPlan:
    """What applying the plan did beyond the plan itself: the user's id, seats granted, accounts created."""

    user_id: int
    licenses_granted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    no_seat: bool = False  # the plan granted licenses, but no package had a free seat


class Lookups:
    """Type and Department ids by name, each read once per sign-in (the planner asks, the writer uses); those the
    resolver read with its lookup are known from the start."""

    def __init__(self, conn: Connection, known: dict[tuple[str, str], int | None] | None = None):
        self._conn = conn
        self._found: dict[tuple[str, str], int | None] = dict(known or {})

    def id(self, field_key: str, name: str) -> int | None:
        """The id of the Type or Department with this name (case-insensitive), or None."""
        key = (field_key, fold(name))
        if key not in self._found:
            self._found[key] = self._conn.scalar(_LOOKUP_ID[field_key], {"b_key": key[1]})
        return self._found[key]

    def exists(self, field_key: str, name: str) -> bool:
        """True when a Type or Department with this name exists."""
        return self.id(field_key, name) is not None


def writes_anything(plan: Plan, identity: SamlIdentity, policy: ProviderPolicy, resolution: Resolution) -> bool:
    """Whether applying the plan writes anything (else the sign-in writes only its closing records, which is one
    statement). Follows apply_plan branch by branch; a test holds the two together."""
    if (plan.action == CREATE or plan.link or plan.roles_add or plan.roles_remove or plan.grant_licenses
            or plan.reactivate):
        return True
    if not (resolution.state and resolution.state.contact) or plan.contact:
        return True
    immutable_id = identity.first(policy.immutable_id_attribute)
    return bool(immutable_id and resolution.binding_id and resolution.stored_immutable_id is None)


def apply_plan(conn: Connection, plan: Plan, identity: SamlIdentity, policy: ProviderPolicy,
               resolution: Resolution, lookups: Lookups, now: datetime) -> AppliedPlan:
    """Write what the plan decided (not for a denial); seats last."""
    immutable_id = identity.first(policy.immutable_id_attribute)
    notes: list[str] = []
    current = resolution.state.contact if resolution.state else None
    if plan.action == CREATE:  # (a sign-in on PostgreSQL writes a new user in one statement: sso/first_login.py)
        contact_id = conn.execute(_INSERT_CONTACT, new_contact_row(conn, plan, lookups, notes, now)).scalar_one()
        username = _username(plan.username)
        user_id = conn.execute(_INSERT_USER, {
            "username": username, "username_key": fold(username), "user_type": policy.user_type, "active": True,
            "contact_id": contact_id, "created_at": now, "last_login_at": now}).scalar_one()
    else:  # (the sign-in's owner stamps a returning user's time of sign-in with its own records)
        user_id = plan.user_id
        if not current:  # a user without a contact gets one
            contact_id = conn.execute(_INSERT_CONTACT, new_contact_row(conn, plan, lookups, notes, now)).scalar_one()
            conn.execute(_GIVE_CONTACT, {"b_user_id": user_id, "b_contact": contact_id})
        elif plan.contact:
            conn.execute(_UPDATE_CONTACT, {"b_user_id": user_id,
                                           **_contact_row(conn, plan, current, lookups, notes, now)})
    if plan.action == CREATE or plan.link:
        conn.execute(_INSERT_IDENTITY, {"user_id": user_id, "provider_id": policy.provider_id,
                                        "name_id": _username(identity.name_id), "name_id_key": fold(identity.name_id),
                                        "immutable_id": immutable_id, "created_at": now})
    elif immutable_id and resolution.binding_id and resolution.stored_immutable_id is None:
        # bound before the IdP sent one: remember it from now on
        conn.execute(_REMEMBER_IMMUTABLE_ID, {"b_id": resolution.binding_id, "b_immutable_id": immutable_id})
    if plan.reactivate:  # a dormant user comes back; the dormant clock starts over
        conn.execute(_REACTIVATE, {"b_user_id": user_id, "b_now": now})
    _write_roles(conn, plan, user_id, now)
    applied = AppliedPlan(user_id, notes=notes)
    if plan.grant_licenses:
        _grant_seats(conn, policy, applied, now)
    return applied


def new_contact_row(conn: Connection, plan: Plan, lookups: Lookups, notes: list[str], now: datetime,
                    before_writing: Callable[[], None] | None = None) -> dict:
    """A new user's contact columns: an account the mapping names is found, or created (`before_writing` is called
    first) and noted in `notes`."""
    return {"name_key": "", "surname_key": "", "email_key": "", "created_at": now,
            **_contact_row(conn, plan, {}, lookups, notes, now, before_writing)}


def creation_params(plan: Plan, identity: SamlIdentity, policy: ProviderPolicy, contact: dict,
                    now: datetime) -> dict:
    """The parameters of creation_ctes: the contact's columns (c_*), the user's (u_*), the binding's (i_*), the
    roles' ids and the time."""
    username = _username(plan.username)
    return {f"c_{k}": v for k, v in contact.items()} | {
        "u_username": username, "u_username_key": fold(username), "u_user_type": policy.user_type, "now": now,
        "i_provider_id": policy.provider_id, "i_name_id": _username(identity.name_id),
        "i_name_id_key": fold(identity.name_id), "i_immutable_id": identity.first(policy.immutable_id_attribute),
        "role_ids": sorted(plan.roles_add)}


@dataclass(frozen=True)
class CreationCtes:
    """A new user's contact, user (id), binding and roles as data-modifying CTEs of one statement."""

    user: CTE
    others: tuple[CTE, ...]


def creation_ctes(contact_columns: tuple[str, ...], after: CTE | None = None) -> CreationCtes:
    """The new user's CTEs for this set of contact columns (creation_params gives their values); with `after`, nothing
    is written unless that CTE has a row."""
    values = select(*(_bind(f"c_{k}", _contacts.c[k]) for k in contact_columns))
    contact = (insert(_contacts).from_select(list(contact_columns), values if after is None
                                             else values.select_from(after))
               .returning(_contacts.c.id).cte("new_contact"))
    user = (insert(_users).from_select(
        ["username", "username_key", "user_type", "active", "contact_id", "created_at", "last_login_at"],
        select(_bind("u_username", _users.c.username), _bind("u_username_key", _users.c.username_key),
               _bind("u_user_type", _users.c.user_type), true(), contact.c.id, _bind("now", _users.c.created_at),
               _bind("now", _users.c.created_at)))
            .returning(_users.c.id).cte("new_user"))
    binding = insert(_identities).from_select(
        ["user_id", "provider_id", "name_id", "name_id_key", "immutable_id", "created_at"],
        select(user.c.id, _bind("i_provider_id", _identities.c.provider_id),
               _bind("i_name_id", _identities.c.name_id), _bind("i_name_id_key", _identities.c.name_id_key),
               _bind("i_immutable_id", _identities.c.immutable_id), _bind("now", _identities.c.created_at))
    ).cte("new_binding")
    role_ids = (func.unnest(bindparam("role_ids", type_=ARRAY(Integer))).table_valued("role_id")
                .render_derived(name="mapped"))
    roles = insert(_memberships).from_select(
        ["user_id", "role_id", "source", "created_at"],
        select(user.c.id, role_ids.c.role_id, literal(SSO), _bind("now", _memberships.c.created_at))
        .select_from(user.join(role_ids, true()))).cte("new_roles")
    return CreationCtes(user, (contact, binding, roles))


def _bind(name: str, column) -> BindParameter:
    return bindparam(name, type_=column.type)




def _username(value: str) -> str:
    return value.strip(ASCII_WHITESPACE)


def _contact_row(conn: Connection, plan: Plan, current: dict, lookups: Lookups, notes: list[str],
                 now: datetime, before_writing: Callable[[], None] | None = None) -> dict:
    """The contact columns to write: lookups by name (an unknown account is created), the full name made from the
    given name and surname (else the username) when it would be empty, and the folded search keys."""
    values: dict = {"updated_at": now}
    for key, value in plan.contact.items():
        if key == "account":
            values["account_id"] = _find_or_create_account(conn, value, notes, now, before_writing) \
                if value else None
        elif FIELDS_BY_KEY[key].lookup:
            values[f"{key}_id"] = lookups.id(key, value) if value else None
        else:
            values[key] = value
    names = {k: values[k] if k in values else current.get(k) for k in ("full_name", "given_name", "surname")}
    if not names["full_name"]:
        values["full_name"] = " ".join(p for p in (names["given_name"], names["surname"]) if p) or plan.username
    for source, key in (("full_name", "name_key"), ("surname", "surname_key"), ("email", "email_key")):
        if source in values:
            values[key] = fold(values[source])
    return values


def _find_or_create_account(conn: Connection, name: str, notes: list[str], now: datetime,
                            before_writing: Callable[[], None] | None = None) -> int:
    name = name.strip(ASCII_WHITESPACE)
    found = conn.scalar(_ACCOUNT_ID, {"b_key": fold(name)})
    if found is not None:
        return found
    if before_writing:
        before_writing()
    notes.append(f"Account {name} was created.")
    return conn.execute(_INSERT_ACCOUNT, {"name": name, "name_key": fold(name), "created_at": now}).scalar_one()


def _write_roles(conn: Connection, plan: Plan, user_id: int, now: datetime) -> None:
    if plan.roles_remove:
        conn.execute(_REMOVE_SSO_MEMBERS, {"b_user_id": user_id, "b_roles": list(plan.roles_remove)})
    if plan.roles_add:
        conn.execute(_ADD_MEMBERS, [{"user_id": user_id, "role_id": role_id, "source": SSO, "created_at": now}
                                    for role_id in plan.roles_add])


def _grant_seats(conn: Connection, policy: ProviderPolicy, applied: AppliedPlan, now: datetime) -> None:
    """A seat in each package the policy grants that has a free one (licensing.seats: the one way every way in takes
    seats)."""
    seats = grant_free_seats(conn, applied.user_id, None if policy.all_licenses else policy.package_ids, GRANTED_BY,
                             now)
    applied.licenses_granted = seats.granted
    applied.notes += [NO_FREE_SEAT.format(name) for name in seats.full]
    applied.no_seat = seats.no_seat
