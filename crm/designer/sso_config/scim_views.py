"""System Designer → a provider's Provisioning (SCIM) section: the switch, where users come from, and the
directory's bearer tokens (generated and shown once, revoked, last used)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from crm.auth.access import admin_required
from crm.extensions import db
from crm.identity_providers import scim_tokens
from crm.identity_providers import services as providers
from crm.identity_providers.models import USERS_FROM, IdentityProvider

bp = Blueprint("scim_config", __name__, url_prefix="/sso")
USERS_FROM_LABELS = {"jit": "SAML sign-in (JIT)", "scim": "SCIM", "both": "Both"}


def scim_url() -> str:
    """The SCIM base URL to give the directory."""
    return current_app.config["BASE_URL"].rstrip("/") + "/scim/v2"


def _provider(slug: str) -> IdentityProvider:
    return providers.find_provider(slug) or abort(404)


def _back(provider: IdentityProvider):
    return redirect(url_for("designer.sso_config.provider", slug=provider.slug) + "#scim")


@bp.post("/<slug>/scim")
@admin_required
def save(slug: str):
    """Switch SCIM on or off and choose where the provider's users come from."""
    provider = _provider(slug)
    values = providers.provider_values(provider)
    values["scim_enabled"] = request.form.get("scim_enabled") == "on"
    if request.form.get("users_from") in USERS_FROM:
        values["users_from"] = request.form["users_from"]
    try:
        providers.save_provider(provider, values)
    except providers.ProviderInvalid as invalid:
        db.session.rollback()
        flash("; ".join(invalid.errors.values()), "error")
        return _back(provider)
    db.session.commit()
    flash("Provisioning (SCIM) settings saved.", "success")
    return _back(provider)


@bp.post("/<slug>/scim/tokens")
@admin_required
def generate(slug: str):
    """A new token, shown once on this page (only its hash is kept)."""
    provider = _provider(slug)
    row, secret = scim_tokens.new_token(provider)
    db.session.commit()
    return render_template("designer/sso/scim_token.html", provider=provider, row=row, secret=secret,
                           scim_url=scim_url())


@bp.post("/<slug>/scim/tokens/<int:token_id>/revoke")
@admin_required
def revoke(slug: str, token_id: int):
    """Revoke a token: the directory holding it is refused from its next request."""
    provider = _provider(slug)
    row = scim_tokens.find_token(provider, token_id) or abort(404)
    scim_tokens.revoke(row)
    db.session.commit()
    flash(f"Token {row.id} revoked.", "success")
    return _back(provider)
