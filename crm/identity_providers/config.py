"""A provider's configuration as the sign-in reads it: frozen, built once per configuration version and cached.

Every sign-in asks the database for one row (the provider's id and config_version, by slug); everything else
(certificates, the JIT policy, what the protocol builds from them) comes from the cache until an admin changes
something. config_version changes with every change of the provider or its rows (models._bump_config_version)
and is read at every sign-in, so every worker sees a change at its next sign-in.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from flask import current_app
from sqlalchemy import bindparam, select

from crm.extensions import db
from crm.identity_providers.certificate_history import RemovedCertificate, removed_certificates
from crm.identity_providers.certificates import CertificateInfo
from crm.identity_providers.models import IdentityProvider
from crm.identity_providers.policy import ProviderPolicy

T = TypeVar("T")
MAX_CACHED = 256


@dataclass(frozen=True)
class ProviderConfig:
    """One identity provider's settings, certificates and JIT policy, as plain values."""

    id: int
    slug: str
    display_name: str
    entity_id: str
    sso_url: str
    sso_binding: str
    slo_url: str | None
    logout_signed: bool
    enabled: bool
    allow_idp_initiated: bool
    clock_skew: timedelta  # allowed on NotBefore, NotOnOrAfter and SubjectConfirmationData
    session_max: timedelta | None  # None: only the console's own limits
    force_authn: bool
    certificates: tuple[CertificateInfo, ...]
    policy: ProviderPolicy
    version: tuple[int, int, datetime]  # (id, config_version, created_at): what the caches key on
    sign_requests: bool = False  # our AuthnRequests and logout messages to it are signed with the active SP key
    want_encrypted: bool = False  # an assertion that is not encrypted is refused
    hint_in_subject: bool = False  # the login hint goes in the AuthnRequest's Subject too
    # Certificates it had and no longer has (never used to verify: only to name what a refused signature used).
    removed_certificates: tuple[RemovedCertificate, ...] = ()

    @classmethod
    def from_provider(cls, provider: IdentityProvider) -> ProviderConfig:
        """Read a provider, its certificates (and those it had, from the audit trail) and mapping lookups."""
        certificates = tuple(CertificateInfo(c.pem, c.fingerprint_sha256, c.subject, c.not_before, c.not_after)
                             for c in provider.certificates)
        return cls(provider.id, provider.slug, provider.display_name, provider.entity_id, provider.sso_url,
                   provider.sso_binding, provider.slo_url, provider.logout_signed, provider.enabled,
                   provider.allow_idp_initiated, timedelta(seconds=provider.clock_skew_seconds),
                   timedelta(hours=provider.session_max_hours) if provider.session_max_hours else None,
                   provider.force_authn, certificates, ProviderPolicy.from_provider(provider),
                   (provider.id, provider.config_version, provider.created_at), provider.sign_requests,
                   provider.want_encrypted, provider.hint_in_subject,
                   removed_certificates(provider.slug, provider.created_at))


_PROVIDERS = IdentityProvider.__table__
_VERSION_BY_SLUG = (select(_PROVIDERS.c.id, _PROVIDERS.c.config_version, _PROVIDERS.c.created_at)
                    .where(_PROVIDERS.c.slug == bindparam("slug")))


def provider_config(slug: str) -> ProviderConfig | None:
    """The configuration of the provider with this slug as it is now (one small SELECT; the rest from the cache)."""
    slug = (slug or "").strip().lower()
    key = db.session.connection().execute(_VERSION_BY_SLUG, {"slug": slug}).first()
    if key is None:
        return None
    config = cached_for(tuple(key), "config", lambda: ProviderConfig.from_provider(db.session.get(IdentityProvider,
                                                                                                  key.id)))
    current_app.extensions.setdefault("provider_config_by_slug", {})[slug] = config
    return config


def last_config(slug: str) -> ProviderConfig | None:
    """The configuration this worker last read for the slug, without asking the database (else it reads it).

    Only for a sign-in, which confirms the version inside its own transaction (ConfigChanged) before it commits,
    and reads the configuration again before it refuses anyone on the strength of a stale copy.
    """
    known = current_app.extensions.get("provider_config_by_slug", {}).get((slug or "").strip().lower())
    return known or provider_config(slug)


def config_of(provider: IdentityProvider) -> ProviderConfig:
    """The configuration of a provider the caller has loaded already."""
    return cached_for((provider.id, provider.config_version, provider.created_at), "config",
                      lambda: ProviderConfig.from_provider(provider))


def cached_for(version: tuple, kind: str, build: Callable[[], T]) -> T:
    """What `build` makes from a provider's configuration, built once per configuration version and app.

    created_at tells apart providers that a recreated database gave the same id and version.
    """
    cache = current_app.extensions.setdefault("provider_config_cache", {})
    key = (kind, *version)
    built = cache.get(key)
    if built is None:
        if len(cache) > MAX_CACHED:
            cache.clear()
        built = cache[key] = build()
    return built
