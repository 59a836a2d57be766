"""Refreshing a provider from its metadata URL: fetch, read as an upload is read, apply all or nothing, audit.

The fetch runs outside any transaction (it may take up to CRM_METADATA_TIMEOUT_SECONDS); the changes are applied in
one transaction with the provider's row locked, and recorded in one audit event naming each certificate added or
removed and each URL changed. A document that cannot be fetched or used changes nothing: the reason is kept on the
provider (shown on its page) and audited. The bookkeeping (when, why it failed) is written with plain UPDATEs, so a
refresh that finds nothing new leaves config_version, and every cache keyed on it, alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from crm.audit import services as audit
from crm.audit.models import CONFIG
from crm.extensions import db
from crm.identity_providers import services as providers
from crm.identity_providers.metadata_source import FetchPolicy, fetch_metadata
from crm.identity_providers.models import IdentityProvider
from crm.sso.metadata import IdpMetadata, read_published_metadata
from crm.timeutil import utcnow

_PROVIDERS = IdentityProvider.__table__
MAX_RETRY = timedelta(hours=1)  # a failed refresh is tried again after this (or the interval, when shorter)


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: `changes` as the audit event has them, or `error` saying why nothing changed."""

    slug: str
    ok: bool
    url: str
    changes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    notes: tuple[str, ...] = ()
    reference: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The result as `sso refresh --json` prints it."""
        return asdict(self) | {"notes": list(self.notes), "changed": bool(self.changes)}

    def summary(self) -> str:
        """One line for the admin: what changed, or why nothing did."""
        if not self.ok:
            return f"{self.slug}: refresh failed, nothing changed: {self.error}"
        if not self.changes:
            return f"{self.slug}: refreshed, nothing changed."
        return f"{self.slug}: refreshed: " + "; ".join(describe_changes(self.changes)) + "."


def describe_changes(changes: dict[str, Any]) -> list[str]:
    """The changes in words: certificates added and removed, URLs from -> to."""
    words = []
    certificates = changes.get("certificates") or {}
    words += [f"certificate added: {c}" for c in certificates.get("added", [])]
    words += [f"certificate removed: {c}" for c in certificates.get("removed", [])]
    words += [f"{key.replace('_', ' ')}: {change['before'] or '—'} → {change['after'] or '—'}"
              for key, change in changes.items() if key != "certificates"]
    return words


def refresh_provider(provider: IdentityProvider, automatic: bool = False) -> RefreshResult:
    """Fetch the provider's metadata URL and apply what it publishes; commits, and never raises for a bad document."""
    slug, provider_id, url = provider.slug, provider.id, provider.metadata_url
    entity_id, signing_cert = provider.entity_id, provider.metadata_signing_cert
    previous_error = provider.refresh_error
    if not url:
        return RefreshResult(slug, False, "", error=f"{slug} has no metadata URL.")
    _claim(provider_id, utcnow())
    db.session.commit()  # the claim is visible to other workers; nothing is held while fetching
    try:
        fetched = fetch_metadata(url, FetchPolicy.of(current_app))
        metadata = read_published_metadata(fetched.body, entity_id, signing_cert,
                                           int(current_app.config["METADATA_MAX_BYTES"]))
        return _apply(provider_id, url, metadata, fetched.url, fetched.redirects, automatic)
    # FetchFailed, MetadataInvalid, CertificateInvalid and ProviderInvalid are ValueErrors, with the reason in words;
    # any other ValueError (a library refusing the document) is a reason too, never a 500 or a traceback in cron.
    except (ValueError, IntegrityError) as error:
        db.session.rollback()
        reason = "; ".join(error.errors.values()) if isinstance(error, providers.ProviderInvalid) else str(error)
        if isinstance(error, IntegrityError):
            reason = "another refresh of this provider changed it at the same time; refresh again."
        return _failed(provider_id, slug, url, reason, automatic and reason == previous_error)


def _apply(provider_id: int, url: str, metadata: IdpMetadata, final_url: str, redirects: tuple[str, ...],
           automatic: bool) -> RefreshResult:
    provider = db.session.scalars(select(IdentityProvider).where(IdentityProvider.id == provider_id)
                                  .with_for_update()).one()
    published = {"entity_id": metadata.entity_id, "sso_url": metadata.sso_url, "sso_binding": metadata.sso_binding,
                 "slo_url": metadata.slo_url}
    changes = providers.apply_published(provider, published, list(metadata.certificates))
    reference = None
    if changes:
        event = audit.record("sso.metadata_refresh", f"Refreshed {provider.display_name} from its metadata URL: "
                             + "; ".join(describe_changes(changes)), category=CONFIG, target=provider,
                             idp_slug=provider.slug, changes=changes,
                             details={"url": url, "fetched": final_url, "redirects": list(redirects),
                                      "trigger": "automatic" if automatic else "manual", "notes": list(metadata.notes)})
        reference = event.reference
    db.session.flush()
    db.session.execute(update(_PROVIDERS).where(_PROVIDERS.c.id == provider_id)
                       .values(last_refreshed=utcnow(), refresh_error=None))
    db.session.commit()
    return RefreshResult(provider.slug, True, url, changes, None, metadata.notes, reference)


def _failed(provider_id: int, slug: str, url: str, reason: str, repeated: bool) -> RefreshResult:
    """Keep and audit why the refresh failed (an automatic one failing again the same way is not audited again)."""
    provider = db.session.get(IdentityProvider, provider_id)
    reference = None
    if provider is not None and not repeated:
        reference = audit.record("sso.metadata_refresh_failed", f"Refreshing {provider.display_name} from its "
                                 f"metadata URL failed; nothing changed: {reason}", category=CONFIG, target=provider,
                                 idp_slug=slug, reason=reason, details={"url": url}).reference
    db.session.execute(update(_PROVIDERS).where(_PROVIDERS.c.id == provider_id).values(refresh_error=reason))
    db.session.commit()
    return RefreshResult(slug, False, url, error=reason, reference=reference)


def _claim(provider_id: int, now: datetime, stale_before: datetime | None = None) -> bool:
    """Mark the provider as being refreshed now; with `stale_before`, only when no other worker did since then
    (True when this worker got it)."""
    stmt = update(_PROVIDERS).where(_PROVIDERS.c.id == provider_id).values(refresh_claimed_at=now)
    if stale_before is not None:
        claimed = _PROVIDERS.c.refresh_claimed_at
        stmt = stmt.where(or_(claimed.is_(None), claimed < stale_before))
    return db.session.execute(stmt).rowcount == 1


def refresh_all(slug: str | None = None) -> list[RefreshResult]:
    """Refresh one provider, or every provider with a metadata URL (what `sso refresh` runs from cron)."""
    query = select(IdentityProvider).where(IdentityProvider.metadata_url.is_not(None)).order_by(IdentityProvider.slug)
    if slug:
        query = query.where(IdentityProvider.slug == slug.strip().lower())
    return [refresh_provider(provider) for provider in list(db.session.scalars(query))]


def due_providers(now: datetime, interval: timedelta) -> list[int]:
    """Providers with a metadata URL last refreshed longer than `interval` ago, that no worker tried lately."""
    columns = _PROVIDERS.c
    query = (select(columns.id).where(
        columns.metadata_url.is_not(None),
        or_(columns.last_refreshed.is_(None), columns.last_refreshed < now - interval),
        or_(columns.refresh_claimed_at.is_(None), columns.refresh_claimed_at < now - min(interval, MAX_RETRY)))
        .order_by(columns.id))
    return list(db.session.scalars(query))


def refresh_due(now: datetime | None = None) -> list[RefreshResult]:
    """Refresh every provider that is due, each claimed first so that of several workers only one fetches it."""
    hours = float(current_app.config["METADATA_REFRESH_HOURS"] or 0)
    if hours <= 0:
        return []
    now, interval = now or utcnow(), timedelta(hours=hours)
    results = []
    for provider_id in due_providers(now, interval):
        won = _claim(provider_id, now, now - min(interval, MAX_RETRY))
        db.session.commit()
        provider = db.session.get(IdentityProvider, provider_id) if won else None
        if provider is not None:
            results.append(refresh_provider(provider, automatic=True))
    return results


def fetch_published(url: str, entity_id: str | None = None, signing_cert: str | None = None) -> IdpMetadata:
    """Fetch and read the metadata of a provider being added (raises FetchFailed or MetadataInvalid, the latter as
    ChooseIdentityProvider for a federation without `entity_id`)."""
    fetched = fetch_metadata(url, FetchPolicy.of(current_app))
    return read_published_metadata(fetched.body, entity_id, signing_cert, int(current_app.config["METADATA_MAX_BYTES"]))


def mark_refreshed(provider_id: int) -> None:
    """Note that the provider was just read from its metadata URL (in the caller's transaction)."""
    now = utcnow()
    db.session.execute(update(_PROVIDERS).where(_PROVIDERS.c.id == provider_id)
                       .values(last_refreshed=now, refresh_claimed_at=now, refresh_error=None))
