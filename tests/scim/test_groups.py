"""SCIM Groups: the directory's groups give CRM roles through "SAML groups to user roles" (by display name or external
id); roles an admin added by hand are never touched; every member dialect of Okta and Entra ID; the audit trail."""
import pytest

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers import mappings
from crm.identity_providers.scim_tokens import new_token
from crm.roles.models import RoleMembership
from crm.roles.services import add_member, find_role
from tests import factories
from tests.scim.conftest import Directory, user_body
from tests.sso.conftest import GROUPS, SALES_GROUP, nina

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def _roles(user_id: str) -> dict[str, str]:
    """The user's roles: name -> source."""
    db.session.expire_all()
    return {m.role.name: m.source for m in db.session.scalars(
        db.select(RoleMembership).where(RoleMembership.user_id == int(user_id)))}


def _user(directory, name: str) -> str:
    response = directory.post("/Users", user_body(name))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _group(directory, name: str, members=(), external_id=None) -> dict:
    body = {"schemas": [GROUP, MS_GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    if external_id:
        body["externalId"] = external_id
    response = directory.post("/Groups", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_entra_creates_a_group_and_its_members_get_the_role_mapped_to_its_object_id(directory):
    nina_id, omar_id = _user(directory, "nina@example.com"), _user(directory, "omar@example.com")
    group = _group(directory, "Sales EMEA", [nina_id, omar_id], external_id=SALES_GROUP)

    assert group["schemas"] == [GROUP] and group["displayName"] == "Sales EMEA"
    assert group["externalId"] == SALES_GROUP and group["meta"]["resourceType"] == "Group"
    assert [m["value"] for m in group["members"]] == [nina_id, omar_id]
    assert "display" not in group["members"][0]  # given back only as a directory sent it
    assert group["members"][0]["$ref"].endswith(f"/scim/v2/Users/{nina_id}")
    assert _roles(nina_id) == {"Sales": "scim"} and _roles(omar_id) == {"Sales": "scim"}

    event = _events("scim.group_create")[0]
    assert event.changes["members_added"]["after"] == ["nina@example.com", "omar@example.com"]
    assert event.details["roles"]["nina@example.com"] == {"added": ["Sales"], "removed": []}
    assert event.actor_name.startswith("scim:entra:token")


def test_a_group_maps_by_display_name_too_and_okta_replace_members_empty_takes_the_roles(directory):
    nina_id = _user(directory, "nina@example.com")
    group = _group(directory, "ALL-STAFF", [nina_id])  # the lookup's value "all-staff", any letter case
    assert _roles(nina_id) == {"All employees": "scim"}

    response = directory.patch(f"/Groups/{group['id']}", [{"op": "replace", "path": "members", "value": []}])
    assert response.status_code == 200 and response.get_json()["members"] == []
    assert _roles(nina_id) == {}


def test_roles_an_admin_added_by_hand_are_never_touched(directory):
    nina_id = _user(directory, "nina@example.com")
    add_member(db.session.get(User, int(nina_id)), find_role("Sales"))
    db.session.commit()
    group = _group(directory, "Sales", [nina_id], external_id=SALES_GROUP)
    assert _roles(nina_id) == {"Sales": "manual"}

    directory.delete(f"/Groups/{group['id']}")
    assert _roles(nina_id) == {"Sales": "manual"}


def test_member_dialects_add_remove_by_filter_and_entra_remove_by_value_list(directory):
    ids = [_user(directory, f"u{n}@example.com") for n in range(4)]
    group = _group(directory, "all-staff", ids[:1])
    path = f"/Groups/{group['id']}"

    directory.patch(path, [{"op": "Add", "path": "members", "value": [{"value": ids[1]}, {"value": ids[2]}]}])
    directory.patch(path, [{"op": "add", "value": {"members": [{"value": ids[3]}]}}])  # path-less
    assert {m["value"] for m in directory.get(path).get_json()["members"]} == set(ids)

    directory.patch(path, [{"op": "remove", "path": f'members[value eq "{ids[0]}"]'}])
    directory.patch(path, [{"op": "Remove", "path": "members", "value": [{"value": ids[1]}, {"value": ids[2]}]}])
    assert [m["value"] for m in directory.get(path).get_json()["members"]] == [ids[3]]
    assert _roles(ids[0]) == {} and _roles(ids[3]) == {"All employees": "scim"}

    directory.patch(path, [{"op": "remove", "path": "members"}])  # no value: every member goes
    assert directory.get(path).get_json()["members"] == [] and _roles(ids[3]) == {}


def test_an_unknown_member_is_skipped_and_named_in_the_audit_not_a_failed_batch(app, directory, scim_provider):
    nina_id = _user(directory, "nina@example.com")
    other = factories.provider("okta")
    other.scim_enabled = True
    db.session.commit()
    _row, secret = new_token(other)
    db.session.commit()
    stranger_id = Directory(app.test_client(), secret).post("/Users", user_body("x@example.com")).get_json()["id"]
    group = _group(directory, "all-staff")

    response = directory.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members", "value": [
        {"value": nina_id}, {"value": "999999"}, {"value": stranger_id}, {"value": "not-an-id"}]}])

    assert response.status_code == 200
    assert [m["value"] for m in response.get_json()["members"]] == [nina_id]
    event = _events("scim.group_patch")[-1]
    assert event.details["members_skipped"] == ["not-an-id", "999999", stranger_id]
    assert event.details["members_added"] == 1 and "pushed" in event.details["members_skipped_reason"]


def test_renaming_a_group_works_its_members_roles_out_again(directory):
    nina_id = _user(directory, "nina@example.com")
    group = _group(directory, "Contractors", [nina_id])
    assert _roles(nina_id) == {}

    response = directory.patch(f"/Groups/{group['id']}", [{"op": "Replace", "value": {"id": group["id"],
                                                                                       "displayName": "all-staff"}}])
    assert response.status_code == 200 and response.get_json()["displayName"] == "all-staff"
    assert _roles(nina_id) == {"All employees": "scim"}
    assert _events("scim.group_patch")[-1].changes["displayName"] == {"before": "Contractors", "after": "all-staff"}

    directory.put(f"/Groups/{group['id']}", {"schemas": [GROUP], "displayName": "Contractors",
                                             "members": [{"value": nina_id}]})
    assert _roles(nina_id) == {}


def test_a_new_row_in_the_lookup_gives_the_role_to_the_groups_members_at_once(directory, scim_provider):
    nina_id = _user(directory, "nina@example.com")
    _group(directory, "Support", [nina_id])
    factories.role("Support")
    mappings.add_role_mapping(scim_provider, GROUPS, "support", "Support")
    db.session.commit()
    assert _roles(nina_id) == {"Support": "scim"}

    row = next(r for r in scim_provider.role_mappings if r.value == "support")
    mappings.delete_role_mapping(scim_provider, row)
    db.session.commit()
    assert _roles(nina_id) == {}


def test_deleting_a_group_takes_its_roles_and_the_group_is_gone(directory):
    nina_id = _user(directory, "nina@example.com")
    group = _group(directory, "all-staff", [nina_id])
    assert directory.delete(f"/Groups/{group['id']}").status_code == 204
    assert directory.get(f"/Groups/{group['id']}").status_code == 404
    assert _roles(nina_id) == {}
    assert _events("scim.group_delete")[0].changes["members_removed"]["before"] == ["nina@example.com"]


def test_a_deleted_user_leaves_the_directory_groups(directory):
    nina_id = _user(directory, "nina@example.com")
    group = _group(directory, "all-staff", [nina_id])
    assert directory.delete(f"/Users/{nina_id}").status_code == 204
    assert _roles(nina_id) == {} and directory.get(f"/Groups/{group['id']}").get_json()["members"] == []


def test_filters_paging_and_excluded_members_as_entra_asks(directory):
    nina_id = _user(directory, "nina@example.com")
    group = _group(directory, "Sales EMEA", [nina_id], external_id=SALES_GROUP)
    _group(directory, "Support")

    found = directory.get("/Groups", query_string={"filter": 'displayName eq "sales emea"',
                                                   "excludedAttributes": "members"}).get_json()
    assert found["totalResults"] == 1 and "members" not in found["Resources"][0]
    assert found["Resources"][0]["id"] == group["id"]
    by_member = directory.get("/Groups", query_string={
        "filter": f'id eq "{group["id"]}" and members[value eq "{nina_id}"]',
        "excludedAttributes": "members"}).get_json()
    assert by_member["totalResults"] == 1
    assert directory.get("/Groups", query_string={"filter": f'members eq "{nina_id}"'}).get_json()[
        "totalResults"] == 1
    assert directory.get("/Groups", query_string={"filter": f'externalId eq "{SALES_GROUP}"'}).get_json()[
        "totalResults"] == 1
    assert directory.get("/Groups", query_string={"count": 1, "startIndex": 2}).get_json()["Resources"][0][
        "displayName"] == "Support"
    attributes = directory.get(f"/Groups/{group['id']}", query_string={"attributes": "displayName"}).get_json()
    assert set(attributes) == {"schemas", "id", "meta", "displayName"}


@pytest.mark.parametrize(("operations", "scim_type"), [
    ([{"op": "remove", "path": "displayName"}], "mutability"),
    ([{"op": "replace", "path": "owner", "value": "x"}], "invalidPath"),
    ([{"op": "move", "path": "members", "value": []}], "invalidSyntax"),
    ([{"op": "add", "path": "members", "value": [{"display": "no value"}]}], "invalidValue"),
])
def test_a_bad_patch_is_a_400_and_changes_nothing(directory, operations, scim_type):
    nina_id = _user(directory, "nina@example.com")
    group = _group(directory, "all-staff")
    response = directory.patch(f"/Groups/{group['id']}", [{"op": "add", "path": "members",
                                                           "value": [{"value": nina_id}]}, *operations])
    assert response.status_code == 400 and response.get_json()["scimType"] == scim_type
    assert directory.get(f"/Groups/{group['id']}").get_json()["members"] == [] and _roles(nina_id) == {}


def test_a_group_needs_a_name_and_another_providers_token_does_not_see_it(app, directory):
    assert directory.post("/Groups", {"schemas": [GROUP]}).get_json()["scimType"] == "invalidValue"
    group = _group(directory, "all-staff")
    other = factories.provider("okta")
    other.scim_enabled = True
    db.session.commit()
    _row, secret = new_token(other)
    db.session.commit()
    stranger = Directory(app.test_client(), secret)
    assert stranger.get(f"/Groups/{group['id']}").status_code == 404
    assert stranger.get("/Groups").get_json()["totalResults"] == 0


def test_a_saml_sign_in_leaves_the_roles_the_directory_gave(visitor, directory):
    """SAML manages its own ("sso") roles; the directory's ("scim") are the directory's."""
    assert visitor.sign_in(attributes=nina(**{GROUPS: []})).status_code == 302
    user_id = directory.get("/Users", query_string={"filter": 'userName eq "nina.novak@example.com"'}).get_json()[
        "Resources"][0]["id"]
    _group(directory, "all-staff", [user_id])
    assert _roles(user_id) == {"All employees": "scim"}

    assert visitor.sign_in(attributes=nina(**{GROUPS: []})).status_code == 302
    assert _roles(user_id) == {"All employees": "scim"}
