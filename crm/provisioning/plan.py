"""The plan: what one SSO sign-in will do to the CRM, computed without touching the database."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

CREATE, UPDATE, DENY = "create", "update", "deny"


@dataclass(frozen=True)
class Denial:
    """Why a sign-in is refused: a code, words for the user, and the technical reason for the audit trail."""

    code: str
    message: str
    reason: str


DENIALS = {
    "jit_off": "Single sign-on did not create an account for you because automatic account creation is off. "
               "Ask your administrator.",
    "inactive": "Your account is not active. Ask your administrator to activate it.",
    "deactivated_by_directory": "Your account was deactivated by your organization's directory. Ask your "
                                "administrator.",
    "domain": "Your email domain is not allowed to sign in to this CRM. Ask your administrator.",
    "groups": "You are not in a group that may sign in to this CRM. Ask your administrator.",
    "other_idp": "Your account signs in through another identity provider. Use that one, or ask your administrator "
                 "to link your account.",
    "limits": "Your identity provider sent values that are too long for the CRM. Ask your administrator.",
    "no_seat": "No free license seat is left. Your account is ready, but an administrator must grant you a "
               "license before you can sign in.",
    "link_domain": "An account with your username already exists, and this identity provider may not claim it. "
                   "Ask your administrator to link your account.",
    "link_never": "An account with your username already exists, and this identity provider does not link existing "
                  "accounts by itself. Ask your administrator to link your account.",
    "link_ambiguous": "More than one account has your email address, so single sign-on cannot tell which one is "
                      "yours. Ask your administrator to link your account.",
    "username_taken": "An account with this username already exists but could not be matched to you safely. "
                      "Ask your administrator.",
    "transient_name_id": "Your identity provider sent a one-time identifier that cannot identify you from one "
                         "sign-in to the next. Ask your administrator to set the provider's Immutable ID attribute.",
}


def deny(code: str, reason: str) -> Denial:
    """A denial with the plain-words message for its code."""
    return Denial(code, DENIALS[code], reason)


@dataclass(frozen=True)
class UserState:
    """The matched user as it is now (None in the plan when the user is new)."""

    user_id: int
    username: str
    active: bool
    bound: bool  # already bound to this provider (False: a local user about to be linked)
    contact: dict[str, Any]  # field key -> current value (lookups by name)
    roles: dict[int, tuple[str, str]]  # role id -> (source "manual" or "sso", role name)
    license_count: int
    inactive_reason: str | None = None  # "scim", "scim_deleted" (the directory), "admin", "dormant"


@dataclass(frozen=True)
class Plan:
    """What to do: create or update (with field, license and role changes), or deny with a reason. Frozen: the
    planner decides, applying it is a separate step that reports what it met (AppliedPlan)."""

    action: str
    username: str
    user_id: int | None = None
    link: bool = False
    denial: Denial | None = None
    contact: Mapping[str, Any] = field(default_factory=dict)  # values to write (field key -> value)
    field_changes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # field -> {"before", "after"}
    grant_licenses: bool = False
    roles_add: Mapping[int, str] = field(default_factory=dict)  # role id -> name
    roles_remove: Mapping[int, str] = field(default_factory=dict)
    groups_known: bool = True
    notes: tuple[str, ...] = ()
    reactivate: bool = False  # a dormant user comes back (active again, seats by the license policy)

    def __post_init__(self) -> None:
        for name in ("contact", "field_changes", "roles_add", "roles_remove"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def changes_anything(self) -> bool:
        """True when applying it writes more than the sign-in time."""
        return bool(self.action == CREATE or self.link or self.contact or self.roles_add or self.roles_remove
                    or self.reactivate)


def denied(username: str, denial: Denial, user_id: int | None = None) -> Plan:
    """A plan that refuses the sign-in."""
    return Plan(action=DENY, username=username, user_id=user_id, denial=denial)
