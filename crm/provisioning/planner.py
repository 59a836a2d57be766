"""Planning a sign-in: matching rules, access rules, contact fields, licenses and roles. Pure functions."""
from __future__ import annotations

import re
from collections.abc import Callable

from crm.contacts.fields import FIELDS_BY_KEY
from crm.identity_providers.policy import ENTRA_GROUPS_OVERAGE, LINK_BY_EMAIL, FieldRule, ProviderPolicy
from crm.identity_providers.transforms import TransformFailed
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.plan import CREATE, UPDATE, Denial, Plan, UserState, denied, deny
from crm.search_keys import fold

BY_DIRECTORY = ("scim", "scim_deleted")  # crm.users.lifecycle's reasons (provisioning does not import it)
DORMANT = "dormant"  # deactivated for not signing in: the next valid sign-in brings the user back
LookupExists = Callable[[str, str], bool]  # (field, name) -> does a Type/Department with that name exist?
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_USERNAME = 250


def identify(identity: SamlIdentity, policy: ProviderPolicy) -> tuple[SamlIdentity, Denial | None]:
    """Who the sign-in is about, before anyone is looked up. A transient NameID is a new random value at every
    sign-in (SimpleSAMLphp's default): it must never become a username, or one person becomes a new user (holding
    seats) at each sign-in. The provider's immutable id attribute then identifies the person and gives the
    username; without one the sign-in is refused, and the reason tells the admin what to set."""
    if not identity.transient:
        return identity, None
    immutable = identity.first(policy.immutable_id_attribute)
    if immutable:
        return identity.named(immutable), None
    if policy.immutable_id_attribute:
        why = (f"the NameID is transient (a one-time value) and the Immutable ID attribute "
               f"{policy.immutable_id_attribute} was not sent: send it, or a persistent or email NameID")
    else:
        why = ("the NameID is transient (a one-time value): set the provider's Immutable ID attribute (e.g. mail or "
               "eduPersonPrincipalName) so it identifies the person, or have the IdP send a persistent or email "
               "NameID")
    return identity, deny("transient_name_id", why)


def plan_sign_in(identity: SamlIdentity, policy: ProviderPolicy, state: UserState | None,
                 lookup_exists: LookupExists) -> Plan:
    """Decide what this sign-in does. `state` is the matched user, or None for someone new."""
    user_id = state.user_id if state else None
    refusal = _access_refusal(identity, policy, state)
    if refusal:
        return denied(identity.name_id, refusal, user_id)
    link = bool(state and not state.bound)
    comes_back = _comes_back(state)
    back_notes = (f"{state.username} was deactivated as dormant and is active again.",) if comes_back else ()
    if state is not None and not policy.jit:
        return Plan(UPDATE, identity.name_id, user_id, link, grant_licenses=comes_back, reactivate=comes_back,
                    notes=back_notes + ("Just-In-Time provisioning is off: contact and roles were not updated.",))
    values, notes = desired_contact(identity, policy, state, lookup_exists)
    too_long = [f for f, v in values.items() if v and FIELDS_BY_KEY[f].max_length
                and len(v) > FIELDS_BY_KEY[f].max_length]
    if too_long:
        return denied(identity.name_id, deny("limits", f"values too long for contact field(s): {', '.join(too_long)}"),
                      user_id)
    contact, field_changes = _contact_changes(identity.name_id, values, state)
    roles_add, roles_remove, groups_known, role_notes = _role_changes(identity, policy, state)
    return Plan(UPDATE if state else CREATE, identity.name_id, user_id, link, contact=contact,
                field_changes=field_changes, grant_licenses=_first_sign_in(state, link) or comes_back,
                roles_add=roles_add, roles_remove=roles_remove, groups_known=groups_known,
                notes=back_notes + tuple(notes + role_notes), reactivate=comes_back)


def _comes_back(state: UserState | None) -> bool:
    """A user deactivated as dormant (seat reclaim) is brought back by a sign-in that passes every access rule; the
    seats they gave up are granted again by the license policy, where free."""
    return state is not None and not state.active and state.inactive_reason == DORMANT


def _first_sign_in(state: UserState | None, link: bool) -> bool:
    """Licenses are granted at a user's first sign-in only (created now, or a local user linked now who holds none):
    an administrator who revokes a seat later is not overruled at the next sign-in."""
    return state is None or (link and state.license_count == 0)


def _access_refusal(identity: SamlIdentity, policy: ProviderPolicy, state: UserState | None):
    if len(identity.name_id) > MAX_USERNAME or len(identity.first(policy.immutable_id_attribute) or "") > 250:
        return deny("limits", f"NameID or immutable id is longer than {MAX_USERNAME} characters")
    if state is None and not policy.jit:
        return deny("jit_off", "denied: JIT off (unknown user, automatic account creation is off)")
    if state is not None and not state.active and state.inactive_reason in BY_DIRECTORY:
        return deny("deactivated_by_directory", f"user {state.username} was deactivated by the directory (SCIM, "
                                                f"{state.inactive_reason}): a sign-in never reactivates them")
    if state is not None and not state.active and state.inactive_reason != DORMANT:
        return deny("inactive", f"user {state.username} is not active")
    if state is not None and not state.bound and (refusal := _link_refusal(policy, identity, state)):
        return refusal
    if policy.allowed_domains:
        email = sign_in_email(identity, policy)
        domain = fold(email.rsplit("@", 1)[1]) if email and "@" in email else None
        if domain not in policy.allowed_domains:
            return deny("domain", f"email domain {domain or '(no email)'} is not in the allowed domains "
                                  f"{sorted(policy.allowed_domains)}")
    if policy.required_groups:
        if identity.values(ENTRA_GROUPS_OVERAGE):
            return deny("groups", "group overage: Entra sent groups.link instead of the groups, so the required "
                                  "groups cannot be checked (send only the groups assigned to the application)")
        groups = {fold(v) for a in policy.group_attributes for v in identity.values(a)}
        if not groups & policy.required_groups:
            return deny("groups", f"none of the required groups {sorted(policy.required_groups)} were sent")
    return None


def _link_refusal(policy: ProviderPolicy, identity: SamlIdentity, state: UserState):
    """An unbound local account is claimed only by a provider that vouches for the account's domain: one whose
    email domains (allowed_domains) include the domain of what matched it, the account's username (link by
    username) or the mapped email (link by email). A provider without email domains could otherwise claim any
    password-less account by sending its name or address."""
    by_email = policy.link_by == LINK_BY_EMAIL
    if not policy.allowed_domains:
        return deny("link_domain", f"user {state.username} exists but is not linked to {policy.slug}, which has no "
                                   "allowed domains: only a provider whose allowed domains include the account's "
                                   "domain may link it (or an administrator links it by hand)")
    domain = _domain(mapped_email(identity, policy) if by_email else state.username)
    if domain not in policy.allowed_domains:
        what = "the sign-in email's domain" if by_email else "the account's domain"
        return deny("link_domain", f"user {state.username} exists but is not linked to {policy.slug}: {what} "
                                   f"{domain or '(none)'} is not among its allowed domains "
                                   f"{sorted(policy.allowed_domains)}")
    return None


def _domain(address: str | None) -> str | None:
    """The folded domain of an email-like value, or None."""
    return fold(address.rsplit("@", 1)[1]) if address and "@" in address else None


def sign_in_email(identity: SamlIdentity, policy: ProviderPolicy) -> str | None:
    """The email the access rules check: the mapped email attribute, else an email-like NameID."""
    email = mapped_email(identity, policy)
    if not email and "@" in identity.name_id:
        email = identity.name_id
    return email


def mapped_email(identity: SamlIdentity, policy: ProviderPolicy) -> str | None:
    """The mapped email attribute's value through its row's transform (the access rules and email linking)."""
    rule = next((r for r in policy.field_rules if r.field == "email"), None)
    return mapped_value(identity, rule)[0] if rule else None


def mapped_value(identity: SamlIdentity, rule: FieldRule) -> tuple[str | None, str | None]:
    """What one mapping row makes of the identity's attribute, and a note when its transform gave nothing.

    Without a transform: the first value as sent. With one, its result; a transform that finds nothing in a value
    that was sent (no such part, no match, a pattern stopped for taking too long) counts as a missing attribute,
    so the row's default applies, and the note tells the admin why.
    """
    if rule.transform is None:
        return identity.first(rule.attribute), None
    sent = identity.first(rule.attribute)
    if sent is None:
        return None, None
    label = FIELDS_BY_KEY[rule.field].label
    try:
        value = rule.transform.apply(identity.values(rule.attribute))
    except TransformFailed as failed:
        return None, f"{label}: {failed}; treated as not sent."
    if value is None:
        return None, (f'{label}: the transform {rule.transform.spec} found nothing in "{sent[:100]}"; '
                      "treated as not sent.")
    return value, None


def desired_contact(identity: SamlIdentity, policy: ProviderPolicy, state: UserState | None,
                    lookup_exists: LookupExists) -> tuple[dict[str, str | None], list[str]]:
    """Contact values the mapping gives: first value of each attribute (through the row's transform, if any), else
    the row's default.

    A later login only applies "every login" rows, and a default only fills an empty field (so an admin's
    edit is not overwritten by a default). Unknown Type/Department values are left out and noted.
    """
    values: dict[str, str | None] = {}
    notes: list[str] = []
    for rule in policy.field_rules:
        if state is not None and not rule.every_login:
            continue
        value, note = mapped_value(identity, rule)
        if note:
            notes.append(note)
        if value is None:
            if not rule.default or (state is not None and state.contact.get(rule.field)):
                continue
            value = rule.default
        unchanged = state is not None and _same(rule.field, state.contact.get(rule.field), value)
        if rule.field in ("type", "department") and not unchanged and not lookup_exists(rule.field, value):
            notes.append(f'"{value}" is not a known {FIELDS_BY_KEY[rule.field].label.lower()}: left out.')
            continue
        if rule.field == "email" and not _EMAIL.match(value):
            notes.append(f'"{value}" is not an email address: left out.')
            continue
        values[rule.field] = value
    return values, notes


def _same(field: str, before, after) -> bool:
    if FIELDS_BY_KEY[field].lookup:
        return fold(before) == fold(after)
    return (before or None) == (after or None)


def _contact_changes(username: str, values: dict[str, str | None], state: UserState | None):
    """The contact values to write and, for the audit trail, each field's before and after."""
    current = state.contact if state else {}
    if state is None and "email" not in values and _EMAIL.match(username):
        values["email"] = username  # a contact is reachable even if the IdP sends no email attribute
    if state is None and not any(values.get(f) for f in ("full_name", "given_name", "surname")):
        values["full_name"] = username
    changed = {key: value for key, value in values.items() if not _same(key, current.get(key), value)}
    return changed, {key: {"before": current.get(key), "after": value} for key, value in changed.items()}


def _role_changes(identity: SamlIdentity, policy: ProviderPolicy, state: UserState | None):
    """Roles to add and SSO-managed roles to remove, whether the groups are known, and why not."""
    if identity.values(ENTRA_GROUPS_OVERAGE):
        return {}, {}, False, ["Entra sent groups.link (more than 150 groups): roles were kept as they are."]
    wanted = {rule.role_id: rule.role_name for rule in policy.group_rules
              if rule.value_key in {fold(v) for v in identity.values(rule.attribute)}}
    held = state.roles if state else {}
    add = {rid: name for rid, name in wanted.items() if rid not in held}
    remove = {rid: name for rid, (source, name) in held.items() if source == "sso" and rid not in wanted}
    return add, remove, True, []
