"""/scim/v2 as a protocol: tokens first, discovery, filters in SQL, paging, projections, errors in SCIM JSON."""
import pytest

from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers.scim_tokens import new_token
from tests import factories
from tests.scim.conftest import ENTERPRISE, SCIM_JSON, USER, user_body


def _create(directory, name, external_id=None, **extra):
    response = directory.post("/Users", user_body(name, external_id, **extra))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize("path", ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes", "/Users", "/Users/1",
                                  "/nowhere"])
def test_every_endpoint_wants_a_valid_token_first(directory, path):
    for token in ("", "crm-scim-not-a-token"):
        response = directory.get(path, token=token or " ")
        assert response.status_code == 401 and response.mimetype == SCIM_JSON
        assert response.get_json()["status"] == "401"
    assert directory.client.get("/scim/v2/Users").status_code == 401  # no header at all


def test_a_revoked_token_or_scim_switched_off_stops_the_directory(directory, scim_provider):
    assert directory.get("/Users").status_code == 200
    scim_provider.scim_enabled = False
    db.session.commit()
    assert directory.get("/Users").status_code == 401
    scim_provider.scim_enabled = True
    db.session.commit()
    from crm.identity_providers.scim_tokens import revoke, valid_tokens

    revoke(valid_tokens(scim_provider)[0])
    db.session.commit()
    assert directory.get("/Users").status_code == 401


def test_two_tokens_are_valid_at_once_and_a_third_revokes_the_oldest(directory, scim_provider):
    _second, second = new_token(scim_provider)
    db.session.commit()
    assert directory.get("/Users").status_code == 200 and directory.get("/Users", token=second).status_code == 200
    new_token(scim_provider)
    db.session.commit()
    assert directory.get("/Users").status_code == 401 and directory.get("/Users", token=second).status_code == 200


GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_discovery_publishes_only_what_is_stored(directory):
    config = directory.get("/ServiceProviderConfig").get_json()
    assert config["patch"]["supported"] and config["filter"]["supported"] and not config["bulk"]["supported"]
    schemas = {s["id"]: s for s in directory.get("/Schemas").get_json()["Resources"]}
    assert set(schemas) == {USER, ENTERPRISE, GROUP}
    assert {a["name"] for a in schemas[USER]["attributes"]} == {
        "userName", "name", "displayName", "title", "active", "emails", "phoneNumbers"}
    assert {a["name"] for a in schemas[ENTERPRISE]["attributes"]} == {"organization", "employeeNumber", "manager"}
    types = directory.get("/ResourceTypes").get_json()["Resources"]
    assert [t["id"] for t in types] == ["User", "Group"]
    assert {a["name"] for a in schemas[GROUP]["attributes"]} == {"displayName", "members"}
    assert directory.get(f"/Schemas/{USER}").get_json()["name"] == "User"


def test_filters_find_users_in_sql_and_an_unknown_attribute_is_a_400(directory):
    ann = _create(directory, "ann@example.com", "ext-ann", displayName="Ann Archer")
    _create(directory, "bob@example.com", "ext-bob", displayName="Bob Baker", title="Engineer")

    def names(expression):
        response = directory.get("/Users", query_string={"filter": expression})
        assert response.status_code == 200, response.get_data(as_text=True)
        return sorted(u["userName"] for u in response.get_json()["Resources"])

    assert names('userName eq "ANN@example.com"') == ["ann@example.com"]
    assert names('externalId eq "ext-bob"') == ["bob@example.com"]
    assert names(f'id eq "{ann["id"]}"') == ["ann@example.com"]
    assert names('emails.value co "bob@"') == ["bob@example.com"]
    assert names('emails[type eq "work" and value eq "ann@example.com"]') == ["ann@example.com"]
    assert names('displayName sw "bob"') == ["bob@example.com"]
    assert names('userName ne "ann@example.com"') == ["bob@example.com"]
    assert names('title eq "engineer" or displayName eq "Ann Archer"') == ["ann@example.com", "bob@example.com"]
    assert names('not (title eq "Engineer") and userName pr') == ["ann@example.com"]
    assert names(f'{ENTERPRISE}:department eq "sales"') == ["ann@example.com", "bob@example.com"]
    for bad in ('nickName eq "x"', 'userName eq', "userName xx 1", 'addresses[type eq "work"]'):
        response = directory.get("/Users", query_string={"filter": bad})
        assert response.status_code == 400 and response.get_json()["scimType"] == "invalidFilter", bad


def test_paging_and_attribute_projections(directory):
    for n in range(5):
        _create(directory, f"user{n}@example.com")
    page = directory.get("/Users", query_string={"startIndex": 2, "count": 2}).get_json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [u["userName"] for u in page["Resources"]] == ["user1@example.com", "user2@example.com"]
    assert directory.get("/Users", query_string={"count": 0}).get_json()["Resources"] == []
    only = directory.get("/Users", query_string={"attributes": "userName,name.givenName", "count": 1}).get_json()
    assert set(only["Resources"][0]) == {"schemas", "id", "meta", "userName", "name"}
    assert only["Resources"][0]["name"] == {"givenName": "Nina"}
    less = directory.get("/Users", query_string={"excludedAttributes": f"emails,{ENTERPRISE}", "count": 1}).get_json()
    assert "emails" not in less["Resources"][0] and ENTERPRISE not in less["Resources"][0]
    search = directory.post("/.search", {"filter": 'userName eq "user3@example.com"'}).get_json()
    assert search["totalResults"] == 1


def test_errors_are_scim_json(directory):
    created = _create(directory, "ann@example.com")
    again = directory.post("/Users", user_body("ANN@example.com"))
    assert again.status_code == 409 and again.get_json()["scimType"] == "uniqueness"
    assert directory.get("/Users/999999").status_code == 404
    assert directory.get("/Users/abc").get_json()["status"] == "404"
    assert directory.get("/Groups/1").status_code == 404
    bad_op = directory.patch(f"/Users/{created['id']}", [{"op": "move", "path": "title", "value": "x"}])
    assert bad_op.status_code == 400 and bad_op.get_json()["scimType"] == "invalidSyntax"
    not_bool = directory.patch(f"/Users/{created['id']}", [{"op": "replace", "path": "active", "value": "maybe"}])
    assert not_bool.status_code == 400 and not_bool.get_json()["scimType"] == "invalidValue"
    no_name = directory.post("/Users", {"schemas": [USER]})
    assert no_name.status_code == 400 and no_name.mimetype == SCIM_JSON
    broken = directory.client.post("/scim/v2/Users", data="{", content_type="application/json",
                                   headers={"Authorization": f"Bearer {directory.token}"})
    assert broken.status_code == 400 and broken.get_json()["scimType"] == "invalidSyntax"
    huge = directory.post("/Users", user_body("big@example.com", title="x" * (1024 * 1024)))
    assert huge.status_code == 413 and huge.mimetype == SCIM_JSON
    wrong_method = directory.call("DELETE", "/ServiceProviderConfig")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == SCIM_JSON


def test_a_token_sees_only_its_own_providers_users(directory, app):
    _create(directory, "ann@example.com", "ext-ann")
    other = factories.provider("okta", cert_name="okta-idp")
    other.scim_enabled = True
    _row, secret = new_token(other)
    db.session.commit()
    ann_id = directory.get("/Users").get_json()["Resources"][0]["id"]
    assert directory.get(f"/Users/{ann_id}", token=secret).status_code == 404
    for expression in ('userName eq "ann@example.com"', 'externalId eq "ext-ann"'):
        found = directory.get("/Users", query_string={"filter": expression}, token=secret).get_json()
        assert found["totalResults"] == 0
    assert directory.patch(f"/Users/{ann_id}", [{"op": "replace", "path": "active", "value": False}],
                           token=secret).status_code == 404
    factories.user("local@example.com")  # a local user is nobody's to see either
    assert directory.get("/Users").get_json()["totalResults"] == 1


def test_an_external_id_or_username_of_another_user_is_a_409(directory):
    ann = _create(directory, "ann@example.com", "ext-ann")
    bob = _create(directory, "bob@example.com", "ext-bob")
    taken = directory.patch(f"/Users/{bob['id']}", [{"op": "replace", "path": "externalId", "value": "ext-ann"}])
    assert taken.status_code == 409 and taken.get_json()["scimType"] == "uniqueness"
    renamed = directory.put(f"/Users/{bob['id']}", user_body("ANN@example.com", "ext-bob"))
    assert renamed.status_code == 409
    assert directory.get(f"/Users/{bob['id']}").get_json()["userName"] == "bob@example.com"
    assert directory.get(f"/Users/{ann['id']}").get_json()["externalId"] == "ext-ann"


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(directory, app, scim_provider):
    app.config["SCIM_RATE_LIMIT"] = "3 per minute"
    _row, other = new_token(scim_provider)
    db.session.commit()
    assert [directory.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
    held = directory.get("/Users")
    assert held.status_code == 429 and held.mimetype == SCIM_JSON and int(held.headers["Retry-After"]) >= 1
    assert directory.get("/Users", token=other).status_code == 200  # per token


def test_employee_number_and_manager_are_kept_as_sent_in_every_dialect(directory):
    boss = directory.post("/Users", user_body("boss@example.com")).get_json()["id"]
    body = user_body("nina@example.com")
    body[ENTERPRISE] |= {"employeeNumber": "E-0042", "manager": {"value": boss}}
    created = directory.post("/Users", body).get_json()
    assert created[ENTERPRISE]["employeeNumber"] == "E-0042"
    assert created[ENTERPRISE]["manager"] == {"value": boss, "$ref": f"http://localhost/scim/v2/Users/{boss}"}
    path = f"/Users/{created['id']}"

    # Entra: the manager as a bare string on a URN path; then removed
    other = directory.post("/Users", user_body("other@example.com")).get_json()["id"]
    directory.patch(path, [{"op": "Add", "path": f"{ENTERPRISE}:manager", "value": other}])
    assert directory.get(path).get_json()[ENTERPRISE]["manager"]["value"] == other
    found = directory.get("/Users", query_string={"filter": f'{ENTERPRISE}:manager.value eq "{other}"'}).get_json()
    assert [r["id"] for r in found["Resources"]] == [created["id"]]
    found = directory.get("/Users", query_string={"filter": f'{ENTERPRISE}:employeeNumber eq "E-0042"'}).get_json()
    assert found["totalResults"] == 1
    directory.patch(path, [{"op": "remove", "path": f"{ENTERPRISE}:manager"}])
    assert "manager" not in directory.get(path).get_json()[ENTERPRISE]

    # Entra's newer flag-style path-less replace with URN keys
    directory.patch(path, [{"op": "replace", "value": {f"{ENTERPRISE}:employeeNumber": "E-0043"}}])
    assert directory.get(path).get_json()[ENTERPRISE]["employeeNumber"] == "E-0043"
    too_long = directory.patch(path, [{"op": "replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "9" * 101}])
    assert too_long.status_code == 400 and directory.get(path).get_json()[ENTERPRISE]["employeeNumber"] == "E-0043"


def test_the_user_page_and_users_show_name_the_manager(directory, admin_client, runner):
    boss = directory.post("/Users", user_body("boss@example.com")).get_json()["id"]
    body = user_body("nina@example.com")
    body[ENTERPRISE] |= {"employeeNumber": "E-0042", "manager": boss}
    nina_id = directory.post("/Users", body).get_json()["id"]
    page = admin_client.get(f"/users/{nina_id}").get_data(as_text=True)
    assert "E-0042" in page and f'href="/users/{boss}"' in page
    shown = runner.invoke(args=["users", "show", "nina@example.com", "--json"])
    assert '"manager": "boss@example.com"' in shown.output and '"employee_number": "E-0042"' in shown.output


NEW = "new@example.com"


@pytest.mark.parametrize(("operation", "expected"), [
    ({"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"}, {"email": NEW}),
    ({"op": "replace", "path": "emails[primary eq true].value", "value": "new@example.com"}, {"email": NEW}),
    ({"op": "remove", "path": 'emails[value eq "NINA@example.com"]'}, {"email": None}),
    ({"op": "remove", "path": 'phoneNumbers[value eq "+1 555 0100"]'}, {"phone": None, "mobile_phone": "+1 555 0199"}),
    ({"op": "replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0111"},
     {"phone": "+1 555 0100", "mobile_phone": "+1 555 0111"}),
    ({"op": "add", "path": 'addresses[type eq "work"].locality', "value": "Oslo"}, {"email": "nina@example.com"}),
])
def test_patch_paths_with_entry_filters(directory, operation, expected):
    body = user_body("nina@example.com", phoneNumbers=[{"type": "work", "value": "+1 555 0100"},
                                                      {"type": "mobile", "value": "+1 555 0199"}])
    user_id = directory.post("/Users", body).get_json()["id"]
    assert directory.patch(f"/Users/{user_id}", [operation]).status_code == 200
    db.session.expire_all()
    c = db.session.get(User, int(user_id)).contact
    assert {key: getattr(c, key) for key in expected} == expected


def test_a_value_filter_that_matches_nothing_is_a_400_no_target(directory):
    user_id = directory.post("/Users", user_body("nina@example.com")).get_json()["id"]
    response = directory.patch(f"/Users/{user_id}", [{"op": "remove", "path": 'emails[value eq "other@example.com"]'}])
    assert response.status_code == 400 and response.get_json()["scimType"] == "noTarget"
