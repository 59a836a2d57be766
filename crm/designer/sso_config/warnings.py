"""The banner every administrator sees 30 and 7 days before a provider's last signing certificate expires."""
from __future__ import annotations

from flask import Flask, url_for

from crm.identity_providers.expiry import providers_at_risk
from crm.templating import Notice, add_admin_notices


def certificate_notices() -> list[Notice]:
    """One banner naming every provider at risk, urgent from 7 days before (or once expired)."""
    at_risk = providers_at_risk()
    if not at_risk:
        return []
    items = tuple(Notice(r.message(), url_for("designer.sso_config.provider", slug=r.slug) + "#certificates",
                         f"Open {r.display_name}") for r in at_risk)
    return [Notice("Signing certificates run out", level="urgent" if any(r.urgent for r in at_risk) else "warn",
                   items=items)]


def register_certificate_warnings(app: Flask) -> None:
    """Put the banner in front of administrators."""
    add_admin_notices(app, certificate_notices)
