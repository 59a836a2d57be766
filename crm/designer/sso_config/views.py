"""System Designer → Single Sign On configuration: providers, certificates, mapping lookups, presets."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from htmx_flask import make_response as htmx_response

from crm.audit import services as audit
from crm.audit.models import PROVISIONING
from crm.auth.access import admin_required
from crm.designer.sso_config.activity import certificate_timeline, sso_activity
from crm.designer.sso_config.forms import (
    AttributeMappingForm,
    CertificateForm,
    MetadataForm,
    NewProviderForm,
    PresetForm,
    ProviderForm,
    RoleMappingForm,
    SessionPolicyForm,
)
from crm.designer.sso_config.preview import mapping_preview
from crm.designer.sso_config.scim_views import USERS_FROM_LABELS, scim_url
from crm.designer.sso_config.services import read_metadata_into, refresh_from_metadata
from crm.extensions import db
from crm.identity_providers import mappings, scim_tokens
from crm.identity_providers import services as providers
from crm.identity_providers.certificates import CertificateInvalid, parse_certificate, read_certificates
from crm.identity_providers.config import config_of
from crm.identity_providers.console_policy import console_policy, set_idle_timeout
from crm.identity_providers.models import AttributeMapping, IdentityProvider, IdpCertificate, RoleMapping
from crm.licensing.services import all_packages
from crm.sso import sp_keys
from crm.sso.attempts import TEST, recent_attempts
from crm.sso.metadata import MetadataInvalid
from crm.sso.models import SignInAttempt
from crm.sso.refresh import describe_changes, refresh_provider
from crm.sso.report import build_report
from crm.sso.settings import sp_urls

bp = Blueprint("sso_config", __name__, url_prefix="/sso")

def _provider(slug: str) -> IdentityProvider:
    return providers.find_provider(slug) or abort(404)


def _owned(model, row_id: int, provider: IdentityProvider):
    """A row of one of the provider's lists (certificates, mappings, attempts); 404 for another provider's."""
    row = db.session.get(model, row_id)
    if row is None or row.provider_id != provider.id:
        abort(404)
    return row


def _with_choices(form: ProviderForm) -> ProviderForm:
    form.licenses.choices = [(p.name, p.name) for p in all_packages()]
    return form


def _show(form, errors: dict[str, str]) -> None:
    for key, message in errors.items():
        field = form[key] if key in form else None
        if field is None:
            flash(message, "error")
        else:
            field.errors = list(field.errors) + [message]


def _index(session_form: SessionPolicyForm | None = None):
    sp_keys.ensure_active_key()
    everyone = providers.all_providers()
    policy = console_policy()
    session_form = session_form or SessionPolicyForm(idle_minutes=policy["session_idle_minutes"])
    return render_template("designer/sso/index.html", providers=everyone,
                           activity=sso_activity([p.slug for p in everyone]), sp_keys=sp_keys.all_keys(),
                           rollover_started=sp_keys.rollover_started(), fetches=sp_keys.metadata_fetches(),
                           session_form=session_form, session_max_hours=policy["session_max_hours"])


@bp.get("")
@admin_required
def index():
    """Single Sign On configuration: every identity provider with its state and its sign-ins at a glance, the
    console-wide session setting, and our own keys (with, during a rollover, which providers have fetched the
    metadata that publishes the next key)."""
    return _index()


@bp.post("/session-policy")
@admin_required
def session_policy():
    """Save the console's idle timeout (audited); a bad value is shown on the form and changes nothing."""
    form = SessionPolicyForm()
    if not form.validate():
        return _index(form), 200  # (as every form of the console: a 4xx is an error in the browser console)
    if set_idle_timeout(form.idle_minutes.data):
        db.session.commit()
        flash(f"Sessions now end after {form.idle_minutes.data} minutes unused.", "success")
    return redirect(url_for(".index") + "#sessions")


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    """Add a provider: import its metadata (fields fill themselves) or type the values; Save creates it."""
    form = _with_choices(NewProviderForm())
    if request.method == "POST":  # CSRFProtect has checked the token already
        if request.form.get("action") == "import":
            read_metadata_into(form)
        elif form.validate():
            try:
                provider = providers.save_provider(None, form.values(), read_certificates(form.certificate.data))
            except CertificateInvalid as error:
                db.session.rollback()
                form.certificate.errors = [str(error)]
            except providers.ProviderInvalid as invalid:
                db.session.rollback()
                _show(form, invalid.errors)
            else:
                db.session.commit()
                flash(f"Identity provider {provider.display_name} added. Now map its attributes below.", "success")
                return redirect(url_for(".provider", slug=provider.slug))
    return render_template("designer/sso/new.html", form=form)


def _page(provider: IdentityProvider, **forms):
    """Render the provider page; forms passed in (with errors) replace the blank ones."""
    edit_id = request.args.get("edit", type=int)
    context = {
        "provider": provider,
        "form": forms.get("form") or _settings_form(provider),
        "certificate_form": forms.get("certificate_form") or CertificateForm(),
        "metadata_form": forms.get("metadata_form") or MetadataForm(),
        "mapping_form": forms.get("mapping_form") or AttributeMappingForm(formdata=None),
        "role_form": _role_form(forms.get("role_form") or RoleMappingForm(formdata=None,
                                                                          saml_attribute=provider.groups_attribute)),
        "preset_form": PresetForm(formdata=None, preset=request.args.get("preset")),
        "edit_id": forms.get("edit_id", edit_id),
        "edit_form": forms.get("edit_form"),
        "urls": sp_urls(provider.slug),
        "attempts": recent_attempts(provider.id),
        "update_on": mappings.UPDATE_ON,
        "preview": mapping_preview(provider),
        "scim_tokens": scim_tokens.all_tokens(provider), "scim_url": scim_url(), "users_from": USERS_FROM_LABELS,
        "cert_timeline": certificate_timeline(provider.certificates),
        "scim_lately": audit.latest(provider.slug, PROVISIONING, "scim.") if provider.scim_enabled else [],
    }
    return render_template("designer/sso/provider.html", **context)


def _settings_form(provider: IdentityProvider) -> ProviderForm:
    """The settings form filled from the provider (lists shown one per line)."""
    form = _with_choices(ProviderForm(formdata=None, obj=provider))
    # obj= wins over keyword data in WTForms, so the list fields are set afterwards.
    form.licenses.data = [p.name for p in provider.license_packages]
    form.allowed_domains.data = "\n".join(provider.allowed_domains or [])
    form.required_groups.data = "\n".join(provider.required_groups or [])
    return form


def _role_form(form: RoleMappingForm | None = None) -> RoleMappingForm:
    form = form or RoleMappingForm(formdata=None)
    form.role.choices = [("", "Choose a role…")] + [(r.name, r.name) for r in mappings.roles_for_choice()]
    return form


@bp.get("/<slug>")
@admin_required
def provider(slug: str):
    """One provider: settings, certificates, the mapping lookups and the values for the IdP admin."""
    return _page(_provider(slug))


@bp.post("/<slug>")
@admin_required
def save(slug: str):
    """Save the provider's settings."""
    provider = _provider(slug)
    form = _with_choices(ProviderForm())
    if form.validate():
        try:
            providers.save_provider(provider, form.values())
        except providers.ProviderInvalid as invalid:
            db.session.rollback()
            _show(form, invalid.errors)
        else:
            db.session.commit()
            flash("Settings saved.", "success")
            return redirect(url_for(".provider", slug=provider.slug))
    db.session.rollback()
    return _page(provider, form=form), 200


@bp.post("/<slug>/metadata")
@admin_required
def update_from_metadata(slug: str):
    """Refresh Entity ID, URLs and certificates from fresh IdP metadata."""
    provider = _provider(slug)
    form = MetadataForm()
    try:
        notes = refresh_from_metadata(provider, form)
    except (MetadataInvalid, CertificateInvalid, providers.ProviderInvalid) as error:
        db.session.rollback()
        form.metadata_xml.errors = [getattr(error, "errors", {}).get("certificate") or str(error)]
        return _page(_provider(slug), metadata_form=form)
    db.session.commit()
    flash("Updated from the metadata." + "".join(f" {n}" for n in notes), "success")
    return redirect(url_for(".provider", slug=provider.slug))


@bp.post("/<slug>/refresh")
@admin_required
def refresh(slug: str):
    """Refresh now: fetch the metadata URL and apply what it publishes; a document that cannot be used changes
    nothing and the page says why."""
    provider = _provider(slug)
    if not provider.metadata_url:
        flash("This provider has no metadata URL: enter one under Settings first.", "error")
        return redirect(url_for(".provider", slug=slug) + "#settings")
    result = refresh_provider(provider)
    if not result.ok:
        flash(f"Refresh failed; nothing changed. {result.error}", "error")
    elif result.changes:
        flash("Refreshed from the metadata URL: " + "; ".join(describe_changes(result.changes)) + ".", "success")
    else:
        flash("Refreshed from the metadata URL: nothing changed.", "success")
    return redirect(url_for(".provider", slug=slug) + "#certificates")


@bp.post("/<slug>/certificates")
@admin_required
def add_certificate(slug: str):
    """Add a signing certificate (for rollover)."""
    provider = _provider(slug)
    form = CertificateForm()
    try:
        providers.add_certificate(provider, parse_certificate(form.certificate.data))
    except CertificateInvalid as error:
        form.certificate.errors = [str(error)]
    except providers.ProviderInvalid as invalid:
        form.certificate.errors = list(invalid.errors.values())
    if form.certificate.errors:
        db.session.rollback()
        return _page(_provider(slug), certificate_form=form)
    db.session.commit()
    flash("Certificate added.", "success")
    return redirect(url_for(".provider", slug=provider.slug) + "#certificates")


@bp.post("/<slug>/certificates/<int:cert_id>/delete")
@admin_required
def remove_certificate(slug: str, cert_id: int):
    """Remove a signing certificate (never the last one)."""
    provider = _provider(slug)
    cert = _owned(IdpCertificate, cert_id, provider)
    try:
        providers.remove_certificate(provider, cert)
    except providers.ProviderInvalid as invalid:
        db.session.rollback()
        flash(invalid.errors["certificate"], "error")
    else:
        db.session.commit()
        flash("Certificate removed.", "success")
    return redirect(url_for(".provider", slug=provider.slug) + "#certificates")


@bp.post("/<slug>/delete")
@admin_required
def delete(slug: str):
    """Delete the provider and its mapping lookups."""
    provider = _provider(slug)
    name = provider.display_name
    providers.delete_provider(provider)
    db.session.commit()
    flash(f"Identity provider {name} deleted.", "success")
    return redirect(url_for(".index"))


@bp.post("/<slug>/preset")
@admin_required
def preset(slug: str):
    """Fill the mapping with a preset's claim names; existing rows are kept."""
    provider = _provider(slug)
    try:
        added = mappings.apply_preset(provider, request.form.get("preset", ""))
    except mappings.MappingInvalid as invalid:
        db.session.rollback()
        flash(invalid.errors["preset"], "error")
    else:
        db.session.commit()
        flash(f"Preset applied: {len(added)} row{'s' if len(added) != 1 else ''} added"
              + ("; rows for fields already mapped were kept." if len(added) < 3 else "."), "success")
    return redirect(url_for(".provider", slug=provider.slug, preset=request.form.get("preset")) + "#mapping")


@bp.post("/<slug>/inspect")
@admin_required
def inspect(slug: str):
    """Paste a SAMLResponse: the same report as Test Sign In, against this provider; nothing is provisioned."""
    provider = _provider(slug)
    saml_response = request.form.get("saml_response", "")
    if not saml_response.strip():
        flash("Paste the SAMLResponse value (base64) to inspect it.", "error")
        return redirect(url_for(".provider", slug=slug) + "#troubleshooting")
    report = build_report(config_of(provider), saml_response)
    return render_template("designer/sso/report.html", provider=provider, report=report, source="Pasted response")


@bp.get("/<slug>/attempts/<int:attempt_id>")
@admin_required
def attempt(slug: str, attempt_id: int):
    """A recent sign-in attempt (or a Test Sign In), opened as a report."""
    provider = _provider(slug)
    attempt = _owned(SignInAttempt, attempt_id, provider)
    report = build_report(config_of(provider), attempt.saml_response, request_id=attempt.request_id,
                          received_at=attempt.received_at, used=attempt.outcome != TEST)
    source = ("Test Sign In" if attempt.outcome == TEST else
              f"Sign-in attempt of {attempt.received_at:%Y-%m-%d %H:%M:%S} UTC ({attempt.outcome})")
    return render_template("designer/sso/report.html", provider=provider, report=report, source=source)


# --- "SAML data to contact fields mapping": rows edited in place with htmx -------------------------------------

def _mapping(provider: IdentityProvider, mapping_id: int) -> AttributeMapping:
    return _owned(AttributeMapping, mapping_id, provider)


def _row(provider, row, focus: bool = False):
    return render_template("designer/sso/_mapping_row.html", provider=provider, row=row, update_on=mappings.UPDATE_ON,
                           focus=focus, preview=mapping_preview(provider))


def _row_form(provider, row, form):
    return render_template("designer/sso/_mapping_row_form.html", provider=provider, row=row, form=form,
                           preview=mapping_preview(provider) if row else None)


@bp.post("/<slug>/mappings")
@admin_required
def mapping_create(slug: str):
    """Add a mapping row; htmx appends it to the table, plain HTML reloads the page."""
    provider = _provider(slug)
    form = AttributeMappingForm()
    try:
        row = mappings.save_attribute_mapping(provider, None, form.saml_attribute.data, form.contact_field.data,
                                              form.default_value.data, form.update_on.data, form.transform.data)
    except mappings.MappingInvalid as invalid:
        db.session.rollback()
        _show(form, invalid.errors)
        provider = _provider(slug)
        if request.htmx:
            return htmx_response(_row_form(provider, None, form), retarget="#mapping-new", reswap="outerHTML")
        return _page(provider, mapping_form=form)
    db.session.commit()
    if request.htmx:
        blank = AttributeMappingForm(formdata=None)
        return _row(provider, row) + render_template("designer/sso/_mapping_row_form.html", provider=provider,
                                                     row=None, form=blank, oob=True)
    flash("Mapping row added.", "success")
    return redirect(url_for(".provider", slug=provider.slug) + "#mapping")


@bp.get("/<slug>/mappings/<int:mapping_id>")
@admin_required
def mapping_row(slug: str, mapping_id: int):
    """One mapping row, read-only (Cancel of an edit)."""
    provider = _provider(slug)
    if not request.htmx:
        return redirect(url_for(".provider", slug=slug) + "#mapping")
    return _row(provider, _mapping(provider, mapping_id), focus=True)


@bp.get("/<slug>/mappings/<int:mapping_id>/edit")
@admin_required
def mapping_edit(slug: str, mapping_id: int):
    """The row turned into its form."""
    provider = _provider(slug)
    row = _mapping(provider, mapping_id)
    if not request.htmx:
        return redirect(url_for(".provider", slug=slug, edit=mapping_id) + f"#mapping-{mapping_id}")
    return _row_form(provider, row, AttributeMappingForm(formdata=None, obj=row))


@bp.route("/<slug>/mappings/<int:mapping_id>", methods=["PUT", "POST"])
@admin_required
def mapping_update(slug: str, mapping_id: int):
    """Save a row; on a validation error the row form comes back with the messages."""
    provider = _provider(slug)
    row = _mapping(provider, mapping_id)
    form = AttributeMappingForm()
    try:
        mappings.save_attribute_mapping(provider, row, form.saml_attribute.data, form.contact_field.data,
                                        form.default_value.data, form.update_on.data, form.transform.data)
    except mappings.MappingInvalid as invalid:
        db.session.rollback()
        _show(form, invalid.errors)
        provider = _provider(slug)
        row = _mapping(provider, mapping_id)
        if request.htmx:
            return _row_form(provider, row, form)
        return _page(provider, edit_id=mapping_id, edit_form=form)
    db.session.commit()
    if request.htmx:
        return _row(provider, row, focus=True)
    flash("Mapping row saved.", "success")
    return redirect(url_for(".provider", slug=slug) + f"#mapping-{mapping_id}")


@bp.route("/<slug>/mappings/<int:mapping_id>", methods=["DELETE"])
@bp.post("/<slug>/mappings/<int:mapping_id>/delete")
@admin_required
def mapping_delete(slug: str, mapping_id: int):
    """Delete a row; htmx removes it from the table."""
    provider = _provider(slug)
    mappings.delete_attribute_mapping(provider, _mapping(provider, mapping_id))
    db.session.commit()
    if request.htmx:
        return ""
    flash("Mapping row deleted.", "success")
    return redirect(url_for(".provider", slug=slug) + "#mapping")


# --- "SAML groups to user roles" ------------------------------------------------------------------------------

@bp.post("/<slug>/role-mappings")
@admin_required
def role_mapping_create(slug: str):
    """Map a group to a role."""
    provider = _provider(slug)
    form = _role_form(RoleMappingForm())
    try:
        mappings.add_role_mapping(provider, form.saml_attribute.data, form.value.data, form.role.data)
    except mappings.MappingInvalid as invalid:
        db.session.rollback()
        _show(form, invalid.errors)
        return _page(_provider(slug), role_form=form)
    db.session.commit()
    flash("Group mapped to role.", "success")
    return redirect(url_for(".provider", slug=slug) + "#groups")


@bp.route("/<slug>/role-mappings/<int:row_id>", methods=["DELETE"])
@bp.post("/<slug>/role-mappings/<int:row_id>/delete")
@admin_required
def role_mapping_delete(slug: str, row_id: int):
    """Remove a group-to-role row."""
    provider = _provider(slug)
    row = _owned(RoleMapping, row_id, provider)
    mappings.delete_role_mapping(provider, row)
    db.session.commit()
    if request.htmx:
        return ""
    flash("Group mapping removed.", "success")
    return redirect(url_for(".provider", slug=slug) + "#groups")
