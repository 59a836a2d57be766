"""A provider's directory groups (SCIM Groups) and the CRM roles they give.

One mapping for both ways in: the lookup "SAML groups to user roles" maps a group's value to a role. A SAML sign-in
matches it against the group values of the assertion; a directory group matches it by its display name or its
external id. Roles a group gives are held with the source "scim" and are only ever added or removed here; roles an
admin added by hand (source "manual") and roles the SAML sign-in manages (source "sso") are never touched.

Membership rows are inserted "if absent" and deleted by key, never read, changed and written back: two directory
requests that add members to one group at once keep the union. The roles of the users whose groups changed are
then worked out again with the users' rows locked in id order, so the last one to commit sees every group.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers.models import IdentityProvider, RoleMapping
from crm.roles.models import DIRECTORY, Role, RoleMembership
from crm.search_keys import fold, key_type
from crm.timeutil import utcnow

MAX_NAME = 250


class DirectoryGroup(db.Model):
    """A group of the provider's directory, as the directory pushed it (SCIM Group)."""

    __tablename__ = "directory_group"
    __table_args__ = (Index("ix_directory_group_provider_name", "provider_id", "display_key"),
                      Index("ix_directory_group_provider_external", "provider_id", "external_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(MAX_NAME))
    display_key: Mapped[str] = mapped_column(key_type(MAX_NAME))
    external_id: Mapped[str | None] = mapped_column(String(MAX_NAME))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    provider: Mapped[IdentityProvider] = relationship()

    @validates("display_name")
    def _keep_key(self, _key: str, value: str) -> str:
        self.display_key = fold(value)
        return value

    def __str__(self) -> str:
        return self.display_name


class DirectoryGroupMember(db.Model):
    """A user in a directory group."""

    __tablename__ = "directory_group_member"

    group_id: Mapped[int] = mapped_column(ForeignKey("directory_group.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
    display: Mapped[str | None] = mapped_column(String(MAX_NAME))  # as the directory sent it (Okta does)


_members = DirectoryGroupMember.__table__


def member_ids(group: DirectoryGroup) -> list[int]:
    """The ids of the group's members, in order."""
    return list(db.session.scalars(select(_members.c.user_id).where(_members.c.group_id == group.id)
                                   .order_by(_members.c.user_id)))


def members(group: DirectoryGroup) -> list[tuple[int, str | None]]:
    """The group's members in id order: (user id, the display name the directory sent, if any)."""
    rows = db.session.execute(select(_members.c.user_id, _members.c.display).where(_members.c.group_id == group.id)
                              .order_by(_members.c.user_id))
    return [(user_id, display) for user_id, display in rows]


def add_members(group: DirectoryGroup, users: dict[int, str | None]) -> list[int]:
    """Put the users (id -> display name sent) in the group (those already in it are left as they are); the ids
    newly added."""
    if not users:
        return []
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [{"group_id": group.id, "user_id": i, "display": users[i]} for i in sorted(users)]
    added = db.session.scalars(insert(_members).values(rows).on_conflict_do_nothing().returning(_members.c.user_id))
    return sorted(added)


def remove_members(group: DirectoryGroup, user_ids: Iterable[int] | None = None) -> list[int]:
    """Take the users (None: everyone) out of the group; the ids that were in it."""
    stmt = delete(_members).where(_members.c.group_id == group.id)
    if user_ids is not None:
        ids = sorted(set(user_ids))
        if not ids:
            return []
        stmt = stmt.where(_members.c.user_id.in_(ids))
    return sorted(db.session.scalars(stmt.returning(_members.c.user_id)))


def roles_given(provider_id: int, user_ids: list[int]) -> dict[int, set[int]]:
    """The roles the users' directory groups give them by the provider's "SAML groups to user roles" rows."""
    group = DirectoryGroup.__table__
    mapping = RoleMapping.__table__
    rows = db.session.execute(
        select(_members.c.user_id, mapping.c.role_id).distinct()
        .join(group, group.c.id == _members.c.group_id)
        .join(mapping, and_(mapping.c.provider_id == group.c.provider_id,
                            or_(mapping.c.value_key == group.c.display_key,
                                and_(group.c.external_id.is_not(None), mapping.c.value == group.c.external_id))))
        .where(_members.c.user_id.in_(user_ids), group.c.provider_id == provider_id))
    given: dict[int, set[int]] = defaultdict(set)
    for user_id, role_id in rows:
        given[user_id].add(role_id)
    return given


def sync_roles(provider: IdentityProvider, user_ids: Iterable[int]) -> dict[int, dict[str, list[str]]]:
    """Bring the directory-given roles of these users in line with their groups; what changed, per user id:
    {"added": [role names], "removed": [role names]} (users with no change left out)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    # The users' rows in id order: two requests changing the groups of one user run this one after the other,
    # and the second reads the first's committed groups (READ COMMITTED reads again after a lock wait).
    db.session.execute(select(User.id).where(User.id.in_(ids)).order_by(User.id).with_for_update())
    given = roles_given(provider.id, ids)
    held: dict[int, dict[int, str]] = defaultdict(dict)
    for user_id, role_id, source in db.session.execute(
            select(RoleMembership.user_id, RoleMembership.role_id, RoleMembership.source)
            .where(RoleMembership.user_id.in_(ids))):
        held[user_id][role_id] = source
    adds, removes = [], []
    for user_id in ids:
        wanted, mine = given.get(user_id, set()), held.get(user_id, {})
        adds += [(user_id, r) for r in sorted(wanted - set(mine))]
        removes += [(user_id, r) for r, source in mine.items() if source == DIRECTORY and r not in wanted]
    if not adds and not removes:
        return {}
    now = utcnow()
    if adds:
        db.session.execute(RoleMembership.__table__.insert(),
                           [{"user_id": u, "role_id": r, "source": DIRECTORY, "created_at": now} for u, r in adds])
    by_role: dict[int, list[int]] = defaultdict(list)
    for user_id, role_id in removes:
        by_role[role_id].append(user_id)
    for role_id, users in by_role.items():
        db.session.execute(delete(RoleMembership).where(RoleMembership.role_id == role_id,
                                                        RoleMembership.user_id.in_(users)))
    moved_roles = {r for _, r in adds + removes}
    names = dict(db.session.execute(select(Role.id, Role.name).where(Role.id.in_(moved_roles))).all())
    changed: dict[int, dict[str, list[str]]] = defaultdict(lambda: {"added": [], "removed": []})
    for user_id, role_id in adds:
        changed[user_id]["added"].append(names[role_id])
    for user_id, role_id in removes:
        changed[user_id]["removed"].append(names[role_id])
    for loaded in list(db.session.identity_map.values()):
        if isinstance(loaded, User) and loaded.id in changed:
            db.session.expire(loaded, ["memberships"])
    return dict(changed)




def resync_provider(provider: IdentityProvider) -> dict[int, dict[str, list[str]]]:
    """Work out again the directory-given roles of every member of the provider's groups (after a change of the
    lookup "SAML groups to user roles"). Only members can hold such roles: leaving a group works them out again."""
    group = DirectoryGroup.__table__
    return sync_roles(provider, db.session.scalars(select(_members.c.user_id).distinct()
                                                   .join(group, group.c.id == _members.c.group_id)
                                                   .where(group.c.provider_id == provider.id)))


def leave_groups(provider: IdentityProvider, user_id: int) -> dict[int, dict[str, list[str]]]:
    """Take the user out of every group of the provider's directory (deleted by it), with the roles they gave."""
    group = DirectoryGroup.__table__
    db.session.execute(delete(_members).where(
        _members.c.user_id == user_id,
        _members.c.group_id.in_(select(group.c.id).where(group.c.provider_id == provider.id))))
    return sync_roles(provider, [user_id])
