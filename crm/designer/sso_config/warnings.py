"""The banner every administrator sees 30 and 7 days before a provider's last signing certificate expires."""
from __future__ import annotations

from flask import Flask
from flask_login import current_user

from crm.identity_providers.expiry import AtRisk, providers_at_risk


def certificate_warnings() -> list[AtRisk]:
    """The providers at risk, for an administrator's page (nobody else can act on them, nor sees the query)."""
    if not (current_user and current_user.is_authenticated and current_user.is_admin):
        return []
    return providers_at_risk()


def register_certificate_warnings(app: Flask) -> None:
    """base.html asks for the warnings on full pages only (htmx partials do not extend it)."""
    app.jinja_env.globals["certificate_warnings"] = certificate_warnings
