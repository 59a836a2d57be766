"""Paging through a provider's users as a directory's import does: the unfiltered list is counted and paged from the
identity links alone (bench/scim.py), so it must still leave out other providers' users and the deleted ones, and a
filtered page must give the same total whether or not it is the last one."""
from crm.extensions import db
from crm.identity_providers.scim_tokens import new_token
from tests import factories
from tests.scim.conftest import Directory, user_body


def _names(page: dict) -> list[str]:
    return [u["userName"] for u in page["Resources"]]


def _interleaved(directory: Directory, app) -> Directory:
    """entra0, okta0, entra1, okta1 ... entra5: the other provider's users sit between ours in id order."""
    okta = factories.provider("okta", cert_name="okta-idp")
    okta.scim_enabled = True
    _row, secret = new_token(okta)
    db.session.commit()
    other = Directory(app.test_client(), secret)
    for n in range(6):
        assert directory.post("/Users", user_body(f"entra{n}@example.com")).status_code == 201
        if n < 5:
            assert other.post("/Users", user_body(f"okta{n}@example.com")).status_code == 201
    return other


def test_the_unfiltered_list_skips_other_providers_and_deleted_users_in_its_total_and_pages(directory, app):
    other = _interleaved(directory, app)
    ids = {u["userName"]: u["id"] for u in directory.get("/Users").get_json()["Resources"]}
    assert directory.delete(f"/Users/{ids['entra1@example.com']}").status_code == 204
    assert directory.patch(f"/Users/{ids['entra2@example.com']}",
                           [{"op": "replace", "path": "active", "value": False}]).status_code == 200
    okta_first = other.get("/Users", query_string={"count": 1}).get_json()["Resources"][0]["id"]
    assert other.delete(f"/Users/{okta_first}").status_code == 204

    first = directory.get("/Users", query_string={"startIndex": 1, "count": 2}).get_json()
    second = directory.get("/Users", query_string={"startIndex": 3, "count": 2}).get_json()
    last = directory.get("/Users", query_string={"startIndex": 5, "count": 2}).get_json()
    assert first["totalResults"] == second["totalResults"] == last["totalResults"] == 5
    assert _names(first) == ["entra0@example.com", "entra2@example.com"]  # deactivated: still the directory's
    assert _names(second) == ["entra3@example.com", "entra4@example.com"]
    assert _names(last) == ["entra5@example.com"] and last["itemsPerPage"] == 1
    beyond = directory.get("/Users", query_string={"startIndex": 9, "count": 2}).get_json()
    assert (beyond["totalResults"], beyond["Resources"]) == (5, [])
    assert directory.get("/Users", query_string={"count": 0}).get_json()["totalResults"] == 5
    assert other.get("/Users").get_json()["totalResults"] == 4


def test_a_filtered_page_counts_the_same_total_whether_it_is_the_last_or_not(directory, app):
    _interleaved(directory, app)
    active = {"filter": "active eq true"}
    middle = directory.get("/Users", query_string=active | {"startIndex": 2, "count": 2}).get_json()
    last = directory.get("/Users", query_string=active | {"startIndex": 5, "count": 4}).get_json()
    beyond = directory.get("/Users", query_string=active | {"startIndex": 8, "count": 4}).get_json()
    none = directory.get("/Users", query_string=active | {"count": 0}).get_json()
    assert middle["totalResults"] == last["totalResults"] == beyond["totalResults"] == none["totalResults"] == 6
    assert _names(middle) == ["entra1@example.com", "entra2@example.com"]
    assert _names(last) == ["entra4@example.com", "entra5@example.com"] and beyond["Resources"] == []
    one = directory.get("/Users", query_string={"filter": 'userName eq "ENTRA3@example.com"'}).get_json()
    assert one["totalResults"] == 1 and _names(one) == ["entra3@example.com"]
