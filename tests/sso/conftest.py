"""Fixtures for sign-in tests: a provider with a mapping, and a visitor that starts SP-initiated sign-in."""
from __future__ import annotations

import pytest

from crm.extensions import db
from crm.identity_providers import mappings
from tests import factories
from tests.saml_signer import Spec, signed_response

CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
SALES_GROUP = "6f2c9a1e-3b1d-4c1f-9f41-0c7b1a2d3e4f"  # an Entra group object id


@pytest.fixture
def entra(app):
    """Provider "entra": JIT on, Entra preset, department/job title/account mapped, groups mapped to roles."""
    factories.package("Sales Creatio", 25)
    factories.package("Service Creatio", None)
    factories.role("Sales")
    factories.role("All employees")
    provider = factories.provider("entra", display_name="Contoso Entra ID")
    mappings.apply_preset(provider, "entra")
    mappings.save_attribute_mapping(provider, None, CLAIMS + "department", "department", None)
    mappings.save_attribute_mapping(provider, None, "jobtitle", "job_title", None)
    mappings.save_attribute_mapping(provider, None, "company", "account", "Contoso Ltd", "first_login")
    mappings.add_role_mapping(provider, GROUPS, SALES_GROUP, "Sales")
    mappings.add_role_mapping(provider, GROUPS, "all-staff", "All employees")
    db.session.commit()
    return provider


def nina(**extra) -> dict:
    """The attributes Entra sends for a new hire in Sales."""
    return {CLAIMS + "emailaddress": "nina.novak@example.com", CLAIMS + "givenname": "Nina",
            CLAIMS + "surname": "Novak", "http://schemas.microsoft.com/identity/claims/displayname": "Nina Novak",
            CLAIMS + "department": "Sales", "jobtitle": "Account Executive", GROUPS: [SALES_GROUP, "all-staff"]} | extra


class Browser:
    """A test client that signs in through SSO the way a visitor does."""

    def __init__(self, client, slug: str = "entra"):
        self.client, self.slug = client, slug

    def start(self, next_path: str | None = None) -> str:
        """GET /sso/<slug>/login and return the AuthnRequest id kept in the session."""
        response = self.client.get(f"/sso/{self.slug}/login", query_string={"next": next_path} if next_path else None)
        assert response.status_code in (200, 302), response.status_code
        with self.client.session_transaction() as session:
            return session["saml_pending"]["id"]

    def post(self, saml_response: str, relay_state: str | None = None):
        """POST to the ACS at its full URL (the Destination check compares it), as the browser does: without a
        session cookie the ACS first answers with a page that posts the form again from our own site."""
        data = {"SAMLResponse": saml_response} | ({"RelayState": relay_state} if relay_state else {})
        response = self.client.post(f"http://localhost/sso/{self.slug}/acs", data=data)
        if response.status_code == 200 and b'name="_same_site"' in response.data:
            response = self.client.post(f"http://localhost/sso/{self.slug}/acs", data=data | {"_same_site": "1"})
        return response

    def sign_in(self, spec: Spec | None = None, **spec_fields):
        """Start SP-initiated sign-in and post a valid signed response for it."""
        spec = (spec or Spec(slug=self.slug)).but(**spec_fields) if spec_fields else (spec or Spec(slug=self.slug))
        request_id = self.start()
        return self.post(signed_response(spec.but(in_response_to=request_id)))

    def signed_in_as(self) -> str | None:
        """The id of the user whose live session the cookie names, if any."""
        from tests.conftest import signed_in_user_id

        with self.client.session_transaction() as session:
            token = session.get("_user_id")
        user_id = signed_in_user_id(token) if token else None
        return str(user_id) if user_id is not None else None


@pytest.fixture
def visitor(client):
    return Browser(client)
