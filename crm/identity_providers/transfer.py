"""Configuration as code: providers and their mapping lookups exported and imported as JSON."""
from __future__ import annotations

from typing import Any

from crm.identity_providers import mappings
from crm.identity_providers import services as providers
from crm.identity_providers.certificates import CertificateInvalid, read_certificates
from crm.identity_providers.console_policy import PolicyInvalid, console_policy, set_idle_timeout
from crm.identity_providers.models import IdentityProvider
from crm.identity_providers.policy import EVERY_LOGIN, LICENSES_ALL, LICENSES_SELECTED
from crm.search_keys import fold

FORMAT_VERSION = 1


class ImportInvalid(ValueError):
    """The file cannot be imported; nothing was changed."""


def export_provider(provider: IdentityProvider) -> dict[str, Any]:
    """One provider as JSON-ready data (certificates as PEM)."""
    values = providers.provider_values(provider)
    licenses = values.pop("licenses")
    values.pop("license_policy")
    values["licenses"] = LICENSES_ALL if provider.license_policy == LICENSES_ALL else licenses
    values["certificates"] = [c.pem for c in provider.certificates]
    values["attribute_mappings"] = [mappings.mapping_values(m) for m in provider.attribute_mappings]
    values["role_mappings"] = [mappings.role_mapping_values(r) for r in provider.role_mappings]
    return values


def export_config(slug: str | None = None) -> dict[str, Any]:
    """Every provider and the console-wide settings, or one provider, in the import format."""
    chosen = [providers.find_provider(slug)] if slug else providers.all_providers()
    if slug and chosen[0] is None:
        raise ImportInvalid(f"no identity provider with slug {slug}.")
    exported = {"version": FORMAT_VERSION, "providers": [export_provider(p) for p in chosen]}
    if not slug:
        exported["console"] = {"session_idle_minutes": console_policy()["session_idle_minutes"]}
    return exported


def import_config(data: Any) -> list[str]:
    """Create or update providers from exported data in the current transaction; raise ImportInvalid on the first
    problem (the caller rolls back, so one bad row changes nothing)."""
    if not isinstance(data, dict) or not isinstance(data.get("providers"), list):
        raise ImportInvalid('expected an object with a "providers" list (as `sso export` writes).')
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ImportInvalid(f"unsupported format version {data.get('version')}; this CRM reads version 1.")
    done = _import_console(data.get("console"))
    for index, item in enumerate(data["providers"], start=1):
        where = f"provider #{index}" + (f" ({item.get('slug')})" if isinstance(item, dict) else "")
        try:
            done.append(_import_provider(item))
        except (providers.ProviderInvalid, mappings.MappingInvalid) as invalid:
            raise ImportInvalid(f"{where}: " + "; ".join(f"{k}: {v}" for k, v in invalid.errors.items())) from None
        except (CertificateInvalid, ImportInvalid, KeyError, TypeError, AttributeError) as error:
            raise ImportInvalid(f"{where}: {error}") from None
    return done


def _import_console(console: Any) -> list[str]:
    """The console-wide settings of an export (absent in an export of one provider: then nothing changes)."""
    if console is None:
        return []
    if not isinstance(console, dict):
        raise ImportInvalid('"console" must be an object.')
    unknown = sorted(set(console) - {"session_idle_minutes"})
    if unknown:
        raise ImportInvalid(f'console: unknown setting {", ".join(unknown)}.')
    if "session_idle_minutes" not in console:
        return []
    try:
        changed = set_idle_timeout(console["session_idle_minutes"])
    except PolicyInvalid as invalid:
        raise ImportInvalid(f"console: {invalid}") from None
    return ["updated the session idle timeout"] if changed else []


def _import_provider(item: dict[str, Any]) -> str:
    if not isinstance(item, dict):
        raise ImportInvalid("each provider must be an object.")
    licenses = item.get("licenses", LICENSES_ALL)
    values = {k: item.get(k) for k in providers.SETTINGS if k in item}
    values["license_policy"] = LICENSES_ALL if licenses == LICENSES_ALL else LICENSES_SELECTED
    values["licenses"] = [] if licenses == LICENSES_ALL else licenses
    certificates = read_certificates("\n".join(item.get("certificates") or []))
    provider = providers.find_provider(item.get("slug", ""))
    created = provider is None
    provider = providers.save_provider(provider, values, certificates if created else [])
    if not created:
        _sync_certificates(provider, certificates)
    _sync_attribute_mappings(provider, item.get("attribute_mappings") or [])
    _sync_role_mappings(provider, item.get("role_mappings") or [])
    return f"{'created' if created else 'updated'} {provider.slug}"


def _sync_certificates(provider: IdentityProvider, certificates) -> None:
    wanted = {c.fingerprint_sha256 for c in certificates}
    for cert in [c for c in provider.certificates if c.fingerprint_sha256 not in wanted]:
        providers.remove_certificate(provider, cert, replaced=True)
    have = {c.fingerprint_sha256 for c in provider.certificates}
    for info in certificates:
        if info.fingerprint_sha256 not in have:
            providers.add_certificate(provider, info)


def _sync_attribute_mappings(provider: IdentityProvider, rows: list[dict[str, Any]]) -> None:
    fields = [row["field"] for row in rows]
    for existing in [m for m in provider.attribute_mappings if m.contact_field not in fields]:
        mappings.delete_attribute_mapping(provider, existing)
    for row in rows:
        current = next((m for m in provider.attribute_mappings if m.contact_field == row["field"]), None)
        mappings.save_attribute_mapping(provider, current, row["attribute"], row["field"], row.get("default"),
                                        row.get("update_on", EVERY_LOGIN), row.get("transform"))


def _sync_role_mappings(provider: IdentityProvider, rows: list[dict[str, Any]]) -> None:
    wanted = {(r["attribute"], fold(str(r["value"])), fold(str(r["role"]))) for r in rows}
    for existing in list(provider.role_mappings):
        if (existing.saml_attribute, existing.value_key, existing.role.name_key) not in wanted:
            mappings.delete_role_mapping(provider, existing)
    have = {(r.saml_attribute, r.value_key, r.role.name_key) for r in provider.role_mappings}
    for row in rows:
        key = (row["attribute"], fold(str(row["value"])), fold(str(row["role"])))
        if key not in have:
            mappings.add_role_mapping(provider, row["attribute"], row["value"], row["role"])
            have.add(key)
