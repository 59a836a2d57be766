"""Filling provider forms from IdP metadata, and refreshing a provider from new metadata."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import current_app, flash

from crm.audit import services as audit
from crm.audit.models import CONFIG
from crm.identity_providers import services as providers
from crm.identity_providers.certificates import CertificateInvalid, parse_certificate
from crm.identity_providers.metadata_source import FetchFailed, metadata_url_error
from crm.identity_providers.models import IdentityProvider
from crm.sso.metadata import ChooseIdentityProvider, IdpMetadata, MetadataInvalid, parse_idp_metadata
from crm.sso.refresh import describe_changes, fetch_published


def _document(form) -> bytes | str:
    upload = form.metadata_file.data
    if upload and getattr(upload, "filename", ""):
        data = upload.read()
        if not form.metadata_xml.data:
            # Keep the document in the form, so choosing an IdP of a federation needs no second upload.
            form.metadata_xml.data = data.decode("utf-8", errors="replace").lstrip("\ufeff")
        return data
    return form.metadata_xml.data or ""


def parse_form_metadata(form) -> IdpMetadata | None:
    """Parse the metadata given in the form (pasted, uploaded, or, on a new provider, fetched from its metadata URL);
    put the reason on the form when it cannot be used."""
    document = _document(form)
    url = getattr(form, "metadata_url", None)
    if not (document.strip() if isinstance(document, str) else document.strip()):
        if url is not None and url.data:
            return _fetch_into(form)
        form.metadata_xml.errors = ["Paste the metadata XML or choose the metadata file."]
        return None
    try:
        return parse_idp_metadata(document, form.metadata_entity.data or None)
    except ChooseIdentityProvider as choose:
        form.metadata_entity.choices = [(e, e) for e in choose.entity_ids]
        form.metadata_xml.errors = [str(choose)]
    except MetadataInvalid as invalid:
        form.metadata_xml.errors = [str(invalid)]
    return None


def _fetch_into(form) -> IdpMetadata | None:
    url = form.metadata_url.data.strip()
    if message := metadata_url_error(url, current_app):
        form.metadata_url.errors = [message]
        return None
    try:
        signing_cert = parse_certificate(form.metadata_signing_cert.data).pem if form.metadata_signing_cert.data \
            else None
    except CertificateInvalid as error:
        form.metadata_signing_cert.errors = [str(error)]
        return None
    try:
        return fetch_published(url, form.metadata_entity.data or None, signing_cert)
    except ChooseIdentityProvider as choose:
        form.metadata_entity.choices = [(e, e) for e in choose.entity_ids]
        form.metadata_url.errors = [str(choose)]
    except (MetadataInvalid, FetchFailed) as invalid:
        form.metadata_url.errors = [str(invalid)]
    return None


def read_metadata_into(form) -> bool:
    """Fill a new-provider form from metadata (nothing is saved); True when it worked."""
    metadata = parse_form_metadata(form)
    if metadata is None:
        return False
    form.entity_id.data = metadata.entity_id
    form.sso_url.data = metadata.sso_url
    form.sso_binding.data = metadata.sso_binding
    form.slo_url.data = metadata.slo_url or ""
    form.certificate.data = "\n".join(c.pem for c in metadata.certificates)
    host = urlsplit(metadata.sso_url).hostname or "idp"
    form.display_name.data = form.display_name.data or _display_name(host)
    form.slug.data = form.slug.data or re.sub(r"[^a-z0-9]+", "-", host.split(".")[-2] if "." in host else host)[:60]
    with current_app.app_context():
        message = providers._url_error(metadata.sso_url, "Single Sign On URL", True)
    if message:
        form.sso_url.errors = [message]
    flash("Read the metadata: check the values below, then save." + "".join(f" {n}" for n in metadata.notes), "info")
    return True


def _display_name(host: str) -> str:
    known = {"microsoftonline": "Microsoft Entra ID", "okta": "Okta", "google": "Google Workspace",
             "onelogin": "OneLogin", "jumpcloud": "JumpCloud"}
    return next((name for key, name in known.items() if key in host), host)


def refresh_from_metadata(provider: IdentityProvider, form) -> tuple[str, ...]:
    """Update Entity ID, URLs and certificates from new metadata, all or nothing, in one audit event; return notes."""
    metadata = parse_form_metadata(form)
    if metadata is None:
        raise MetadataInvalid(form.metadata_xml.errors[0])
    published = {"entity_id": metadata.entity_id, "sso_url": metadata.sso_url, "sso_binding": metadata.sso_binding,
                 "slo_url": metadata.slo_url}
    changes = providers.apply_published(provider, published, list(metadata.certificates))
    if changes:
        audit.record("sso.metadata_update", f"Updated {provider.display_name} from uploaded metadata: "
                     + "; ".join(describe_changes(changes)), category=CONFIG, target=provider,
                     idp_slug=provider.slug, changes=changes)
    return metadata.notes
