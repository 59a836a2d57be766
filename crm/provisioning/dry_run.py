"""What a sign-in would do, without doing it: the match, field changes with the row that causes each, the
licenses and roles, and the mapping rows that found no attribute (with look-alike names that did arrive)."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from sqlalchemy import Connection, or_, select

from crm.identity_providers.policy import FieldRule, ProviderPolicy
from crm.identity_providers.transforms import JOIN
from crm.licensing.models import LicensePackage
from crm.provisioning.apply import Lookups
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.plan import CREATE, DENY, Plan, denied
from crm.provisioning.planner import identify, mapped_value, plan_sign_in
from crm.provisioning.resolver import Resolution, resolve_sign_in

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass
class DryRun:
    """The plan in words for the report."""

    plan: Plan
    user: str  # who is matched or created
    fields: list[dict] = field(default_factory=list)  # {field, before, after, source}
    licenses: list[str] = field(default_factory=list)
    unmatched_rows: list[dict] = field(default_factory=list)  # {attribute, field, look_alikes}
    hints: list[str] = field(default_factory=list)


def dry_run(conn: Connection, identity: SamlIdentity, policy: ProviderPolicy) -> DryRun:
    """Plan the sign-in against the database as it is now, writing nothing."""
    identity, unidentified = identify(identity, policy)
    resolution = Resolution(refusal=unidentified) if unidentified else resolve_sign_in(
        conn, identity, policy)
    if resolution.refusal:
        return DryRun(plan=denied(identity.name_id, resolution.refusal), user=identity.name_id)
    state = resolution.state
    plan = plan_sign_in(identity, policy, state, Lookups(conn).exists)
    who = (f"New user {identity.name_id} would be created" if plan.action == CREATE else
           f"Existing user {state.username}" + (" would be linked to this provider" if plan.link else "")
           + (" would be reactivated (deactivated as dormant)" if plan.reactivate else ""))
    result = DryRun(plan=plan, user=who)
    rules = {r.field: r for r in policy.field_rules}
    for key, change in plan.field_changes.items():
        result.fields.append({"field": key, "before": change["before"], "after": change["after"],
                              "source": _source(identity, rules.get(key))})
    if plan.action != DENY and plan.grant_licenses:
        result.licenses = _packages_with_a_free_seat(conn, policy)
    result.unmatched_rows = _unmatched(identity, policy)
    result.hints = _hints(identity, policy, result)
    return result


def _source(identity: SamlIdentity, rule: FieldRule | None) -> str:
    """Where a field's new value comes from, with the row's transform and what it was given (every value for a
    join, else the first, which is all the other transforms read)."""
    if rule is None:
        return "no mapping row: made from the NameID"
    if mapped_value(identity, rule)[0] is not None:
        if rule.transform is None:
            return f'row "{rule.attribute}"'
        given = identity.values(rule.attribute) if rule.transform.kind == JOIN else (identity.first(rule.attribute),)
        quoted = ", ".join('"' + v + '"' for v in given)
        return f'row "{rule.attribute}": {quoted} through {rule.transform.spec}'
    if rule.default:
        return f'default of row "{rule.attribute}"'
    return f'made from the NameID: row "{rule.attribute}" found no attribute'


def _packages_with_a_free_seat(conn: Connection, policy: ProviderPolicy) -> list[str]:
    packages = LicensePackage.__table__
    stmt = (select(packages.c.name).where(or_(packages.c.seat_limit.is_(None),
                                              packages.c.seats_used < packages.c.seat_limit))
            .order_by(packages.c.name_key))
    if not policy.all_licenses:
        stmt = stmt.where(packages.c.id.in_(policy.package_ids))
    return list(conn.scalars(stmt))


def _short(name: str) -> str:
    return re.split(r"[/#:]", name.rstrip("/"))[-1].lower()


def _unmatched(identity: SamlIdentity, policy: ProviderPolicy) -> list[dict]:
    received = list(identity.attributes)
    rows = []
    for rule in policy.field_rules:
        if rule.attribute in identity.attributes:
            continue
        # Compare the last part of the names: claim URIs share long prefixes that would make everything look alike.
        short = {n: _short(n) for n in received}
        close = set(difflib.get_close_matches(_short(rule.attribute), list(short.values()), n=2, cutoff=0.85))
        alike = [n for n in received if short[n] in close]
        rows.append({"attribute": rule.attribute, "field": rule.field, "look_alikes": alike})
    return rows


def _hints(identity: SamlIdentity, policy: ProviderPolicy, result: DryRun) -> list[str]:
    hints = []
    for row in result.unmatched_rows:
        if row["look_alikes"]:
            hints.append(f'The row for {row["field"]} expects "{row["attribute"]}", but the IdP sent '
                         f'{", ".join(repr(n) for n in row["look_alikes"])}: attribute names must match exactly '
                         "(a claim URI is not its short name).")
    email_mapped = any(r.field == "email" for r in policy.field_rules)
    if "@" not in identity.name_id and not (email_mapped and any(
            identity.first(r.attribute) for r in policy.field_rules if r.field == "email")):
        hints.append(f"The NameID {identity.name_id!r} is not an email address and no email attribute arrived: "
                     "the username will not be an email. Set the IdP's NameID (Unique User Identifier) to the "
                     "user's email, or map an email attribute.")
    name_rule_attributes = {r.attribute for r in policy.group_rules if not _GUID.match(r.value_key)}
    if any(identity.values(a) and all(_GUID.match(v) for v in identity.values(a)) for a in name_rule_attributes):
        hints.append("The IdP sends group object ids (GUIDs), but the role rows map group names: map the object "
                     "ids, or configure Entra to send group names (sAMAccountName / cloud-only group names).")
    return hints
