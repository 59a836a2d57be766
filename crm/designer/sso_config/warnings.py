"""The banner every administrator sees 30 and 7 days before a provider's last signing certificate expires."""
from __future__ import annotations

import logging

from flask import Flask
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from crm.identity_providers.expiry import AtRisk, providers_at_risk

log = logging.getLogger(__name__)


def certificate_warnings() -> list[AtRisk]:
    """The providers at risk, for an administrator's page (nobody else can act on them, nor sees the query)."""
    if not (current_user and current_user.is_authenticated and current_user.is_admin):
        return []
    try:
        return providers_at_risk()
    except SQLAlchemyError:  # a banner never breaks a page (the error page itself included)
        log.warning("certificate warnings could not be read", exc_info=True)
        return []


def register_certificate_warnings(app: Flask) -> None:
    """base.html asks for the warnings on full pages only (htmx partials do not extend it)."""
    app.jinja_env.globals["certificate_warnings"] = certificate_warnings
