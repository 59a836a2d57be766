"""Fixtures for SCIM tests: the "entra" provider with SCIM on and a token, and a client that speaks SCIM."""
from __future__ import annotations

import json

import pytest

from crm.extensions import db
from crm.identity_providers.scim_tokens import new_token
from tests.sso.conftest import entra, visitor  # noqa: F401  (the provider and browser SAML tests use)

SCIM_JSON = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Directory:
    """A directory (Okta, Entra ID) calling /scim/v2 with its bearer token."""

    def __init__(self, client, token: str):
        self.client, self.token = client, token

    def call(self, method: str, path: str, body=None, token: str | None = None, **kwargs):
        """A request under /scim/v2; the response."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        data = json.dumps(body) if body is not None else None
        return self.client.open("/scim/v2" + path, method=method, headers=headers, data=data,
                                content_type=SCIM_JSON if body is not None else None, **kwargs)

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body, **kwargs):
        return self.call("POST", path, body, **kwargs)

    def put(self, path: str, body, **kwargs):
        return self.call("PUT", path, body, **kwargs)

    def patch(self, path: str, operations: list[dict], **kwargs):
        return self.call("PATCH", path, {"schemas": [PATCH_OP], "Operations": operations}, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def scim_provider(entra):  # noqa: F811
    """The entra provider with SCIM switched on."""
    entra.scim_enabled = True
    db.session.commit()
    return entra


@pytest.fixture
def directory(app, client, scim_provider):
    """A directory holding a valid token of the entra provider (a client of its own: no browser cookie)."""
    _row, secret = new_token(scim_provider)
    db.session.commit()
    return Directory(app.test_client(), secret)


def user_body(user_name: str, external_id: str | None = None, **extra) -> dict:
    """A SCIM User as Entra ID POSTs it."""
    body = {"schemas": [USER, ENTERPRISE], "userName": user_name, "active": True,
            "displayName": "Nina Novak", "name": {"givenName": "Nina", "familyName": "Novak"},
            "emails": [{"primary": True, "type": "work", "value": user_name}], "title": "Account Executive",
            ENTERPRISE: {"department": "Sales", "organization": "Contoso Ltd"}}
    if external_id:
        body["externalId"] = external_id
    return body | extra
