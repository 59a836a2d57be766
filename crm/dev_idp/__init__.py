"""A development identity provider for `make run`: real signed SAML responses through the same ACS as any IdP.

Mounted only when CRM_DEV_IDP=1 and never with CRM_ENV=production.
"""
from __future__ import annotations

from flask import Flask

from crm.config import ConfigError, is_production


def dev_idp_enabled(app: Flask) -> bool:
    """True when CRM_DEV_IDP asks for the demo IdP (refused in production)."""
    wanted = str(app.config.get("DEV_IDP", "")).lower() in ("1", "true", "yes", "on")
    if wanted and is_production(app):
        raise ConfigError("CRM_DEV_IDP=1 mounts a demo identity provider that signs anyone in; it cannot be used "
                          "with CRM_ENV=production. Unset CRM_DEV_IDP.")
    return wanted


def register_dev_idp(app: Flask) -> None:
    """Mount the demo IdP at /dev-idp when enabled, and show its banner on every page."""
    if not dev_idp_enabled(app):
        return
    from crm.dev_idp.views import bp

    app.register_blueprint(bp)
    app.jinja_env.globals["dev_idp_banner"] = True
