"""The request dict python3-saml wants, built from the public base URL (CRM_BASE_URL), not the Host header."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request


def saml_request_data(path: str | None = None) -> dict:
    """python3-saml's view of this request: scheme, host and path as the IdP sees them."""
    base = urlsplit(current_app.config["BASE_URL"])
    return {
        "https": "on" if base.scheme == "https" else "off",
        "http_host": base.netloc,
        "script_name": base.path.rstrip("/") + (path or request.path),
        "get_data": request.args.to_dict(),
        "post_data": request.form.to_dict(),
    }
