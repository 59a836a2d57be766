"""One person, one user; deprovisioning that ends access: sessions, seats, the next SAML sign-in."""
from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.licensing.models import LicensePackage
from crm.users.services import user_json
from tests.scim.conftest import user_body
from tests.sso.conftest import nina

NINA = "nina.novak@example.com"
OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def _users() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(User).order_by(User.id)))


def _nina() -> dict:
    db.session.expire_all()
    return user_json(db.session.scalar(db.select(User).where(User.username_key == NINA)))


def _seats_used() -> dict:
    db.session.expire_all()
    return {p.name: p.seats_used for p in db.session.scalars(db.select(LicensePackage))}


def _id_of(directory, user_name: str) -> str:
    found = directory.get("/Users", query_string={"filter": f'userName eq "{user_name}"'}).get_json()
    assert found["totalResults"] == 1
    return found["Resources"][0]["id"]


def test_deactivation_ends_the_saml_session_releases_seats_and_the_next_assertion_is_refused(visitor, directory):
    assert visitor.sign_in(attributes=nina()).status_code == 302  # JIT creates Nina; she works in the CRM
    assert visitor.signed_in_as() is not None and visitor.client.get("/contacts").status_code == 200
    assert _seats_used() == {"Sales Creatio": 1, "Service Creatio": 1}
    user_id = _id_of(directory, NINA)  # the directory finds the JIT-created user: same provider

    response = directory.patch(f"/Users/{user_id}", [{"op": "Replace", "path": "active", "value": "False"}])
    assert response.status_code == 200 and response.get_json()["active"] is False

    assert visitor.client.get("/contacts").status_code == 302  # her session ended at once
    assert visitor.signed_in_as() is None
    assert _seats_used() == {"Sales Creatio": 0, "Service Creatio": 0} and _nina()["licenses"] == []
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "scim.user_patch")).one()
    assert event.details["sessions_ended"] == 1 and event.details["token_id"]
    assert event.changes["active"] == {"before": True, "after": False} and event.actor_name.startswith("scim:")

    refused = visitor.sign_in(attributes=nina())
    assert refused.status_code == 403
    assert "deactivated by your organization&#39;s directory" in refused.get_data(as_text=True)
    assert visitor.signed_in_as() is None and not _nina()["active"]

    back = directory.patch(f"/Users/{user_id}", [{"op": "replace", "value": {"active": True}}])
    assert back.status_code == 200 and back.get_json()["active"] is True
    assert _nina()["licenses"] == ["Sales Creatio", "Service Creatio"]
    assert visitor.sign_in(attributes=nina()).status_code == 302 and visitor.signed_in_as() == user_id


def test_reactivation_without_a_free_seat_still_succeeds(directory):
    user_id = directory.post("/Users", user_body(NINA)).get_json()["id"]
    directory.patch(f"/Users/{user_id}", [{"op": "replace", "path": "active", "value": False}])
    for package in db.session.scalars(db.select(LicensePackage)):
        package.seat_limit = package.seats_used
    db.session.commit()
    response = directory.patch(f"/Users/{user_id}", [{"op": "replace", "path": "active", "value": True}])
    assert response.status_code == 200 and _nina()["active"] and _nina()["licenses"] == []
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "scim.user_patch")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.details["waiting_for_seat"] is True


def test_a_scim_created_user_who_signs_in_by_saml_is_the_same_user(visitor, directory):
    created = directory.post("/Users", user_body(NINA, "ext-nina"))
    assert created.status_code == 201
    assert _nina()["licenses"] == ["Sales Creatio", "Service Creatio"]  # the provider's license policy
    contact = _nina()["contact"]
    assert (contact["full_name"], contact["department"], contact["account"], contact["job_title"]) == (
        "Nina Novak", "Sales", "Contoso Ltd", "Account Executive")
    assert visitor.sign_in(attributes=nina()).status_code == 302
    assert visitor.signed_in_as() == created.get_json()["id"] and len(_users()) == 1


def test_the_immutable_id_is_the_external_id(visitor, directory, scim_provider):
    scim_provider.immutable_id_attribute = OBJECT_ID
    db.session.commit()
    created = directory.post("/Users", user_body(NINA, "0b7c-object-id")).get_json()
    # Renamed at the IdP: a new NameID, the same object id: the same user
    response = visitor.sign_in(name_id="nina.smith@example.com",
                               attributes=nina(**{OBJECT_ID: "0b7c-object-id"}))
    assert response.status_code == 302 and visitor.signed_in_as() == created["id"] and len(_users()) == 1


def test_a_jit_user_is_adopted_by_the_directory_not_duplicated(visitor, directory):
    visitor.sign_in(attributes=nina())
    user_id = _id_of(directory, NINA)  # Okta looks the userName up before creating
    assert directory.post("/Users", user_body(NINA, "ext-nina")).status_code == 409
    adopted = directory.patch(f"/Users/{user_id}", [{"op": "add", "path": "externalId", "value": "ext-nina"}])
    assert adopted.status_code == 200 and adopted.get_json()["externalId"] == "ext-nina"
    assert len(_users()) == 1
    assert directory.get("/Users", query_string={"filter": 'externalId eq "ext-nina"'}).get_json()["totalResults"] == 1


def test_delete_deprovisions_hides_and_a_later_post_brings_back_the_same_user(visitor, directory):
    user_id = directory.post("/Users", user_body(NINA, "ext-nina")).get_json()["id"]
    visitor.sign_in(attributes=nina())
    assert visitor.signed_in_as() == user_id
    assert directory.delete(f"/Users/{user_id}").status_code == 204
    assert directory.get(f"/Users/{user_id}").status_code == 404
    assert visitor.signed_in_as() is None and not _nina()["active"] and _nina()["licenses"] == []
    assert _nina()["contact"]["full_name"] == "Nina Novak"  # the CRM's records stay
    assert _nina()["contact"]["type"] == "Former employee"  # marked so
    deleted = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "scim.user_delete")).one()
    assert deleted.details["contact_type"]["after"] == "Former employee"
    assert visitor.sign_in(attributes=nina()).status_code == 403
    again = directory.post("/Users", user_body(NINA, "ext-nina"))
    assert again.status_code == 201 and again.get_json()["id"] == user_id and again.get_json()["active"]
    assert _nina()["licenses"] == ["Sales Creatio", "Service Creatio"] and len(_users()) == 1
    assert _nina()["contact"]["type"] == "Employee"


def test_with_users_from_scim_a_sign_in_creates_nobody_and_overwrites_nothing(visitor, directory, scim_provider):
    scim_provider.users_from = "scim"
    db.session.commit()
    refused = visitor.sign_in(attributes=nina())
    assert refused.status_code == 403 and _users() == []
    directory.post("/Users", user_body(NINA, title="Directory title"))
    assert visitor.sign_in(attributes=nina()).status_code == 302
    assert _nina()["contact"]["job_title"] == "Directory title"  # the SAML jobtitle did not overwrite it


def test_users_show_says_where_a_user_comes_from_and_why_inactive(visitor, directory, runner):
    import json

    directory.post("/Users", user_body("eve@example.com", "ext-eve"))
    visitor.sign_in(attributes=nina())
    eve = json.loads(runner.invoke(args=["users", "show", "eve@example.com", "--json"]).output)
    assert (eve["source"], eve["external_id"], eve["inactive_reason"], eve["waiting_for_seat"]) == (
        "scim", "ext-eve", None, False)
    assert _nina()["source"] == "jit"
    directory.patch(f"/Users/{_id_of(directory, 'eve@example.com')}", [{"op": "replace", "path": "active",
                                                                      "value": False}])
    eve = json.loads(runner.invoke(args=["users", "show", "eve@example.com", "--json"]).output)
    assert (eve["active"], eve["inactive_reason"]) == (False, "scim")


def test_the_users_page_shows_scim_users_and_why_they_are_inactive(directory, admin_client):
    user_id = directory.post("/Users", user_body("eve@example.com")).get_json()["id"]
    directory.patch(f"/Users/{user_id}", [{"op": "replace", "path": "active", "value": False}])
    page = admin_client.get("/users").get_data(as_text=True)
    assert "SCIM" in page and "by the directory" in page


def test_a_post_goes_through_the_sign_ins_resolver_a_linkable_local_user_is_adopted(directory, scim_provider):
    from tests import factories

    factories.user("kim@example.com", password=None)  # made by hand, never signed in: what a first SAML login links
    factories.user("admin2@example.com")  # a local password: an administrator must link it
    adopted = directory.post("/Users", user_body("Kim@example.com", "ext-kim"))
    assert adopted.status_code == 201
    kim = user_json(db.session.scalar(db.select(User).where(User.username_key == "kim@example.com")))
    assert kim["source"] == "scim" and kim["identity"] == {"idp": "entra", "name_id": "Kim@example.com"}
    assert kim["external_id"] == "ext-kim" and len(_users()) == 2
    assert db.session.scalars(db.select(AuditEvent.action).where(AuditEvent.action.like("scim.user%"))).all() == [
        "scim.user_link"]
    refused = directory.post("/Users", user_body("admin2@example.com"))
    assert refused.status_code == 409 and "local password" in refused.get_json()["detail"]
