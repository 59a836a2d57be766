"""Registering the demo IdP as provider "demo" (JIT on, Entra preset, groups mapped to roles)."""
from __future__ import annotations

from flask import current_app

from crm.dev_idp.keys import ensure_key_pair
from crm.dev_idp.people import DEPARTMENT, EVERYONE_GROUP, GROUPS, JOB_TITLE, MARKETING_GROUP, SALES_GROUP
from crm.extensions import db
from crm.identity_providers import mappings
from crm.identity_providers import services as providers
from crm.identity_providers.certificates import parse_certificate

DEMO_SLUG = "demo"


def register_demo_provider() -> bool:
    """Add provider "demo" unless it exists; True when it was added. The caller commits."""
    if providers.find_provider(DEMO_SLUG) is not None:
        return False
    base = current_app.config["BASE_URL"]
    _, cert = ensure_key_pair(current_app.instance_path)
    provider = providers.save_provider(None, {
        "slug": DEMO_SLUG, "display_name": "Demo IdP", "entity_id": f"{base}/dev-idp/metadata",
        "sso_url": f"{base}/dev-idp/sso", "sso_binding": "redirect", "enabled": True, "jit_enabled": True,
        "show_on_login": True, "allow_idp_initiated": False, "license_policy": "all", "new_user_type": "employee",
        "allowed_domains": ["example.com", "partner.example"], "groups_attribute": GROUPS,
    }, [parse_certificate(cert)])
    mappings.apply_preset(provider, "entra")
    mappings.save_attribute_mapping(provider, None, DEPARTMENT, "department", None)
    mappings.save_attribute_mapping(provider, None, JOB_TITLE, "job_title", None)
    mappings.save_attribute_mapping(provider, None, "http://schemas.microsoft.com/identity/claims/company", "account",
                                    "Acme Corporation", "first_login")
    for group, role in ((SALES_GROUP, "Sales"), (MARKETING_GROUP, "Marketing"), (EVERYONE_GROUP, "All employees")):
        mappings.add_role_mapping(provider, GROUPS, group, role)
    db.session.flush()
    return True
