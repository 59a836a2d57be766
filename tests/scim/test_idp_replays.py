"""Request-for-request replays of what Okta's SCIM 2.0 spec test and Entra ID's provisioning send, each checked
against the CRM's state afterwards (the user, the contact, seats), not only the status codes."""
from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.users.services import user_json
from tests.scim.conftest import ENTERPRISE, USER

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _crm(username: str) -> dict:
    db.session.expire_all()
    return user_json(db.session.scalar(db.select(User).where(User.username_key == username.lower())))


def test_okta_spec_test_and_lifecycle(directory):
    # Okta's spec test: a first page, a userName lookup that finds nobody, create, read, find, duplicate, 404
    first = directory.get("/Users", query_string={"count": 1, "startIndex": 1})
    assert first.status_code == 200 and first.get_json()["Resources"] == []
    lookup = directory.get("/Users", query_string={"filter": 'userName eq "Runscope319Kbhiuys@atko.com"'})
    assert lookup.get_json()["totalResults"] == 0
    okta_user = {"schemas": [USER], "userName": "Runscope319Kbhiuys@atko.com",
                 "name": {"givenName": "Runscope319", "familyName": "Kbhiuys"},
                 "emails": [{"primary": True, "value": "Runscope319Kbhiuys@atko.com", "type": "work"}],
                 "displayName": "Runscope319 Kbhiuys", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
                 "groups": [], "password": "1mz050nq", "active": True}
    created = directory.post("/Users", okta_user)
    assert created.status_code == 201 and created.headers["Content-Type"].startswith("application/scim+json")
    user_id = created.get_json()["id"]
    assert directory.get(f"/Users/{user_id}").get_json()["userName"] == "Runscope319Kbhiuys@atko.com"
    found = directory.get("/Users", query_string={"filter": 'userName eq "Runscope319Kbhiuys@atko.com"'})
    assert found.get_json()["Resources"][0]["id"] == user_id
    assert directory.post("/Users", okta_user).status_code == 409
    assert directory.get("/Users/010101010101010101").status_code == 404
    crm = _crm("Runscope319Kbhiuys@atko.com")
    assert crm["active"] and crm["licenses"] == ["Sales Creatio", "Service Creatio"]
    assert crm["identity"] == {"idp": "entra", "name_id": "Runscope319Kbhiuys@atko.com"}

    # Okta's profile push: a PUT of the whole user, without "active"
    put = dict(okta_user, name={"givenName": "Ann", "familyName": "Kbhiuys"}, displayName="Ann Kbhiuys")
    del put["active"]
    assert directory.put(f"/Users/{user_id}", put).status_code == 200
    crm = _crm("Runscope319Kbhiuys@atko.com")
    assert crm["active"] and (crm["contact"]["given_name"], crm["contact"]["full_name"]) == ("Ann", "Ann Kbhiuys")

    # Okta's deactivation: a path-less replace
    off = directory.call("PATCH", f"/Users/{user_id}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "value": {"active": False}}]})
    assert off.status_code == 200 and not _crm("Runscope319Kbhiuys@atko.com")["active"]
    assert _crm("Runscope319Kbhiuys@atko.com")["licenses"] == []
    on = directory.call("PATCH", f"/Users/{user_id}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "value": {"active": True}}]})
    assert on.status_code == 200 and _crm("Runscope319Kbhiuys@atko.com")["active"]


def test_entra_provisioning_cycle(directory):
    query = directory.get("/Users", query_string={"filter": 'userName eq "Test_User_dfeef4c5@contoso.com"'})
    assert query.get_json()["totalResults"] == 0
    entra_user = {
        "schemas": [USER, ENTERPRISE], "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_dfeef4c5@contoso.com", "active": True, "displayName": "Eve Entra",
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
        "meta": {"resourceType": "User"}, "title": "Analyst",
        "name": {"formatted": "Eve Entra", "familyName": "Entra", "givenName": "Eve"},
        "phoneNumbers": [{"type": "work", "value": "+1 425 555 0100"}, {"type": "mobile", "value": "+1 425 555 0101"}],
        "addresses": [{"type": "work", "formatted": "1 Microsoft Way", "primary": True}],
        ENTERPRISE: {"department": "Sales", "employeeNumber": "E-1001", "manager": {"value": "mgr-1"},
                     "organization": "Contoso Ltd"}}
    created = directory.post("/Users", entra_user)
    assert created.status_code == 201, created.get_data(as_text=True)
    user_id = created.get_json()["id"]
    by_external_id = directory.get("/Users", query_string={
        "filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'}).get_json()
    assert by_external_id["Resources"][0]["id"] == user_id
    contact = _crm("Test_User_dfeef4c5@contoso.com")["contact"]
    assert (contact["email"], contact["phone"], contact["mobile_phone"], contact["department"]) == (
        "Test_User_fd0ea19b@contoso.com", "+1 425 555 0100", "+1 425 555 0101", "Sales")
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "scim.user_create")).one()
    assert "addresses" in event.details["ignored"]  # not stored, said so

    # Entra's classic PATCH: capitalised ops, value paths, the enterprise URN, manager as a bare string
    patched = directory.patch(f"/Users/{user_id}", [
        {"op": "Replace", "path": "displayName", "value": "Eve Entra-Smith"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "eve.smith@contoso.com"},
        {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Finance"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 425 555 0199"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "mgr-2"},
        {"op": "Remove", "path": "title"}])
    assert patched.status_code == 200, patched.get_data(as_text=True)
    contact = _crm("Test_User_dfeef4c5@contoso.com")["contact"]
    assert (contact["full_name"], contact["email"], contact["department"], contact["mobile_phone"],
            contact["job_title"]) == ("Eve Entra-Smith", "eve.smith@contoso.com", "Finance", "+1 425 555 0199", None)

    # Entra's newer flag-style PATCH: path-less, dotted and URN keys
    flagged = directory.patch(f"/Users/{user_id}", [{"op": "replace", "value": {
        "name.givenName": "Evelyn", f"{ENTERPRISE}:department": "IT", "title": "Lead"}}])
    assert flagged.status_code == 200
    contact = _crm("Test_User_dfeef4c5@contoso.com")["contact"]
    assert (contact["given_name"], contact["department"], contact["job_title"]) == ("Evelyn", "IT", "Lead")

    # Entra's deactivation ("False" as a string), then its hard delete
    off = directory.patch(f"/Users/{user_id}", [{"op": "Replace", "path": "active", "value": "False"}])
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert not _crm("Test_User_dfeef4c5@contoso.com")["active"]
    assert directory.delete(f"/Users/{user_id}").status_code == 204
    assert directory.get(f"/Users/{user_id}").status_code == 404
    assert _crm("Test_User_dfeef4c5@contoso.com")["contact"]["full_name"] == "Eve Entra-Smith"  # records stay
