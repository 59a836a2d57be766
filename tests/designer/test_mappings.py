"""The mapping lookups on the provider page: rows edited in place with htmx, and without JavaScript."""
import html

import pytest

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.models import AttributeMapping, RoleMapping
from tests import factories
from tests.conftest import csrf_token

HX = {"HX-Request": "true"}


@pytest.fixture
def okta(app):
    return factories.provider("okta")


def _rows():
    return [(m.saml_attribute, m.contact_field, m.default_value, m.update_on)
            for m in db.session.scalars(db.select(AttributeMapping).order_by(AttributeMapping.id))]


def _add(client, token, htmx=True, **data):
    row = {"saml_attribute": "email", "contact_field": "email", "default_value": "", "update_on": "every_login"}
    return client.post("/designer/sso/okta/mappings", data=row | data | {"csrf_token": token},
                       headers=HX if htmx else {})


def test_add_a_row_with_htmx_returns_the_row_and_a_fresh_form(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    body = _add(admin_client, token).get_data(as_text=True)
    assert '<tr id="mapping-' in body and "<code>email</code>" in body
    assert 'id="mapping-new"' in body and 'hx-swap-oob="true"' in body
    assert _rows() == [("email", "email", None, "every_login")]


def test_add_without_javascript_redirects_back_to_the_page(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    response = _add(admin_client, token, htmx=False, saml_attribute="department", contact_field="department")
    assert response.status_code == 302 and response.headers["Location"].endswith("#mapping")
    assert _rows() == [("department", "department", None, "every_login")]


@pytest.mark.parametrize("data, message", [
    ({"saml_attribute": "  "}, "Enter the SAML attribute name"),
    ({"contact_field": "salary"}, '"salary" is not a contact field'),
    ({"contact_field": "type", "default_value": "Staff"},
     '"Staff" is not a type. Existing values: Contractor, Customer'),
    ({"contact_field": "department", "default_value": "Nowhere"}, "is not a department"),
    ({"update_on": "sometimes"}, "Choose every login or first login only"),
])
def test_bad_rows_are_refused_with_the_reason_and_nothing_saved(admin_client, okta, data, message):
    token = csrf_token(admin_client, "/designer/sso/okta")
    response = _add(admin_client, token, **data)
    assert message in html.unescape(response.get_data(as_text=True))
    assert response.headers.get("HX-Retarget") == "#mapping-new"
    assert _rows() == []


def test_a_second_row_for_the_same_field_is_refused(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    _add(admin_client, token)
    body = html.unescape(_add(admin_client, token, saml_attribute="mail").get_data(as_text=True))
    assert 'Email is already mapped from "email"' in body
    assert len(_rows()) == 1


def test_edit_in_place_turns_the_row_into_its_form_and_back(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    _add(admin_client, token)
    row_id = db.session.scalar(db.select(AttributeMapping.id))
    form = admin_client.get(f"/designer/sso/okta/mappings/{row_id}/edit", headers=HX).get_data(as_text=True)
    assert f'id="mapping-{row_id}"' in form and "hx-put" in form and 'value="email"' in form
    saved = admin_client.put(f"/designer/sso/okta/mappings/{row_id}", headers=HX, data={
        "csrf_token": token, "saml_attribute": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "contact_field": "email", "default_value": "", "update_on": "first_login"}).get_data(as_text=True)
    assert "Edit" in saved and "First login only" in saved
    assert _rows()[0][3] == "first_login"
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "sso.mapping_update"))
    assert event.changes["update_on"] == {"before": "every_login", "after": "first_login"}
    cancel = admin_client.get(f"/designer/sso/okta/mappings/{row_id}", headers=HX).get_data(as_text=True)
    assert "hx-put" not in cancel


def test_edit_with_an_error_keeps_the_form_with_the_message(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    _add(admin_client, token)
    row_id = db.session.scalar(db.select(AttributeMapping.id))
    body = admin_client.put(f"/designer/sso/okta/mappings/{row_id}", headers=HX, data={
        "csrf_token": token, "saml_attribute": "", "contact_field": "email", "update_on": "every_login"})
    assert "Enter the SAML attribute name" in body.get_data(as_text=True)
    assert _rows()[0][0] == "email"


def test_edit_without_javascript_uses_the_page(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    _add(admin_client, token)
    row_id = db.session.scalar(db.select(AttributeMapping.id))
    redirect = admin_client.get(f"/designer/sso/okta/mappings/{row_id}/edit")
    assert f"edit={row_id}" in redirect.headers["Location"]
    page = admin_client.get(f"/designer/sso/okta?edit={row_id}").get_data(as_text=True)
    assert f'id="mapping-form-{row_id}"' in page
    admin_client.post(f"/designer/sso/okta/mappings/{row_id}", data={
        "csrf_token": token, "saml_attribute": "mail", "contact_field": "email", "update_on": "every_login"})
    assert _rows()[0][0] == "mail"


def test_delete_with_htmx_and_without(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    _add(admin_client, token)
    _add(admin_client, token, saml_attribute="firstName", contact_field="given_name")
    first, second = db.session.scalars(db.select(AttributeMapping.id).order_by(AttributeMapping.id)).all()
    assert admin_client.delete(f"/designer/sso/okta/mappings/{first}", headers=HX | {"X-CSRFToken": token}).data == b""
    admin_client.post(f"/designer/sso/okta/mappings/{second}/delete", data={"csrf_token": token})
    assert _rows() == []


def test_htmx_delete_without_csrf_token_is_refused(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    _add(admin_client, token)
    row_id = db.session.scalar(db.select(AttributeMapping.id))
    assert admin_client.delete(f"/designer/sso/okta/mappings/{row_id}", headers=HX).status_code == 400
    assert len(_rows()) == 1


def test_preset_fills_rows_keeps_existing_and_adds_no_duplicates(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    _add(admin_client, token, saml_attribute="mail", contact_field="email")
    admin_client.post("/designer/sso/okta/preset", data={"csrf_token": token, "preset": "okta"})
    admin_client.post("/designer/sso/okta/preset", data={"csrf_token": token, "preset": "okta"})
    assert _rows() == [("mail", "email", None, "every_login"), ("firstName", "given_name", None, "every_login"),
                       ("lastName", "surname", None, "every_login"),
                       ("employeeType", "type", "Employee", "first_login")]
    db.session.refresh(okta)
    assert okta.groups_attribute == "groups"


def test_entra_preset_uses_claim_uris_and_the_immutable_id(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    admin_client.post("/designer/sso/okta/preset", data={"csrf_token": token, "preset": "entra"})
    attributes = {r[0] for r in _rows()}
    assert "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress" in attributes
    db.session.refresh(okta)
    assert okta.immutable_id_attribute == "http://schemas.microsoft.com/identity/claims/objectidentifier"


def test_role_mappings_add_duplicate_and_remove(admin_client, okta):
    factories.role("Sales")
    token = csrf_token(admin_client, "/designer/sso/okta")
    add = {"csrf_token": token, "saml_attribute": "groups", "value": "CRM-Sales", "role": "Sales"}
    admin_client.post("/designer/sso/okta/role-mappings", data=add)
    page = html.unescape(admin_client.post("/designer/sso/okta/role-mappings", data=add | {"value": "crm-sales"})
                         .get_data(as_text=True))
    assert 'Group "crm-sales" is already mapped to Sales.' in page
    missing = admin_client.post("/designer/sso/okta/role-mappings", data=add | {"role": "Nope"}).get_data(as_text=True)
    assert "Choose an existing role" in missing
    row = db.session.scalar(db.select(RoleMapping))
    assert (row.value, row.value_key, row.role.name) == ("CRM-Sales", "crm-sales", "Sales")
    admin_client.delete(f"/designer/sso/okta/role-mappings/{row.id}", headers=HX | {"X-CSRFToken": token})
    assert db.session.scalar(db.select(db.func.count(RoleMapping.id))) == 0


def test_another_providers_rows_are_not_reachable_through_this_one(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    _add(admin_client, token)
    row_id = db.session.scalar(db.select(AttributeMapping.id))
    factories.provider("other", cert_name="other-key")
    assert admin_client.get(f"/designer/sso/other/mappings/{row_id}/edit", headers=HX).status_code == 404
    deleted = admin_client.post(f"/designer/sso/other/mappings/{row_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 404
    assert len(_rows()) == 1
