"""The provider page's Provisioning (SCIM) section: switch, source of users, a token shown once, revoke."""
import html
import re

from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from tests import factories
from tests.conftest import csrf_token
from tests.scim.conftest import Directory


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_an_admin_connects_a_directory_from_the_provider_page(admin_client, app):
    factories.provider("okta")
    page = _text(admin_client.get("/designer/sso/okta"))
    assert "Provisioning (SCIM)" in page and 'value="http://localhost/scim/v2"' in page and "No token yet." in page
    token = csrf_token(admin_client, "/designer/sso/okta")
    saved = admin_client.post("/designer/sso/okta/scim", data={"csrf_token": token, "scim_enabled": "on",
                                                              "users_from": "both"})
    assert saved.status_code == 302
    db.session.expire_all()
    provider = db.session.scalar(db.select(IdentityProvider).where(IdentityProvider.slug == "okta"))
    assert provider.scim_enabled and provider.users_from == "both"

    shown = _text(admin_client.post("/designer/sso/okta/scim/tokens", data={"csrf_token": token}))
    secret = re.search(r'id="scim-token" type="text" readonly value="([^"]+)"', shown).group(1)
    directory = Directory(app.test_client(), secret)
    assert directory.get("/Users").status_code == 200
    page = _text(admin_client.get("/designer/sso/okta"))
    assert secret not in page and f"…{secret[-4:]}" in page and "Valid" in page  # never shown again
    token_id = int(re.search(r"<code>(\d+) · …", page).group(1))
    admin_client.post(f"/designer/sso/okta/scim/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert directory.get("/Users").status_code == 401
    assert "Revoked" in _text(admin_client.get("/designer/sso/okta"))


def test_only_administrators_reach_the_scim_settings(client, app):
    factories.provider("okta")
    factories.employee("emp@example.com")
    from tests.conftest import login

    login(client, "emp@example.com", factories.PASSWORD)
    token = csrf_token(client, "/contacts")
    response = client.post("/designer/sso/okta/scim/tokens", data={"csrf_token": token})
    assert response.status_code == 403


def test_the_provider_page_shows_what_came_in_lately(admin_client, directory):
    assert "Nothing yet." in _text(admin_client.get("/designer/sso/entra"))
    user_id = directory.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                        "userName": "nina@example.com"}).get_json()["id"]
    directory.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "all-staff",
                               "members": [{"value": user_id}, {"value": "424242"}]})
    page = _text(admin_client.get("/designer/sso/entra"))
    lately = page[page.index("Lately from the directory"):]
    assert lately.index("Created group all-staff") < lately.index("Created nina@example.com")  # newest first
    assert "1 skipped" in lately and "idp_slug=entra" in lately
