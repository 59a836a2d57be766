"""Users: access rules, list filters, detail, activation, roles with their source."""
from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.roles.models import RoleMembership
from tests import factories
from tests.conftest import csrf_token, login


def test_non_admin_uses_contacts_and_accounts_but_gets_403_on_administration(client, app):
    factories.employee("rep@example.com")
    login(client, "rep@example.com", factories.PASSWORD)
    assert client.get("/contacts").status_code == 200
    assert client.get("/accounts").status_code == 200
    for path in ("/users", "/roles", "/licenses", "/audit", "/designer"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "You do not have access to this page" in response.get_data(as_text=True)
    nav = client.get("/contacts").get_data(as_text=True)
    assert 'href="/users"' not in nav and 'href="/contacts"' in nav


def test_user_list_filters_by_state_role_and_license(admin_client, app):
    sales = factories.role("Sales")
    factories.user("alice@example.com", roles=("Sales",))
    factories.user("bob@example.com", active=False)
    package = factories.package("Service Creatio", None)
    from crm.licensing.services import take_seat

    carol = factories.user("carol@example.com")
    take_seat(carol, package, "test")
    db.session.commit()

    def shown(query):
        html = admin_client.get("/users", query_string=query).get_data(as_text=True)
        return {u for u in ("alice@", "bob@", "carol@") if u in html}

    assert shown({"active": "no"}) == {"bob@"}
    assert shown({"role": sales.id}) == {"alice@"}
    assert shown({"license": package.id}) == {"carol@"}
    assert shown({"q": "ALI"}) == {"alice@"}


def test_user_detail_shows_contact_licenses_and_role_sources(admin_client, app):
    user = factories.user("dana@example.com", given_name="Dana", surname="Scully", roles=("Sales",))
    marketing = factories.role("Marketing")
    db.session.add(RoleMembership(user_id=user.id, role_id=marketing.id, source="sso"))
    db.session.commit()
    html = admin_client.get(f"/users/{user.id}").get_data(as_text=True)
    assert "Dana Scully" in html
    assert "Managed by SSO" in html and "Added by admin" in html


def test_deactivate_and_activate_are_audited(admin_client, app):
    user_id = factories.user("erin@example.com").id
    token = csrf_token(admin_client, f"/users/{user_id}")
    admin_client.post(f"/users/{user_id}/active", data={"active": "0", "csrf_token": token})
    assert db.session.get(User, user_id).active is False
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "user.deactivate"))
    assert event.changes == {"active": {"before": True, "after": False}} and event.actor_name == "admin"


def test_last_administrator_cannot_be_deactivated_or_removed(admin_client, app, admin):
    token = csrf_token(admin_client, f"/users/{admin.id}")
    page = admin_client.post(f"/users/{admin.id}/active", data={"active": "0", "csrf_token": token},
                             follow_redirects=True).get_data(as_text=True)
    assert "last active administrator" in page
    assert db.session.get(User, admin.id).active is True


def test_add_and_remove_a_role_by_hand(admin_client, app):
    user_id = factories.user("finn@example.com").id
    role_id = factories.role("Marketing").id
    token = csrf_token(admin_client, f"/users/{user_id}")
    admin_client.post(f"/users/{user_id}/roles", data={"role_id": role_id, "csrf_token": token})
    membership = db.session.get(RoleMembership, (user_id, role_id))
    assert membership.source == "manual"
    admin_client.post(f"/users/{user_id}/roles/{role_id}/remove", data={"csrf_token": token})
    assert db.session.get(RoleMembership, (user_id, role_id)) is None
    actions = set(db.session.scalars(db.select(AuditEvent.action)))
    assert {"role.member_add", "role.member_remove"} <= actions


def test_an_admin_pinning_an_sso_role_makes_it_manual(app):
    from crm.roles.services import add_member

    user = factories.user()
    role = factories.role("Sales")
    db.session.add(RoleMembership(user_id=user.id, role_id=role.id, source="sso"))
    db.session.commit()
    assert add_member(user, role) is True
    assert db.session.get(RoleMembership, (user.id, role.id)).source == "manual"


def test_admin_relinks_a_changed_name_id_and_unlinks(admin_client, app):
    from crm.users.models import UserIdentity

    provider = factories.provider("okta")
    user_id = factories.user("old.name@example.com").id
    other_id = factories.user("someone@example.com").id
    token = csrf_token(admin_client, f"/users/{user_id}")
    admin_client.post(f"/users/{other_id}/identity", data={"csrf_token": token, "provider_id": provider.id,
                                                          "name_id": "new.name@example.com"})
    page = admin_client.post(f"/users/{user_id}/identity", follow_redirects=True, data={
        "csrf_token": token, "provider_id": provider.id, "name_id": "New.Name@example.com"}).get_data(as_text=True)
    assert "already belongs to someone@example.com" in page
    admin_client.post(f"/users/{other_id}/identity/unlink", data={"csrf_token": token})
    admin_client.post(f"/users/{user_id}/identity", data={"csrf_token": token, "provider_id": provider.id,
                                                         "name_id": "new.name@example.com"})
    binding = db.session.scalar(db.select(UserIdentity).where(UserIdentity.user_id == user_id))
    assert binding.name_id == "new.name@example.com"
    assert db.session.scalar(db.select(UserIdentity).where(UserIdentity.user_id == other_id)) is None
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "user.identity_link")
                              .order_by(AuditEvent.id.desc()))
    assert event.changes["identity"] == {"before": None, "after": "okta: new.name@example.com"}


def test_the_single_sign_on_link_form_is_in_the_page_not_in_its_title(admin_client, app):
    factories.provider("okta")
    user_id = factories.user("old.name@example.com").id
    page = admin_client.get(f"/users/{user_id}").get_data(as_text=True)
    title = page[page.index("<title>"):page.index("</title>")]
    main = page[page.index("<main"):page.index("</main>")]
    assert "Single sign-on link" not in title
    assert "Single sign-on link" in main and f'action="/users/{user_id}/identity"' in main


def test_a_relink_keeps_the_old_and_new_binding_in_the_audit_trail(admin_client, app):
    from crm.users.models import UserIdentity

    entra, okta = factories.provider("entra"), factories.provider("okta")
    user = factories.user("ann@example.com")
    db.session.add(UserIdentity(user=user, provider_id=entra.id, name_id="ann@example.com", immutable_id="oid-1"))
    db.session.commit()
    token = csrf_token(admin_client, f"/users/{user.id}")
    admin_client.post(f"/users/{user.id}/identity", data={"csrf_token": token, "provider_id": okta.id,
                                                          "name_id": "00u-ann"})
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "user.identity_link")
                              .order_by(AuditEvent.id.desc()))
    assert event.changes["identity"] == {"before": "entra: ann@example.com (immutable id oid-1)",
                                         "after": "okta: 00u-ann"}
    assert "(was entra: ann@example.com (immutable id oid-1))" in event.summary
