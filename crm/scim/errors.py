"""SCIM error responses (RFC 7644 §3.12): JSON with status and scimType, never the console's HTML pages."""
from __future__ import annotations

import json

from flask import Response

SCIM_JSON = "application/scim+json"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """A request the service provider refuses: HTTP status, scimType (for a 400 or 409) and a detail."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def scim_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    """A SCIM JSON response."""
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=SCIM_JSON, headers=headers)


def error_response(status: int, detail: str, scim_type: str | None = None, headers: dict | None = None) -> Response:
    """The SCIM error body for a status."""
    body = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="scim"'}
    return scim_response(body, status, headers)
