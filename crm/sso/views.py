"""Public SAML endpoints under /sso/<slug>/ (metadata now; sign-in and logout come with the ACS)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, request

from crm.designer.providers import find_provider
from crm.sso.settings import sp_metadata

bp = Blueprint("sso", __name__, url_prefix="/sso")


@bp.get("/<slug>/metadata")
def metadata(slug: str):
    """This SP's metadata for one provider; `?download=1` saves it as a file."""
    provider = find_provider(slug) or abort(404)
    response = Response(sp_metadata(provider), mimetype="application/samlmetadata+xml")
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="crm-sp-{provider.slug}-metadata.xml"'
    return response
