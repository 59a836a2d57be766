"""SCIM Groups against the CRM: the provider's directory groups, their members (the provider's SCIM-visible users)
and the roles the lookup "SAML groups to user roles" gives them (crm.identity_providers.directory_groups).

Directories send members in several dialects, all accepted: Okta's `replace members []` and path-less replace of
the display name, Entra's member removal as a value list (`{"op": "Remove", "path": "members", "value": [...]}`),
RFC 7644's `members[value eq "…"]` path, and the extra Microsoft schema URN on creation. A member this provider's
directory does not have (never pushed, deleted, another provider's user, not an id) is skipped and named in the
audit event instead of failing the whole request.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from sqlalchemy import Select, func, select

from crm.audit import services as audit
from crm.audit.models import PROVISIONING
from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers.directory_groups import (
    MAX_NAME,
    DirectoryGroup,
    add_members,
    member_ids,
    members,
    remove_members,
    sync_roles,
)
from crm.identity_providers.models import IdentityProvider
from crm.identity_providers.scim_tokens import ScimToken
from crm.scim.errors import ScimError
from crm.scim.users import user_id_of, visible
from crm.timeutil import utcnow

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_LISTED = 50  # members named in one audit event; the counts are always whole
_MEMBER_PATH = re.compile(r'^members\[\s*value\s+eq\s+"([^"]*)"\s*\]$', re.IGNORECASE)


def visible_groups(provider_id: int) -> Select:
    """The provider's groups as SCIM sees them."""
    return select(DirectoryGroup).where(DirectoryGroup.provider_id == provider_id)


def find(provider: IdentityProvider, group_id: str) -> DirectoryGroup:
    """The provider's group with this id; ScimError 404 when there is none (another provider's groups included)."""
    number = user_id_of(group_id)
    group = db.session.scalar(visible_groups(provider.id).where(DirectoryGroup.id == number)) \
        if number is not None else None
    if group is None:
        raise ScimError(404, f"Group {group_id} not found.")
    return group


def page(provider: IdentityProvider, condition, start: int, count: int) -> tuple[int, list[DirectoryGroup]]:
    """The total matching and one page of them, in id order."""
    stmt = visible_groups(provider.id)
    if condition is not None:
        stmt = stmt.where(condition)
    total = db.session.scalar(select(func.count()).select_from(stmt.with_only_columns(DirectoryGroup.id).subquery()))
    groups = list(db.session.scalars(stmt.order_by(DirectoryGroup.id).offset(start - 1).limit(count))) \
        if count else []
    return total, groups


def group_resource(group: DirectoryGroup, base: str, with_members: bool = True) -> dict[str, Any]:
    """The group as a SCIM Group resource (members only when asked for: a big group's list is costly)."""
    body: dict[str, Any] = {"schemas": [GROUP], "id": str(group.id), "displayName": group.display_name}
    if group.external_id:
        body["externalId"] = group.external_id
    if with_members:
        body["members"] = [{"value": str(uid), **({"display": name} if name else {}), "type": "User",
                            "$ref": f"{base}/Users/{uid}"} for uid, name in members(group)]
    version = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    body["meta"] = {"resourceType": "Group", "created": _iso(group.created_at), "lastModified": _iso(group.updated_at),
                    "location": f"{base}/Groups/{group.id}", "version": f'W/"{version}"'}
    return body


def _iso(moment) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


class _Change:
    """What one request does to a group: its name, its members (added, removed, skipped) and the roles it moves."""

    def __init__(self, provider: IdentityProvider, group: DirectoryGroup):
        self.provider, self.group = provider, group
        self.before = {"displayName": group.display_name, "externalId": group.external_id} if group.id else {}
        self.added: list[int] = []
        self.removed: list[int] = []
        self.skipped: list[str] = []

    def name(self, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ScimError(400, "displayName is required and must be a string.", "invalidValue")
        if len(value.strip()) > MAX_NAME:
            raise ScimError(400, f"displayName is longer than {MAX_NAME} characters.", "invalidValue")
        self.group.display_name = value.strip()

    def external_id(self, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            raise ScimError(400, "externalId must be a string.", "invalidValue")
        if value and len(value) > MAX_NAME:
            raise ScimError(400, f"externalId is longer than {MAX_NAME} characters.", "invalidValue")
        self.group.external_id = value or None

    def _users(self, items: Any) -> dict[int, str | None]:
        """The provider's users the member list names (id -> the display name sent); the rest skipped (and noted):
        groups in groups among them, which the CRM's roles do not nest."""
        if items is None:
            return {}
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise ScimError(400, "members takes a list of {\"value\": user id} objects.", "invalidValue")
        wanted: dict[int, tuple[str, str | None]] = {}
        for item in items:
            value = item.get("value") if isinstance(item, dict) else item
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise ScimError(400, "Each member needs a \"value\": the user's id.", "invalidValue")
            entry = item if isinstance(item, dict) else {}
            display = entry.get("display") if isinstance(entry.get("display"), str) else None
            number = user_id_of(value)
            if number is None or str(entry.get("type", "")).lower() == "group" \
                    or "/groups/" in str(entry.get("$ref") or "").lower():
                self.skipped.append(str(value))
            else:
                wanted[number] = (str(value), display[:MAX_NAME] if display else None)
        found = set(db.session.scalars(visible(self.provider.id).with_only_columns(User.id)
                                       .where(User.id.in_(list(wanted))))) if wanted else set()
        self.skipped += [text for number, (text, _display) in wanted.items() if number not in found]
        return {number: wanted[number][1] for number in sorted(found)}

    def add(self, items: Any) -> None:
        added = add_members(self.group, self._users(items))
        self.added += added
        self.removed = [i for i in self.removed if i not in added]

    def remove(self, items: Any | None) -> None:
        """Take these members out (None: every member)."""
        gone = remove_members(self.group, None if items is None else self._users(items))
        self.removed += gone
        self.added = [i for i in self.added if i not in gone]

    def replace(self, items: Any) -> None:
        keep = self._users(items)
        gone = remove_members(self.group, [i for i in member_ids(self.group) if i not in keep])
        self.removed += gone
        self.added = [i for i in self.added if i not in gone]
        self.added += add_members(self.group, keep)

    def finish(self, token: ScimToken, action: str, summary: str, deleted: bool = False) -> None:
        """Work the members' roles out again and write the audit event."""
        after = {} if deleted else {"displayName": self.group.display_name, "externalId": self.group.external_id}
        changes = audit.diff(self.before, after)
        affected = self.added + self.removed
        if self.before and not deleted and changes:  # a new name or external id may map to other roles
            affected += member_ids(self.group)
        if not deleted:
            self.group.updated_at = utcnow()
        db.session.flush()
        moved = sync_roles(self.provider, affected)
        names = dict(db.session.execute(select(User.id, User.username)
                                        .where(User.id.in_(self.added + self.removed + list(moved)))).all())
        if self.added:
            changes["members_added"] = {"before": None, "after": _listed([names[i] for i in self.added])}
        if self.removed:
            changes["members_removed"] = {"before": _listed([names[i] for i in self.removed]), "after": None}
        details: dict[str, Any] = {"token_id": token.id, "members_added": len(self.added),
                                   "members_removed": len(self.removed)}
        if self.skipped:
            details["members_skipped"] = _listed(self.skipped)
            details["members_skipped_reason"] = ("not a user this provider's directory has pushed (deleted, another "
                                                  "provider's, or a group: groups do not nest)")
        if moved:
            details["roles"] = {names[u]: change for u, change in list(moved.items())[:MAX_LISTED]}
        slug = self.provider.slug
        audit.record(action, f"{summary} through SCIM ({slug}, token {token.id})", category=PROVISIONING,
                     actor=(None, f"scim:{slug}:token {token.id}"), target=self.group, changes=changes,
                     idp_slug=slug, outcome=action.rsplit("_", 1)[1], details=details)


def _listed(items: list[str]) -> list[str]:
    return items[:MAX_LISTED] + ([f"… and {len(items) - MAX_LISTED} more"] if len(items) > MAX_LISTED else [])


def _resource_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ScimError(400, "The request body must be a JSON object.", "invalidSyntax")
    return body


def create(provider: IdentityProvider, token: ScimToken, body: Any) -> DirectoryGroup:
    """POST /Groups: a new group (Entra adds a Microsoft schema URN to `schemas`: accepted), with its members."""
    body = _resource_body(body)
    now = utcnow()
    group = DirectoryGroup(provider_id=provider.id, created_at=now, updated_at=now)
    change = _Change(provider, group)
    change.name(body.get("displayName"))
    change.external_id(body.get("externalId"))
    db.session.add(group)
    db.session.flush()
    change.add(body.get("members"))
    change.finish(token, "scim.group_create", f"Created group {group.display_name}")
    return group


def replace(provider: IdentityProvider, token: ScimToken, group: DirectoryGroup, body: Any) -> None:
    """PUT /Groups/{id}: the name, external id and members from the resource (no members: none)."""
    body = _resource_body(body)
    change = _Change(provider, group)
    change.name(body.get("displayName"))
    change.external_id(body.get("externalId"))
    change.replace(body.get("members") or [])
    change.finish(token, "scim.group_replace", f"Replaced group {group.display_name}")


def patch(provider: IdentityProvider, token: ScimToken, group: DirectoryGroup, body: Any) -> None:
    """PATCH /Groups/{id}: add, replace and remove members and the name, in every dialect directories use."""
    if not isinstance(body, dict) or not isinstance(body.get("Operations"), list) or not body["Operations"]:
        raise ScimError(400, "A PatchOp needs a list of Operations.", "invalidSyntax")
    change = _Change(provider, group)
    for operation in body["Operations"]:
        if not isinstance(operation, dict):
            raise ScimError(400, "Each operation must be an object.", "invalidSyntax")
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "replace", "remove"):
            raise ScimError(400, f"Unknown PATCH op {operation.get('op')!r}.", "invalidSyntax")
        path, value = operation.get("path"), operation.get("value")
        if path:
            _apply(change, op, str(path).strip(), value)
        elif op == "remove":
            raise ScimError(400, "A remove operation needs a path.", "noTarget")
        elif isinstance(value, dict):  # path-less: each key a path (Okta's and Entra's {"displayName": ...})
            for key, sub_value in value.items():
                if key.lower() not in ("id", "schemas", "meta"):
                    _apply(change, op, key, sub_value)
        else:
            raise ScimError(400, "An operation without a path takes an object value.", "invalidValue")
    change.finish(token, "scim.group_patch", f"Updated group {group.display_name}")


def _apply(change: _Change, op: str, path: str, value: Any) -> None:
    lowered = path.lower()
    if lowered.startswith(GROUP.lower() + ":"):
        lowered = lowered[len(GROUP) + 1:]
    if lowered == "members":
        if op == "add":
            change.add(value)
        elif op == "replace":
            change.replace(value or [])
        else:  # Entra names the members to remove in the value; without one, every member goes
            change.remove(value if value not in (None, [], {}) else None)
    elif match := _MEMBER_PATH.match(lowered):
        if op == "remove":
            change.remove([{"value": match.group(1)}])
        else:
            raise ScimError(400, f"{op} cannot target one member by filter; add it to members.", "invalidPath")
    elif lowered == "displayname":
        if op == "remove":
            raise ScimError(400, "displayName cannot be removed.", "mutability")
        change.name(value)
    elif lowered == "externalid":
        change.external_id(None if op == "remove" else value)
    else:
        raise ScimError(400, f"Groups have no attribute {path} here: displayName, externalId and members.",
                        "invalidPath")


def delete(provider: IdentityProvider, token: ScimToken, group: DirectoryGroup) -> None:
    """DELETE /Groups/{id}: the group goes, and with it the roles it gave its members."""
    change = _Change(provider, group)
    change.remove(None)
    db.session.delete(group)
    change.finish(token, "scim.group_delete", f"Deleted group {group.display_name}", deleted=True)
