"""System Designer: the admin's settings pages. Its two areas, lookups and the Single Sign On configuration,
are blueprints of their own nested under /designer."""
from __future__ import annotations

from flask import Blueprint, render_template

from crm.auth.access import admin_required
from crm.designer.lookups.services import LOOKUPS
from crm.designer.lookups.views import bp as lookups_bp
from crm.designer.sso_config.scim_views import bp as scim_config_bp
from crm.designer.sso_config.views import bp as sso_config_bp

bp = Blueprint("designer", __name__, url_prefix="/designer")
bp.register_blueprint(lookups_bp)
bp.register_blueprint(sso_config_bp)
bp.register_blueprint(scim_config_bp)


@bp.get("")
@admin_required
def index():
    """The System Designer's sections."""
    return render_template("designer/index.html", lookups=LOOKUPS.values())
