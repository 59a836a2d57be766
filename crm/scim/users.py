"""SCIM Users against the CRM: one provider's users (those bound to it, JIT-created ones included), written in the
request's one transaction with an audit event naming the token and every change (before -> after).

The identity link (user_identity) is the same one the SAML sign-in resolves: NameID = userName and immutable id =
externalId, unique per provider, so SCIM and SAML always find the same person and never make two users of one.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from crm.audit import services as audit
from crm.audit.models import PROVISIONING
from crm.auth.models import User
from crm.contacts.fields import FIELDS_BY_KEY
from crm.contacts.models import Account, Contact, ContactType, Department
from crm.contacts.services import ContactInvalid, apply_values, find_lookup, validate_values
from crm.extensions import db
from crm.identity_providers.directory_groups import leave_groups
from crm.identity_providers.models import IdentityProvider
from crm.identity_providers.scim_tokens import ScimToken
from crm.provisioning.resolver import resolve
from crm.scim.errors import ScimError
from crm.scim.resources import CONTACT_KEYS, IDENTITY_KEYS, apply_patch, values_of_resource
from crm.search_keys import fold
from crm.timeutil import utcnow
from crm.users.lifecycle import SCIM, SCIM_DELETED, deactivate, grant_by_policy, reactivate
from crm.users.models import UserIdentity

MAX_USERNAME = 250
FORMER_EMPLOYEE, EMPLOYEE = "Former employee", "Employee"  # contact types: a deleted user's contact is kept


def visible(provider_id: int) -> Select:
    """The provider's users as SCIM sees them (a deleted one is gone), with what filters compare."""
    return (select(User).join(UserIdentity, UserIdentity.user_id == User.id)
            .outerjoin(Contact, Contact.id == User.contact_id)
            .outerjoin(Department, Department.id == Contact.department_id)
            .outerjoin(Account, Account.id == Contact.account_id)
            .where(UserIdentity.provider_id == provider_id,
                   or_(User.inactive_reason.is_(None), User.inactive_reason != SCIM_DELETED)))


def find(provider: IdentityProvider, user_id: str) -> User:
    """The provider's user with this id; ScimError 404 when there is none (another provider's users included)."""
    number = user_id_of(user_id)
    found = visible(provider.id).where(User.id == number).options(contains_eager(User.identity))  # (joined already)
    user = db.session.scalar(found) if number is not None else None
    if user is None:
        raise ScimError(404, f"User {user_id} not found.")
    return user


def user_id_of(value) -> int | None:
    """A user id from a SCIM id, or None when it cannot be one (not a number, beyond an INTEGER column)."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


def page(provider: IdentityProvider, condition, start: int, count: int) -> tuple[int, list[User]]:
    """The total matching and one page of them, in id order: the page's ids first, from as few tables as the filter
    needs, then those users with their identity links in one more statement (not a statement per user)."""
    if condition is None:
        total, ids = _every_user_page(provider.id, start, count)
    else:
        matching = visible(provider.id).where(condition).with_only_columns(User.id)
        ids = list(db.session.scalars(matching.order_by(User.id).offset(start - 1).limit(count))) if count else []
        if len(ids) < count and (ids or start == 1):
            total = start - 1 + len(ids)  # the last page: no need to count (a userName eq is always this)
        else:
            total = db.session.scalar(select(func.count()).select_from(matching.subquery()))
    if not ids:
        return total, []
    users = db.session.scalars(select(User).where(User.id.in_(ids)).options(joinedload(User.identity))
                               .order_by(User.id))
    return total, list(users)


def _every_user_page(provider_id: int, start: int, count: int) -> tuple[int, list[int]]:
    """A directory's import, paging through all its users: the total and the page's ids from the index
    (provider_id, user_id) alone, less the users it deleted (few, found from their own index first: SQLite would
    otherwise walk every link to find them). Joining every user to its contact for the count and walking the join
    up to a deep startIndex took up to a second at 100,000 users (bench/scim.py)."""
    deleted = select(User.id).where(User.inactive_reason == SCIM_DELETED)
    mine = UserIdentity.provider_id == provider_id
    linked = select(func.count()).select_from(UserIdentity).where(mine)
    gone = select(func.count()).select_from(UserIdentity).where(mine, UserIdentity.user_id.in_(deleted))
    every, hidden = db.session.execute(select(linked.scalar_subquery(), gone.scalar_subquery())).one()
    shown = select(UserIdentity.user_id).where(mine)
    if hidden:  # probing every row against the deleted ones costs a few ms more: only when there are some
        shown = shown.where(UserIdentity.user_id.not_in(deleted))
    ids = list(db.session.scalars(shown.order_by(UserIdentity.user_id).offset(start - 1).limit(count))) if count else []
    return every - hidden, ids


def values_of(user: User) -> dict[str, Any]:
    """The user's current CRM values, as resources.py names them."""
    c = user.contact
    values = {"userName": user.username, "externalId": user.identity.immutable_id if user.identity else None,
              "active": user.active}
    for key in CONTACT_KEYS:
        value = getattr(c, key, None) if c is not None else None
        values[key] = str(value) if value is not None and key in ("department", "account") else value
    for key in IDENTITY_KEYS:
        values[key] = getattr(user.identity, key, None) if user.identity else None
    return values


def create(provider: IdentityProvider, token: ScimToken, body: Any) -> tuple[User, bool]:
    """POST /Users: the person is looked up by the same resolver as a SAML sign-in (externalId as the immutable id,
    then userName as the NameID, then a local user of that name that may be linked). Someone new is created; a user
    this directory deleted is brought back; a local user safe to link (no password, no administrator role) is
    adopted, as their first SAML sign-in would; anyone else is a 409. Returns the user and whether it is new.

    The provider's "Link an existing account by" (email, never) is for SAML sign-ins, where the IdP's assertion is
    all we know: a directory names the account itself with userName, so SCIM always matches by userName."""
    values, ignored = values_of_resource(body)
    values.setdefault("active", True)
    username = values["userName"].strip()
    found = resolve(db.session.connection(), provider.id, provider.slug, username, values.get("externalId") or None)
    if found.refusal is not None:
        raise ScimError(409, f"{username} cannot be provisioned here: {found.refusal.reason}.", "uniqueness")
    if found.state is None:
        user = User(username=username, user_type=provider.new_user_type, active=True, source="scim",
                    created_at=utcnow())
        user.identity = UserIdentity(provider_id=provider.id, name_id=username)
        db.session.add(user)
        _write(provider, token, user, values, ignored, "scim.user_create", f"Created {username}", new=True)
        return user, True
    user = db.session.get(User, found.state.user_id)
    if not found.state.bound:
        user.identity, user.source = UserIdentity(provider_id=provider.id, name_id=username), "scim"
        _write(provider, token, user, values, ignored, "scim.user_link", f"Linked the existing user {user.username}")
        return user, False
    if user.inactive_reason != SCIM_DELETED:
        raise ScimError(409, f"{user.username} already exists for this provider (id {user.id}).", "uniqueness")
    if user.contact is not None and user.contact.type is not None \
            and user.contact.type.name_key == fold(FORMER_EMPLOYEE):
        _set_type(user.contact, EMPLOYEE)
    _write(provider, token, user, values, ignored, "scim.user_restore", f"Restored {user.username}")
    return user, False


def replace(provider: IdentityProvider, token: ScimToken, user: User, body: Any) -> None:
    """PUT /Users/{id}: every stored attribute from the resource (active kept when left out, as Okta does)."""
    values, ignored = values_of_resource(body)
    _write(provider, token, user, values, ignored, "scim.user_replace", f"Replaced {user.username}")


def patch(provider: IdentityProvider, token: ScimToken, user: User, body: Any) -> None:
    """PATCH /Users/{id}: the operations applied to the user's current values."""
    values = values_of(user)
    ignored = apply_patch(values, body)
    _write(provider, token, user, values, ignored, "scim.user_patch", f"Updated {user.username}")


def delete(provider: IdentityProvider, token: ScimToken, user: User) -> None:
    """DELETE /Users/{id}: deprovisioned (sessions ended, seats released) and hidden from SCIM; the user, the
    contact and the CRM's business records stay."""
    before = values_of(user)
    done = deactivate(user, SCIM_DELETED)
    if roles := leave_groups(provider, user.id).get(user.id):
        done["directory_roles_removed"] = roles["removed"]
    if user.contact is not None:
        done["contact_type"] = _set_type(user.contact, FORMER_EMPLOYEE)
    _audit(provider, token, user, "scim.user_delete", f"Deleted {user.username} (deprovisioned)", before, done, [])


def _write(provider: IdentityProvider, token: ScimToken, user: User, values: dict[str, Any], ignored: list[str],
           action: str, summary: str, new: bool = False) -> None:
    before = {} if new else values_of(user)
    _set_username(user, values.get("userName"))
    user.identity.immutable_id = values.get("externalId") or None
    _set_directory_facts(user, values)
    notes = _set_contact(user, values)
    db.session.flush()
    done: dict[str, Any] = {"notes": notes} if notes else {}
    active = values.get("active")
    if new and active is not False:
        done["licenses_granted"] = grant_by_policy(user, provider)
    elif active is False and (user.active or user.inactive_reason == SCIM_DELETED):
        done |= deactivate(user, SCIM)
    elif active is True and not user.active:
        done |= reactivate(user, provider)
    _audit(provider, token, user, action, summary, before, done, ignored)


def _set_username(user: User, username: Any) -> None:
    if not isinstance(username, str) or not username.strip():
        raise ScimError(400, "userName is required.", "invalidValue")
    username = username.strip()
    if len(username) > MAX_USERNAME:
        raise ScimError(400, f"userName is longer than {MAX_USERNAME} characters.", "invalidValue")
    if fold(username) != user.username_key:
        taken = db.session.scalar(select(User.id).where(User.username_key == fold(username)))
        if taken is not None and taken != user.id:
            raise ScimError(409, f"A user named {username} already exists.", "uniqueness")
    user.username = username
    user.identity.name_id = username


def _set_type(contact: Contact, name: str) -> dict[str, str | None]:
    """Mark the contact (its business records stay) with this contact type, made when the CRM has none yet."""
    before = contact.type.name if contact.type is not None else None
    kind = find_lookup("type", name)
    if kind is None:
        kind = ContactType(name=name, description="Set by the directory (SCIM) when it deletes or restores a user")
        db.session.add(kind)
    contact.type = kind
    return {"before": before, "after": kind.name}


def _set_directory_facts(user: User, values: dict[str, Any]) -> None:
    """employeeNumber and manager (the manager's SCIM id), as sent."""
    for key, limit in (("employee_number", 100), ("manager", 250)):
        if values.get(key) and len(values[key]) > limit:
            raise ScimError(400, f"{key} is longer than {limit} characters.", "invalidValue")
        setattr(user.identity, key, values.get(key))


def _set_contact(user: User, values: dict[str, Any]) -> list[str]:
    """The contact's fields from the values, checked as the contact form checks them (contacts.services): an unknown
    department is left out (and noted), an unknown organization becomes a new account; the notes."""
    with db.session.no_autoflush:  # the lookups need no flush: the contact's changes go out in one UPDATE
        return _set_contact_fields(user, values)


def _set_contact_fields(user: User, values: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    given = {key: values.get(key) for key in CONTACT_KEYS}
    if given["department"] and find_lookup("department", given["department"]) is None:
        notes.append(f'"{given["department"]}" is not a known department: left out.')
        given["department"] = None
    if given["account"] and find_lookup("account", given["account"]) is None \
            and len(given["account"]) <= FIELDS_BY_KEY["account"].max_length:
        db.session.add(Account(name=given["account"].strip()))
        db.session.flush()  # (the new account is then found by name like any other)
        notes.append(f"Account {given['account']} was created.")
    try:
        clean = validate_values(given)
    except ContactInvalid as invalid:
        raise ScimError(400, f"Invalid value: {invalid}", "invalidValue") from None
    clean["full_name"] = clean["full_name"] or " ".join(
        p for p in (clean["given_name"], clean["surname"]) if p) or user.username
    user.contact = user.contact or Contact(full_name=user.username)
    apply_values(user.contact, clean)
    return notes


def _audit(provider: IdentityProvider, token: ScimToken, user: User, action: str, summary: str,
           before: dict[str, Any], done: dict[str, Any], ignored: list[str]) -> None:
    db.session.flush()
    after = values_of(user)
    audit.record(action, f"{summary} through SCIM ({provider.slug}, token {token.id})", category=PROVISIONING,
                 actor=(None, f"scim:{provider.slug}:token {token.id}"), target=user,
                 changes=audit.diff(before, after), idp_slug=provider.slug, outcome=action.rsplit("_", 1)[1],
                 details={"token_id": token.id, **done, **({"ignored": ignored} if ignored else {})})
