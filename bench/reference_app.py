"""The login storm's yardstick: a gunicorn app of the console's shape that only runs bare python3-saml.

Each POST to /sso/<slug>/acs builds OneLogin_Saml2_Auth from the provider's settings dict and calls
process_response(), exactly as the library ships (no schema cache, no database, no session), and answers 302 like
the console's ACS. The storm runs it with the same gunicorn workers, threads, clients and signed responses.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, request
from onelogin.saml2.auth import OneLogin_Saml2_Auth

SETTINGS = json.loads(Path(os.environ["REFERENCE_SAML_SETTINGS"]).read_text())
HTTP_HOST = os.environ["REFERENCE_HTTP_HOST"]  # the console's host: the responses' Destination names it

app = Flask(__name__)


@app.post("/sso/<slug>/acs")
def acs(slug: str):
    """Validate the posted response with the bare library; 302 when it signs someone in, else 400."""
    auth = OneLogin_Saml2_Auth({"https": "off", "http_host": HTTP_HOST, "script_name": request.path,
                                "get_data": {}, "post_data": request.form.to_dict()}, old_settings=SETTINGS)
    auth.process_response()
    if auth.get_errors() or not auth.is_authenticated():
        return auth.get_last_error_reason() or "refused", 400
    return "", 302, {"Location": "/", "Set-Cookie": f"signed_in={auth.get_nameid()}"}


@app.get("/sso/<slug>/metadata")
def metadata(slug: str):
    """Answers the storm's readiness probe."""
    return "ready"
