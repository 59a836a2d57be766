"""The mapping lookups of a provider: SAML attributes to contact fields, SAML groups to roles."""
from __future__ import annotations

from sqlalchemy import select

from crm.audit import services as audit
from crm.audit.models import CONFIG
from crm.contacts.fields import CONTACT_FIELDS, FIELDS_BY_KEY
from crm.contacts.services import find_lookup, lookup_names
from crm.extensions import db
from crm.identity_providers.directory_groups import resync_provider
from crm.identity_providers.models import AttributeMapping, IdentityProvider, RoleMapping
from crm.identity_providers.policy import EVERY_LOGIN, FIRST_LOGIN
from crm.identity_providers.presets import PRESETS
from crm.identity_providers.transforms import TransformInvalid, parse
from crm.roles.models import Role
from crm.roles.services import find_role
from crm.search_keys import fold

UPDATE_ON = {EVERY_LOGIN: "Every login", FIRST_LOGIN: "First login only"}


class MappingInvalid(ValueError):
    """The mapping row cannot be saved; `errors` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _validate_default(field_key: str, default: str | None) -> str | None:
    field = FIELDS_BY_KEY[field_key]
    if default and field.max_length and len(default) > field.max_length:
        return f"The default is longer than {field.max_length} characters."
    if default and field.lookup in ("type", "department") and find_lookup(field.lookup, default) is None:
        return (f'"{default}" is not a {field.label.lower()}. Existing values: '
                f'{", ".join(lookup_names(field.lookup)) or "none yet"}.')
    return None


def validate_transform(spec: str | None) -> str | None:
    """The transform as it is stored (its canonical spelling), or None; raise TransformInvalid with the reason."""
    if spec is not None and not isinstance(spec, str):  # an imported file may hold anything
        raise TransformInvalid("The transform must be text, such as lowercase or part:-:1.")
    transform = parse(spec)
    return transform.spec if transform else None


def validate_attribute_mapping(provider: IdentityProvider, row: AttributeMapping | None, attribute: str,
                               field_key: str, default: str | None, update_on: str,
                               transform: str | None = None) -> tuple[str, str, str | None, str | None]:
    """Check one row; raise MappingInvalid naming each problem."""
    errors: dict[str, str] = {}
    try:
        transform = validate_transform(transform)
    except TransformInvalid as error:
        errors["transform"] = str(error)
    attribute, default = (attribute or "").strip(), (default or "").strip() or None
    if not attribute:
        errors["saml_attribute"] = "Enter the SAML attribute name exactly as the IdP sends it."
    elif len(attribute) > 500:
        errors["saml_attribute"] = "The attribute name is longer than 500 characters."
    if field_key not in FIELDS_BY_KEY:
        errors["contact_field"] = (f'"{field_key}" is not a contact field. Choose one of: '
                                   f'{", ".join(f.key for f in CONTACT_FIELDS)}.')
    else:
        clash = next((m for m in provider.attribute_mappings if m.contact_field == field_key and m is not row), None)
        if clash is not None:
            errors["contact_field"] = (f"{FIELDS_BY_KEY[field_key].label} is already mapped from "
                                       f'"{clash.saml_attribute}". Edit that row instead.')
        elif message := _validate_default(field_key, default):
            errors["default_value"] = message
    if update_on not in UPDATE_ON:
        errors["update_on"] = "Choose every login or first login only."
    if errors:
        raise MappingInvalid(errors)
    return attribute, field_key, default, transform


def mapping_values(row: AttributeMapping) -> dict:
    """A row as the audit trail and export show it."""
    return {"attribute": row.saml_attribute, "field": row.contact_field, "default": row.default_value,
            "update_on": row.update_on, "transform": row.transform}


def save_attribute_mapping(provider: IdentityProvider, row: AttributeMapping | None, attribute: str, field_key: str,
                           default: str | None, update_on: str = EVERY_LOGIN,
                           transform: str | None = None) -> AttributeMapping:
    """Add or change a row of "SAML field name converters to contact field name" (with its value transform)."""
    attribute, field_key, default, transform = validate_attribute_mapping(provider, row, attribute, field_key,
                                                                          default, update_on, transform)
    before = mapping_values(row) if row else {}
    row = row or AttributeMapping(provider=provider)
    row.saml_attribute, row.contact_field, row.default_value, row.update_on = attribute, field_key, default, update_on
    row.transform = transform
    db.session.add(row)
    db.session.flush()
    changes = audit.diff(before, mapping_values(row))
    if changes:
        audit.record("sso.mapping_" + ("update" if before else "add"),
                     f"{'Changed' if before else 'Added'} mapping {attribute} → {field_key} on {provider.display_name}",
                     category=CONFIG, target=provider, idp_slug=provider.slug, changes=changes)
    return row


def delete_attribute_mapping(provider: IdentityProvider, row: AttributeMapping) -> None:
    """Remove a mapping row."""
    audit.record("sso.mapping_delete", f"Removed mapping {row.saml_attribute} → {row.contact_field} on "
                 f"{provider.display_name}", category=CONFIG, target=provider, idp_slug=provider.slug,
                 changes=audit.diff(mapping_values(row), {}))
    provider.attribute_mappings.remove(row)
    db.session.flush()


def role_mapping_values(row: RoleMapping) -> dict:
    """A group row as the audit trail and export show it."""
    return {"attribute": row.saml_attribute, "value": row.value, "role": row.role.name}


def add_role_mapping(provider: IdentityProvider, attribute: str, value: str, role: Role | str | None) -> RoleMapping:
    """Add a row of "SAML groups to user roles"; values match case-insensitively."""
    errors: dict[str, str] = {}
    attribute, value = (attribute or "").strip(), (value or "").strip()
    role = find_role(role) if isinstance(role, str) else role
    if not attribute:
        errors["saml_attribute"] = "Enter the attribute that carries the groups (e.g. groups)."
    if not value:
        errors["value"] = "Enter the group name or object id."
    if role is None:
        errors["role"] = "Choose an existing role."
    if not errors and any(r.saml_attribute == attribute and r.value_key == fold(value) and r.role_id == role.id
                          for r in provider.role_mappings):
        errors["value"] = f'Group "{value}" is already mapped to {role.name}.'
    if errors:
        raise MappingInvalid(errors)
    row = RoleMapping(provider=provider, saml_attribute=attribute, value=value, role=role)
    db.session.add(row)
    db.session.flush()
    audit.record("sso.role_mapping_add", f"Mapped group {value} to role {role.name} on {provider.display_name}",
                 category=CONFIG, target=provider, idp_slug=provider.slug,
                 changes=audit.diff({}, role_mapping_values(row)),
                 details=_directory_roles(provider))
    return row


def _directory_roles(provider: IdentityProvider) -> dict:
    """The directory's group members get the roles the lookup now gives at once (SAML users at their next sign-in)."""
    moved = resync_provider(provider)
    return {"directory_users_changed": len(moved)} if moved else {}


def delete_role_mapping(provider: IdentityProvider, row: RoleMapping) -> None:
    """Remove a group-to-role row (memberships it gave through SAML are removed at the user's next sign-in, those
    it gave through the directory's groups at once)."""
    changes = audit.diff(role_mapping_values(row), {})
    provider.role_mappings.remove(row)
    db.session.flush()
    audit.record("sso.role_mapping_delete", f"Removed group {row.value} → {row.role.name} on {provider.display_name}",
                 category=CONFIG, target=provider, idp_slug=provider.slug, changes=changes,
                 details=_directory_roles(provider))


def apply_preset(provider: IdentityProvider, key: str) -> list[AttributeMapping]:
    """Fill the mapping with an IdP's claim names; existing rows are kept, nothing is added twice."""
    preset = PRESETS.get(key)
    if preset is None:
        raise MappingInvalid({"preset": f"Unknown preset {key}. Choose one of: {', '.join(PRESETS)}."})
    taken = {m.contact_field for m in provider.attribute_mappings}
    added = []
    for row in preset.rows:
        if row.field in taken or (row.default and _validate_default(row.field, row.default)):
            continue
        mapping = AttributeMapping(provider=provider, saml_attribute=row.attribute, contact_field=row.field,
                                   default_value=row.default, update_on=row.update_on)
        db.session.add(mapping)
        added.append(mapping)
        taken.add(row.field)
    before = {"groups_attribute": provider.groups_attribute, "immutable_id_attribute": provider.immutable_id_attribute}
    provider.groups_attribute = provider.groups_attribute or preset.groups_attribute
    provider.immutable_id_attribute = provider.immutable_id_attribute or preset.immutable_id_attribute
    db.session.flush()
    changes = audit.diff(before, {"groups_attribute": provider.groups_attribute,
                                  "immutable_id_attribute": provider.immutable_id_attribute})
    changes |= {f"mapping {m.contact_field}": {"before": None, "after": m.saml_attribute} for m in added}
    audit.record("sso.preset", f"Applied the {preset.label} preset to {provider.display_name} "
                 f"({len(added)} row{'s' if len(added) != 1 else ''} added)", category=CONFIG, target=provider,
                 idp_slug=provider.slug, changes=changes)
    return added


def roles_for_choice() -> list[Role]:
    """Roles offered in the group mapping form."""
    return list(db.session.scalars(select(Role).order_by(Role.name_key)))
