"""Identity providers: validation and saving. No configuration the sign-in could not use is ever saved."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from crm.audit import services as audit
from crm.audit.models import CONFIG
from crm.auth.models import USER_TYPES
from crm.auth.sessions import cap_lifetime, sso_method
from crm.config import is_production
from crm.extensions import db
from crm.identity_providers import realms
from crm.identity_providers.certificates import (
    MAX_CERTIFICATES,
    CertificateInfo,
    CertificateInvalid,
    parse_certificate,
    require_current,
)
from crm.identity_providers.metadata_source import metadata_url_error
from crm.identity_providers.models import (
    MAX_CLOCK_SKEW,
    MAX_SESSION_HOURS,
    SSO_BINDING_POST,
    SSO_BINDING_REDIRECT,
    USERS_FROM,
    USERS_FROM_JIT,
    IdentityProvider,
    IdpCertificate,
)
from crm.identity_providers.policy import LICENSES_ALL, LICENSES_SELECTED, LINK_BY, LINK_BY_EMAIL
from crm.licensing.services import find_package

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
RESERVED_SLUGS = {"new", "import", "presets"}
MIN_DORMANT_DAYS, MAX_DORMANT_DAYS = 1, 3650
T = TypeVar("T")


class ProviderInvalid(ValueError):
    """The provider settings cannot be saved; `errors` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def find_provider(slug: str) -> IdentityProvider | None:
    """The provider with this slug."""
    return db.session.scalar(select(IdentityProvider).where(IdentityProvider.slug == (slug or "").strip().lower()))


def all_providers() -> list[IdentityProvider]:
    """Every provider, by display name."""
    return list(db.session.scalars(select(IdentityProvider).order_by(IdentityProvider.display_name)))


def split_list(value: Any) -> list[str]:
    """A list from a list, or from text separated by commas or new lines; blanks dropped."""
    items = value if isinstance(value, list | tuple) else re.split(r"[,\n]", value or "")
    return [str(i).strip() for i in items if str(i).strip()]


def _url_error(url: str | None, label: str, required: bool) -> str | None:
    if not url:
        return f"Enter the {label}." if required else None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"The {label} must be a full http(s) URL."
    if parts.scheme != "https" and is_production(current_app):
        return f"The {label} must use https (http is only accepted in development)."
    return None


def validate(values: dict[str, Any], provider: IdentityProvider | None) -> dict[str, Any]:
    """Clean the settings; raise ProviderInvalid naming every bad field."""
    errors: dict[str, str] = {}
    clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    clean["slug"] = (clean.get("slug") or "").lower()
    if not SLUG.match(clean["slug"]) or clean["slug"] in RESERVED_SLUGS:
        errors["slug"] = "Use 2–60 lowercase letters, digits and hyphens (it appears in URLs)."
    elif (other := find_provider(clean["slug"])) is not None and other is not provider:
        errors["slug"] = f"The slug {clean['slug']} is used by {other.display_name}."
    if not clean.get("display_name"):
        errors["display_name"] = "Enter a display name (it is shown on the login button)."
    if not clean.get("entity_id"):
        errors["entity_id"] = "Enter the IdP's Entity ID (from its metadata)."
    for key, label, required in (("sso_url", "Single Sign On URL", True), ("slo_url", "Single Logout URL", False)):
        if message := _url_error(clean.get(key), label, required):
            errors[key] = message
    clean["slo_url"] = clean.get("slo_url") or None
    if "metadata_url" in clean:
        clean["metadata_url"] = clean["metadata_url"] or None
        if message := metadata_url_error(clean["metadata_url"], current_app):
            errors["metadata_url"] = message
    if "metadata_signing_cert" in clean:
        _validate_signing_cert(clean, provider, errors)
    if "logout_signed" in clean:
        clean["logout_signed"] = bool(clean["logout_signed"])
    if clean.get("sso_binding", SSO_BINDING_REDIRECT) not in (SSO_BINDING_REDIRECT, SSO_BINDING_POST):
        errors["sso_binding"] = "Choose HTTP-Redirect or HTTP-POST."
    if "scim_enabled" in clean:
        clean["scim_enabled"] = bool(clean["scim_enabled"])
    if clean.get("users_from", USERS_FROM_JIT) not in USERS_FROM:
        errors["users_from"] = "Choose where users come from: jit (SAML sign-in), scim or both."
    if "dormant_days" in clean:
        clean["dormant_days"] = _dormant_days(clean["dormant_days"], errors)
    if clean.get("new_user_type", "employee") not in USER_TYPES:
        errors["new_user_type"] = f"Choose one of: {', '.join(USER_TYPES)}."
    clean["allowed_domains"] = [d.lower().lstrip("@") for d in split_list(clean.get("allowed_domains"))]
    if bad := [d for d in clean["allowed_domains"] if not DOMAIN.match(d)]:
        errors["allowed_domains"] = f"Not a domain name: {', '.join(bad)}."
    _validate_link_by(clean, errors)
    if "enforce_sso" in clean:
        clean["enforce_sso"] = bool(clean["enforce_sso"])
        _guard_enforcement(clean, provider, errors)
    clean["required_groups"] = split_list(clean.get("required_groups"))
    if clean["required_groups"] and not (clean.get("groups_attribute") or (provider and provider.role_mappings)):
        errors["groups_attribute"] = ("Required groups need the Groups attribute: the SAML attribute that lists the "
                                      "user's groups. Without it nobody could sign in.")
    _validate_licenses(clean, errors)
    _validate_session_policy(clean, errors)
    if errors:
        raise ProviderInvalid(errors)
    return clean


def _validate_link_by(clean: dict[str, Any], errors: dict[str, str]) -> None:
    """Email linking trusts the IdP's word for an email address, so only for the domains the provider vouches for
    (its email domains): without any, every account with a matching email could be claimed."""
    if "link_by" not in clean:
        return
    if clean["link_by"] not in LINK_BY:
        errors["link_by"] = f"Choose how existing accounts are linked: {', '.join(LINK_BY)}."
    elif clean["link_by"] == LINK_BY_EMAIL and not clean["allowed_domains"] and "allowed_domains" not in errors:
        errors["link_by"] = ("Linking by email needs the provider's email domains: only emails in those domains are "
                             "linked. Enter the email domains first, or link by username or never.")


def _guard_enforcement(clean: dict[str, Any], provider: IdentityProvider | None, errors: dict[str, str]) -> None:
    """The lock-out guard (realms.py): turning enforcement on needs a passed Test Sign In within the hour and a
    break-glass administrator; while it is on, no email domain may belong to another enforcing provider too."""
    if not clean["enforce_sso"] or "allowed_domains" in errors:
        return
    if provider is None:
        errors["enforce_sso"] = "Save the provider and run a Test Sign In through it before requiring single sign-on."
    elif not provider.enforce_sso:
        if problems := realms.enforcement_problems(provider, clean["allowed_domains"]):
            errors["enforce_sso"] = " ".join(problems)
    elif clashes := realms.domain_clashes(provider, clean["allowed_domains"]):
        errors["allowed_domains"] = " ".join(clashes)


def _dormant_days(value: Any, errors: dict[str, str]) -> int | None:
    """The days without sign-in before a JIT user's seats are reclaimed: a whole number of days, or None (off).
    Off is spelled None, "", "off" (the command line) or absent; zero would reclaim everyone at once, so it is
    refused rather than read as off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not MIN_DORMANT_DAYS <= int(text) <= MAX_DORMANT_DAYS:
        errors["dormant_days"] = (f"Enter a whole number of days from {MIN_DORMANT_DAYS} to {MAX_DORMANT_DAYS}, or "
                                  "leave it empty to never reclaim seats.")
        return None
    return int(text)


def _validate_signing_cert(clean: dict[str, Any], provider: IdentityProvider | None, errors: dict[str, str]) -> None:
    """The certificate a federation signs its metadata with: normalised PEM, current when it is new."""
    text = clean["metadata_signing_cert"]
    if not text:
        clean["metadata_signing_cert"] = None
        return
    try:
        info = parse_certificate(text)
        if provider is None or info.pem != provider.metadata_signing_cert:
            require_current(info)
    except CertificateInvalid as error:
        errors["metadata_signing_cert"] = str(error)
        return
    clean["metadata_signing_cert"] = info.pem


def _validate_licenses(clean: dict[str, Any], errors: dict[str, str]) -> None:
    policy = clean.get("license_policy") or LICENSES_ALL
    names = split_list(clean.get("licenses"))
    packages = []
    for name in names:
        package = find_package(name)
        if package is None:
            errors["licenses"] = f'No license package is named "{name}".'
        packages.append(package)
    if policy == LICENSES_SELECTED and not names:
        errors["licenses"] = "Choose at least one license package, or grant all available ones."
    if policy not in (LICENSES_ALL, LICENSES_SELECTED):
        errors["license_policy"] = "Choose all available licenses or selected packages."
    clean["license_policy"], clean["license_packages"] = policy, packages if policy == LICENSES_SELECTED else []


def _whole_number(value: Any) -> int | None:
    """An int from a form, the command line or an imported file ("120" too); None when it is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,9}", value.strip()):
        return int(value)
    return None


def _validate_session_policy(clean: dict[str, Any], errors: dict[str, str]) -> None:
    """Clock skew 0-300 s; session lifetime 1-720 hours or none (the console's own maximum); ForceAuthn a switch.
    Only the keys given are checked: an older export without them keeps the provider's values."""
    if "clock_skew_seconds" in clean:
        skew = _whole_number(clean["clock_skew_seconds"])
        if skew is None or not 0 <= skew <= MAX_CLOCK_SKEW:
            errors["clock_skew_seconds"] = (f"Clock skew must be a whole number of seconds from 0 to {MAX_CLOCK_SKEW}"
                                            f" (got {clean['clock_skew_seconds']!r}).")
        clean["clock_skew_seconds"] = skew
    if "session_max_hours" in clean:
        raw = clean["session_max_hours"]
        hours = None if raw in (None, "") else _whole_number(raw)
        if raw not in (None, "") and (hours is None or not 1 <= hours <= MAX_SESSION_HOURS):
            errors["session_max_hours"] = (f"Session lifetime must be a whole number of hours from 1 to "
                                           f"{MAX_SESSION_HOURS}, or empty for the console's own maximum "
                                           f"(got {raw!r}).")
        clean["session_max_hours"] = hours
    for flag in ("force_authn", "hint_in_subject"):
        if flag in clean:
            clean[flag] = bool(clean[flag])
    for flag, label in (("sign_requests", "Sign authentication requests"),
                        ("want_encrypted", "Require encrypted assertions")):
        if flag in clean and not isinstance(clean[flag], bool):  # an import's "yes" is not silently taken as on
            errors[flag] = f"{label} must be on or off (true or false), not {clean[flag]!r}."


SETTINGS = ("display_name", "slug", "entity_id", "sso_url", "sso_binding", "slo_url", "logout_signed", "enabled",
            "jit_enabled",
            "show_on_login", "allow_idp_initiated", "license_policy", "new_user_type", "allowed_domains",
            "required_groups", "groups_attribute", "immutable_id_attribute", "scim_enabled", "users_from",
            "enforce_sso", "dormant_days", "metadata_url", "metadata_signing_cert", "clock_skew_seconds",
            "session_max_hours", "force_authn", "link_by", "sign_requests", "want_encrypted", "hint_in_subject")


def provider_values(provider: IdentityProvider) -> dict[str, Any]:
    """The provider's settings as shown in the audit trail and exported."""
    values = {key: getattr(provider, key) for key in SETTINGS}
    values["licenses"] = [p.name for p in provider.license_packages]
    return values


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    """Settings as the audit trail shows them: the metadata-signing certificate by its fingerprint."""
    pem = values.get("metadata_signing_cert")
    return values | ({"metadata_signing_cert": parse_certificate(pem).fingerprint_sha256} if pem else {})


def save_provider(provider: IdentityProvider | None, values: dict[str, Any],
                  certificates: list[CertificateInfo] = ()) -> IdentityProvider:
    """Create or update a provider (a new one needs a current signing certificate); audit the change."""
    clean = validate(values, provider)
    if provider is None and not certificates:
        raise ProviderInvalid({"certificate": "Add the IdP's signing certificate, or import its metadata."})
    before = _audited(provider_values(provider)) if provider else {}
    provider = provider or IdentityProvider()
    if before and clean.get("metadata_url", provider.metadata_url) != provider.metadata_url:
        provider.last_refreshed = provider.refresh_error = None  # a new URL is due for a refresh at once
    for key in SETTINGS:
        if key in clean:
            setattr(provider, key, clean[key])
    provider.license_packages = clean["license_packages"]
    db.session.add(provider)
    db.session.flush()
    for info in certificates:
        add_certificate(provider, info, audited=False)
    changes = audit.diff(before, _audited(provider_values(provider)))
    details = _shorten_open_sessions(provider, changes) if before else {}
    if certificates and not before:
        changes["certificates"] = {"before": None, "after": [c.fingerprint_sha256 for c in certificates]}
    if changes:
        audit.record("sso.provider_" + ("update" if before else "create"),
                     f"{'Changed' if before else 'Added'} identity provider {provider.display_name}",
                     category=CONFIG, target=provider, changes=changes, idp_slug=provider.slug, details=details or None)
    return provider


def _shorten_open_sessions(provider: IdentityProvider, changes: dict[str, Any]) -> dict[str, Any]:
    """A shorter session lifetime holds for the sessions open now too (a longer one only for later sign-ins: a
    session never outlives what it was given at sign-in); what the audit event says of it."""
    if "session_max_hours" not in changes or not provider.session_max_hours:
        return {}
    ended_sooner = cap_lifetime(sso_method(provider.slug), timedelta(hours=provider.session_max_hours))
    return {"sessions_shortened": ended_sooner} if ended_sooner else {}


def add_certificate(provider: IdentityProvider, info: CertificateInfo, audited: bool = True,
                    published: bool = False) -> IdpCertificate:
    """Add a current signing certificate (every one the IdP uses, up to MAX_CERTIFICATES).

    `published`: the IdP's own metadata lists it, so one valid only from a later day is its next key, kept ahead of
    the rollover (a pasted one must be valid now).
    """
    if published:
        if info.expired():
            raise CertificateInvalid(f"This certificate expired on {info.not_after:%Y-%m-%d} ({info.subject}).")
    else:
        require_current(info)
    if any(c.fingerprint_sha256 == info.fingerprint_sha256 for c in provider.certificates):
        raise ProviderInvalid({"certificate": "This certificate is already configured."})
    if len(provider.certificates) >= MAX_CERTIFICATES:
        raise ProviderInvalid({"certificate": f"{MAX_CERTIFICATES} certificates are already configured; remove an "
                                              "expired or unused one first."})
    cert = IdpCertificate(pem=info.pem, fingerprint_sha256=info.fingerprint_sha256, subject=info.subject[:500],
                          not_before=info.not_before, not_after=info.not_after)
    provider.certificates.append(cert)
    db.session.flush()
    if audited:
        audit.record("sso.certificate_add", f"Added a signing certificate to {provider.display_name}",
                     category=CONFIG, target=provider, idp_slug=provider.slug,
                     changes={"certificate": {"before": None, "after": f"{info.subject} · {info.fingerprint_sha256}"}})
    return cert


def remove_certificate(provider: IdentityProvider, cert: IdpCertificate, replaced: bool = False) -> None:
    """Remove a certificate, audited (certificate_history.py reads it back); the last one stays (the sign-in could
    not verify anything without it) unless `replaced`: an import adds the new ones in the same transaction."""
    if len(provider.certificates) <= 1 and not replaced:
        raise ProviderInvalid({"certificate": "A provider needs at least one signing certificate; add the new one "
                                              "before removing this one."})
    provider.certificates.remove(cert)
    audit.record("sso.certificate_remove", f"Removed a signing certificate from {provider.display_name}",
                 category=CONFIG, target=provider, idp_slug=provider.slug,
                 changes={"certificate": {"before": f"{cert.subject} · {cert.fingerprint_sha256}", "after": None}})


def delete_provider(provider: IdentityProvider) -> None:
    """Delete a provider and its mappings (users it created keep their accounts)."""
    audit.record("sso.provider_delete", f"Deleted identity provider {provider.display_name}", category=CONFIG,
                 target=provider, idp_slug=provider.slug, changes=audit.diff(provider_values(provider), {}))
    db.session.delete(provider)


PUBLISHED = ("entity_id", "sso_url", "sso_binding", "slo_url")  # what an IdP's metadata decides


def describe_certificate(cert: CertificateInfo | IdpCertificate) -> str:
    """A certificate as the audit trail and the refresh report name it."""
    return f"{cert.subject} · valid to {cert.not_after:%Y-%m-%d} · {cert.fingerprint_sha256}"


def apply_published(provider: IdentityProvider, published: dict[str, Any],
                    certificates: list[CertificateInfo]) -> dict[str, Any]:
    """Bring the provider in line with its IdP's metadata in the current transaction: the Entity ID and URLs, and
    exactly the certificates published (new ones added, those no longer listed removed). Returns what changed, for
    one audit event the caller writes; raises ProviderInvalid or CertificateInvalid (the caller rolls back, so a
    document that cannot be used changes nothing)."""
    clean = validate(provider_values(provider) | {k: published[k] for k in PUBLISHED}, provider)
    changes = audit.diff({k: getattr(provider, k) for k in PUBLISHED}, {k: clean[k] for k in PUBLISHED})
    for key in PUBLISHED:
        setattr(provider, key, clean[key])
    wanted = {c.fingerprint_sha256: c for c in certificates}
    removed = [c for c in provider.certificates if c.fingerprint_sha256 not in wanted]
    for cert in removed:
        provider.certificates.remove(cert)
    db.session.flush()
    have = {c.fingerprint_sha256 for c in provider.certificates}
    added = [info for fingerprint, info in wanted.items() if fingerprint not in have]
    for info in added:
        add_certificate(provider, info, audited=False, published=True)
    if added or removed:
        changes["certificates"] = {"added": [describe_certificate(c) for c in added],
                                   "removed": [describe_certificate(c) for c in removed]}
    return changes
