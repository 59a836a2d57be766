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


GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _roles(username: str) -> dict[str, str]:
    return {r["name"]: r["source"] for r in _crm(username)["roles"]}


def test_okta_group_push(directory):
    """Okta's Group Push: a displayName lookup, create with members, rename by a path-less replace, members added
    and removed by PATCH, `replace members []`, delete."""
    ids = [directory.post("/Users", {"schemas": [USER], "userName": f"{n}@atko.com", "active": True}).get_json()["id"]
           for n in ("amy", "bob")]
    assert directory.get("/Groups", query_string={"filter": 'displayName eq "All-Staff"'}).get_json()[
        "totalResults"] == 0
    created = directory.post("/Groups", {"schemas": [GROUP], "displayName": "All-Staff",
                                         "members": [{"value": ids[0], "display": "amy@atko.com"}]})
    assert created.status_code == 201
    group = created.get_json()
    assert group["members"] == [{"value": ids[0], "display": "amy@atko.com", "type": "User",
                                 "$ref": f"http://localhost/scim/v2/Users/{ids[0]}"}]
    assert _roles("amy@atko.com") == {"All employees": "scim"} and _roles("bob@atko.com") == {}
    path = f"/Groups/{group['id']}"
    renamed = directory.patch(path, [{"op": "replace", "value": {"id": group["id"], "displayName": "Staff"}}])
    assert renamed.get_json()["displayName"] == "Staff" and _roles("amy@atko.com") == {}  # no longer mapped
    directory.patch(path, [{"op": "replace", "value": {"id": group["id"], "displayName": "all-staff"}}])
    directory.patch(path, [{"op": "add", "path": "members", "value": [{"value": ids[1], "display": "bob@atko.com"}]},
                           {"op": "remove", "path": f'members[value eq "{ids[0]}"]'}])
    assert _roles("amy@atko.com") == {} and _roles("bob@atko.com") == {"All employees": "scim"}
    directory.patch(path, [{"op": "replace", "path": "members", "value": []}])
    assert _roles("bob@atko.com") == {}
    assert directory.delete(path).status_code == 204 and directory.get(path).status_code == 404


def test_entra_group_provisioning(directory):
    """Entra ID: a group lookup by displayName without members, create with the Microsoft schema URN, member
    additions and a removal as value lists with capitalised ops, a membership check by filter, delete."""
    ids = [directory.post("/Users", {"schemas": [USER], "userName": f"{n}@contoso.com", "active": True,
                                     "externalId": n}).get_json()["id"] for n in ("ann", "ben")]
    lookup = directory.get("/Groups", query_string={"excludedAttributes": "members",
                                                     "filter": 'displayName eq "Sales"'})
    assert lookup.get_json()["totalResults"] == 0
    created = directory.post("/Groups", {
        "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "6f2c9a1e-3b1d-4c1f-9f41-0c7b1a2d3e4f", "displayName": "Sales", "members": []})
    assert created.status_code == 201
    path = f"/Groups/{created.get_json()['id']}"
    added = directory.patch(path, [{"op": "Add", "path": "members", "value": [{"value": ids[0]}, {"value": ids[1]}]}])
    assert added.status_code == 200
    assert _roles("ann@contoso.com") == {"Sales": "scim"} and _roles("ben@contoso.com") == {"Sales": "scim"}
    check = directory.get("/Groups", query_string={
        "excludedAttributes": "members", "filter": f'id eq "{created.get_json()["id"]}" and members eq "{ids[1]}"'})
    assert check.get_json()["totalResults"] == 1 and "members" not in check.get_json()["Resources"][0]
    directory.patch(path, [{"op": "Remove", "path": "members", "value": [{"value": ids[1]}]}])
    assert _roles("ben@contoso.com") == {} and _roles("ann@contoso.com") == {"Sales": "scim"}
    directory.patch(path, [{"op": "Replace", "path": "displayName", "value": "Sales (EMEA)"}])
    assert _roles("ann@contoso.com") == {"Sales": "scim"}  # mapped by its object id, whatever its name
    assert directory.delete(path).status_code == 204 and _roles("ann@contoso.com") == {}
    events = [e.action for e in db.session.scalars(db.select(AuditEvent).where(AuditEvent.action.like("scim.group%"))
                                                   .order_by(AuditEvent.id))]
    assert events == ["scim.group_create", "scim.group_patch", "scim.group_patch", "scim.group_patch",
                      "scim.group_delete"]
