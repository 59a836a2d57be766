"""The demo identity provider of `make run`: mounted only with CRM_DEV_IDP=1, through the same ACS as any IdP."""
import re

import pytest

from crm import create_app
from crm.auth.models import User
from crm.config import ConfigError
from crm.demo.seed import seed_demo
from crm.extensions import db
from crm.users.services import user_json
from tests.conftest import IsolatedClient


@pytest.fixture
def demo(tmp_path):
    """An app with the demo IdP mounted and the demo data (provider "demo") loaded."""
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
                      "BASE_URL": "http://localhost", "DEV_IDP": "1"})
    app.test_client_class = IsolatedClient
    with app.app_context():
        db.create_all()
        seed_demo(contacts=5)
        yield app
        db.session.remove()
        db.engine.dispose()


def _field(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def sign_in_through_demo_idp(client, person: str = "new-hire", next_path: str | None = None):
    """Login via SSO (Demo IdP): the CRM's AuthnRequest, the IdP's page, its signed response, the ACS."""
    start = client.get("/sso/demo/login", query_string={"next": next_path} if next_path else None)
    idp_page = client.get(start.headers["Location"] + f"&person={person}").get_data(as_text=True)
    form = {name: _field(idp_page, name) for name in ("csrf_token", "request_id", "acs", "audience", "relay_state")}
    form["name_id"] = _field(idp_page, "name_id")
    form["attributes"] = re.search(r'name="attributes"[^>]*>([^<]*)</textarea>', idp_page).group(1)
    posted = client.post("/dev-idp/sso", data=form).get_data(as_text=True)
    assert 'action="http://localhost/sso/demo/acs"' in posted
    return client.post("http://localhost/sso/demo/acs",
                       data={"SAMLResponse": _field(posted, "SAMLResponse"), "RelayState": form["relay_state"]})


def test_not_mounted_by_default_and_refused_in_production(app, client, tmp_path, monkeypatch):
    assert client.get("/dev-idp/sso").status_code == 404
    monkeypatch.setenv("CRM_ENV", "production")
    with pytest.raises(ConfigError, match="CRM_DEV_IDP"):
        create_app({"SECRET_KEY": "x" * 32, "BASE_URL": "https://crm.example.com", "INSTANCE_PATH": str(tmp_path),
                    "DEV_IDP": "1"})


def test_new_hire_signs_in_and_jit_creates_everything(demo):
    client = demo.test_client()
    assert "Demo identity provider is on" in client.get("/login").get_data(as_text=True)
    response = sign_in_through_demo_idp(client, next_path="/accounts")
    assert response.status_code == 302 and response.headers["Location"] == "/accounts"
    shown = user_json(db.session.scalar(db.select(User).where(User.username == "nina.novak@example.com")))
    assert shown["identity"] == {"idp": "demo", "name_id": "nina.novak@example.com"}
    assert shown["contact"]["department"] == "Sales" and shown["contact"]["account"] == "Acme Corporation"
    assert shown["licenses"] == ["Marketing Creatio", "Sales Creatio", "Service Creatio"]
    assert shown["roles"] == [{"name": "All employees", "source": "sso"}, {"name": "Sales", "source": "sso"}]


def test_returning_user_is_linked_and_moved_to_marketing(demo):
    response = sign_in_through_demo_idp(demo.test_client(), "department-change")
    assert response.status_code == 302
    shown = user_json(db.session.scalar(db.select(User).where(User.username == "maria.garcia@example.com")))
    assert shown["identity"]["idp"] == "demo" and shown["contact"]["department"] == "Marketing"
    assert shown["roles"] == [{"name": "All employees", "source": "manual"}, {"name": "Marketing", "source": "sso"},
                              {"name": "Sales", "source": "manual"}]


def test_contractor_gets_no_role_and_the_wrong_domain_is_refused(demo):
    assert sign_in_through_demo_idp(demo.test_client(), "contractor").status_code == 302
    contractor = user_json(db.session.scalar(db.select(User).where(User.username == "cody.ross@partner.example")))
    assert contractor["roles"] == []
    refused = sign_in_through_demo_idp(demo.test_client(), "wrong-domain")
    assert refused.status_code == 403 and "email domain is not allowed" in refused.get_data(as_text=True)


def test_demo_idp_only_signs_in_to_this_crm(demo):
    client = demo.test_client()
    from tests.conftest import csrf_token

    token = csrf_token(client, "/dev-idp/sso")
    response = client.post("/dev-idp/sso", data={"csrf_token": token, "acs": "https://evil.example/acs",
                                                  "name_id": "x@example.com"})
    assert response.status_code == 400
