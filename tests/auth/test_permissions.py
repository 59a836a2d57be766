"""Roles that mean something: permissions on every view, a license seat to work with records, external users kept
to their own account, and the role page and CLI that edit them."""
from __future__ import annotations

import json

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from crm import create_app
from crm.audit.models import AuditEvent
from crm.auth.permissions import ACCOUNTS_VIEW, ALL, CONTACTS_DELETE, CONTACTS_VIEW, EMPLOYEE_DEFAULTS
from crm.contacts.models import Account, Contact
from crm.extensions import db
from crm.licensing.models import LicenseSeat
from crm.roles.services import find_role
from crm.templating import NAVIGATION
from tests import factories
from tests.conftest import IsolatedClient, csrf_token, login


def _as(app, username: str):
    app.test_client_class = IsolatedClient
    client = app.test_client()
    login(client, username, factories.PASSWORD)
    return client


@pytest.fixture
def people(app):
    """Two accounts, a contact at each, and a contact with no account."""
    northwind, contoso = Account(name="Northwind"), Account(name="Contoso")
    db.session.add_all([northwind, contoso])
    db.session.commit()
    return {"northwind": northwind.id, "contoso": contoso.id,
            "nora": factories.contact(given_name="Nora", surname="North", account=northwind).id,
            "carl": factories.contact(given_name="Carl", surname="Cont", account=contoso).id,
            "lone": factories.contact(given_name="Lone", surname="Wolf").id}


def test_every_navigation_entry_names_a_real_permission():
    assert {needed for *_rest, needed in NAVIGATION} <= set(ALL)


def test_a_contractor_with_no_role_and_no_license_sees_the_no_access_page_and_can_do_nothing(app, people, admin):
    factories.user("contractor@example.com")
    client = _as(app, "contractor@example.com")
    home = client.get("/", follow_redirects=True)
    page = home.get_data(as_text=True)
    assert home.status_code == 403 and "You have no access yet" in page
    assert "not in a role" in page and "no license seat" in page
    token = csrf_token(client, "/no-access")
    for method, path, data in (("get", "/contacts", None), ("get", f"/contacts/{people['nora']}", None),
                               ("get", "/accounts", None), ("get", f"/accounts/{people['northwind']}", None),
                               ("get", "/contacts/new", None), ("get", "/accounts/names?q=n", None),
                               ("post", f"/contacts/{people['nora']}/delete", {"csrf_token": token}),
                               ("post", f"/contacts/{admin.contact_id}/edit",
                                {"full_name": "Pwned", "email": "evil@example.com", "csrf_token": token})):
        response = getattr(client, method)(path, data=data)
        assert response.status_code == 403, (path, response.status_code)
    assert db.session.get(Contact, people["nora"]) is not None
    assert db.session.get(Contact, admin.contact_id).email != "evil@example.com"


def test_htmx_partials_check_permissions_too(app, people):
    factories.user("contractor@example.com", seat=True)
    client = _as(app, "contractor@example.com")
    response = client.get("/contacts?q=n", headers={"HX-Request": "true", "HX-Target": "contact-results"})
    assert response.status_code == 403 and "Nora" not in response.get_data(as_text=True)


def test_a_role_without_a_license_seat_opens_nothing(app, people):
    factories.user("unlicensed@example.com", roles=("All employees",))
    client = _as(app, "unlicensed@example.com")
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "no license seat" in page and "not in a role" not in page
    assert client.get("/contacts").status_code == 403


def test_all_employees_view_create_and_edit_but_do_not_delete(app, people):
    factories.employee("rep@example.com")
    client = _as(app, "rep@example.com")
    assert client.get("/contacts").status_code == 200
    detail = client.get(f"/contacts/{people['lone']}").get_data(as_text=True)
    assert ">Edit<" in detail and ">Delete<" not in detail
    token = csrf_token(client, "/contacts")
    assert client.post(f"/contacts/{people['lone']}/delete", data={"csrf_token": token}).status_code == 403
    saved = client.post("/contacts/new", data={"full_name": "New Person", "csrf_token": token})
    assert saved.status_code == 302
    nav = client.get("/contacts").get_data(as_text=True)
    assert 'href="/accounts"' in nav and 'href="/users"' not in nav


def test_the_delete_permission_opens_deleting(app, people):
    factories.role("Cleaners", (CONTACTS_VIEW, CONTACTS_DELETE))
    factories.user("cleaner@example.com", roles=("Cleaners",), seat=True)
    client = _as(app, "cleaner@example.com")
    assert ">Delete<" in client.get(f"/contacts/{people['lone']}").get_data(as_text=True)
    client.post(f"/contacts/{people['lone']}/delete", data={"csrf_token": csrf_token(client, "/contacts")})
    assert db.session.get(Contact, people["lone"]) is None
    assert client.get("/accounts").status_code == 403  # no accounts permission: 403, not the no-access page
    assert "You do not have access to this page" in client.get("/accounts").get_data(as_text=True)


def test_a_user_edits_their_own_contact_but_another_users_only_with_the_edit_permission(app, people):
    factories.role("Readers", (CONTACTS_VIEW,))
    reader = factories.user("reader@example.com", roles=("Readers",), seat=True)
    other = factories.user("other@example.com", seat=True)
    client = _as(app, "reader@example.com")
    token = csrf_token(client, "/contacts")
    own = client.post(f"/contacts/{reader.contact_id}/edit", data={"full_name": "Reader Renamed",
                                                                    "email": "reader@example.com",
                                                                    "csrf_token": token})
    assert own.status_code == 302
    assert db.session.get(Contact, reader.contact_id).full_name == "Reader Renamed"
    assert ">Edit<" not in client.get(f"/contacts/{other.contact_id}").get_data(as_text=True)
    theirs = client.post(f"/contacts/{other.contact_id}/edit", data={"full_name": "Changed", "email": "x@example.com",
                                                                      "csrf_token": token})
    assert theirs.status_code == 403
    assert db.session.get(Contact, other.contact_id).email == "other@example.com"


def test_external_users_see_only_their_own_account_and_its_contacts(app, people):
    northwind = db.session.get(Account, people["northwind"])
    factories.employee("partner@example.com", user_type="external", account=northwind)
    client = _as(app, "partner@example.com")
    listed = client.get("/contacts").get_data(as_text=True)
    assert "Nora North" in listed and "Carl Cont" not in listed and "Lone Wolf" not in listed
    searched = client.get("/contacts?q=c").get_data(as_text=True)
    assert "Carl Cont" not in searched
    assert "Nora North" in client.get("/contacts?q=no").get_data(as_text=True)
    assert client.get(f"/contacts/{people['carl']}").status_code == 404
    assert client.get(f"/contacts/{people['lone']}").status_code == 404
    accounts = client.get("/accounts").get_data(as_text=True)
    assert "Northwind" in accounts and "Contoso" not in accounts
    assert client.get(f"/accounts/{people['contoso']}").status_code == 404
    assert "Contoso" not in client.get("/accounts/names?q=c").get_data(as_text=True)
    assert client.get("/accounts/new").status_code == 403
    token = csrf_token(client, "/contacts")
    client.post("/contacts/new", data={"full_name": "Pat Partner", "account": "Contoso", "csrf_token": token})
    created = db.session.scalar(db.select(Contact).where(Contact.full_name == "Pat Partner"))
    assert created.account_id == people["northwind"]  # kept in their own account


def test_an_external_user_without_an_account_sees_no_contacts(app, people):
    factories.employee("loner@example.com", user_type="external")
    client = _as(app, "loner@example.com")
    page = client.get("/contacts").get_data(as_text=True)
    assert "Nora North" not in page and "Lone Wolf" not in page


def test_revoking_the_last_seat_ends_access_at_the_next_request(app, people, admin):
    rep = factories.employee("rep@example.com")
    client = _as(app, "rep@example.com")
    assert client.get("/contacts").status_code == 200
    boss = _as(app, "admin")
    package = db.session.scalar(db.select(LicenseSeat.package_id).where(LicenseSeat.user_id == rep.id))
    boss.post(f"/users/{rep.id}/licenses/{package}/revoke", data={"csrf_token": csrf_token(boss, "/users")})
    assert client.get("/contacts").status_code == 403


def test_an_administrator_without_a_seat_still_reaches_the_administration_pages(app, people):
    factories.user("fixer", roles=("Administrators",))
    client = _as(app, "fixer")
    for path in ("/users", "/roles", "/licenses", "/designer", "/audit"):
        assert client.get(path).status_code == 200, path
    assert client.get("/contacts").status_code == 403
    assert client.get("/", follow_redirects=False).headers["Location"].endswith("/users")


def test_the_role_page_shows_and_saves_permissions_and_audits_them(admin_client, app):
    sales = factories.role("Sales", (CONTACTS_VIEW,))
    page = admin_client.get(f"/roles/{sales.id}").get_data(as_text=True)
    assert 'value="contacts.view" checked' in page and 'value="contacts.delete" >' in page
    token = csrf_token(admin_client, f"/roles/{sales.id}")
    admin_client.post(f"/roles/{sales.id}/permissions",
                      data={"permission": [CONTACTS_VIEW, ACCOUNTS_VIEW], "csrf_token": token})
    db.session.expire_all()
    assert find_role("Sales").permissions == {CONTACTS_VIEW, ACCOUNTS_VIEW}
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "role.permissions"))
    assert event.changes["permissions"] == {"before": [CONTACTS_VIEW], "after": [CONTACTS_VIEW, ACCOUNTS_VIEW]}
    refused = admin_client.post(f"/roles/{sales.id}/permissions", data={"permission": ["contacts.fly"],
                                                                        "csrf_token": token},
                                follow_redirects=True).get_data(as_text=True)
    assert "Unknown permission contacts.fly" in refused
    admin_role = find_role("Administrators")
    last = admin_client.post(f"/roles/{admin_role.id}/permissions", data={"permission": [CONTACTS_VIEW],
                                                                           "csrf_token": token},
                             follow_redirects=True).get_data(as_text=True)
    assert "last active administrator" in last
    db.session.expire_all()
    assert find_role("Administrators").grants_admin


def test_init_seeds_all_employees_with_view_create_and_edit(app):
    assert find_role("All employees").permissions == set(EMPLOYEE_DEFAULTS)
    assert find_role("Administrators").permissions == set(ALL)


def test_the_cli_shows_grants_and_revokes(app, runner):
    factories.role("Sales")
    assert runner.invoke(args=["roles", "grant", "Sales", "contacts.view"]).exit_code == 0
    shown = json.loads(runner.invoke(args=["roles", "show", "sales", "--json"]).output)
    assert shown["permissions"] == ["contacts.view"] and shown["name"] == "Sales"
    again = runner.invoke(args=["roles", "grant", "Sales", "contacts.view"])
    assert again.exit_code == 0 and "Nothing to change" in again.output
    assert runner.invoke(args=["roles", "revoke", "Sales", "contacts.view"]).exit_code == 0
    assert json.loads(runner.invoke(args=["roles", "show", "Sales", "--json"]).output)["permissions"] == []
    wrong = runner.invoke(args=["roles", "grant", "Sales", "contacts.fly"])
    assert wrong.exit_code != 0 and "contacts.fly" in wrong.output
    assert runner.invoke(args=["roles", "show", "Nobody"]).exit_code == 1
    last = runner.invoke(args=["roles", "revoke", "Administrators", "system.administer"])
    assert last.exit_code == 1 and "last active administrator" in last.output or not _has_admins()


def _has_admins() -> bool:
    from crm.roles.services import active_admins

    return bool(db.session.scalars(active_admins()).all())


def test_migration_turns_grants_admin_into_permissions(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        upgrade(revision="0009")
        db.session.execute(text("INSERT INTO role (name, name_key, grants_admin, created_at) VALUES "
                                "('Admins', 'admins', 1, '2026-01-01'), ('Sales', 'sales', 0, '2026-01-01')"))
        db.session.execute(text("INSERT INTO user_account (username, username_key, active, user_type, created_at) "
                                "VALUES ('ann', 'ann', 1, 'employee', '2026-01-01')"))
        db.session.execute(text("INSERT INTO role_membership (user_id, role_id, source, created_at) "
                                "VALUES (1, 1, 'manual', '2026-01-01')"))
        db.session.commit()
        upgrade(revision="0010")
        rows = db.session.execute(text("SELECT r.name, p.permission FROM role_permission p JOIN role r "
                                       "ON r.id = p.role_id")).all()
        granted = {name: {p for n, p in rows if n == name} for name in ("Admins", "Sales")}
        assert granted == {"Admins": set(ALL), "Sales": set(EMPLOYEE_DEFAULTS)}
        assert db.session.execute(text("SELECT count(*) FROM role_membership")).scalar() == 1  # nothing cascaded
        downgrade(revision="0009")
        admins = db.session.execute(text("SELECT name FROM role WHERE grants_admin")).scalars().all()
        assert admins == ["Admins"]
        db.engine.dispose()


def test_jit_grants_licenses_at_the_first_sign_in_only():
    from crm.provisioning.planner import plan_sign_in
    from tests.provisioning.test_planner import exists, identity, policy, state

    assert plan_sign_in(identity(), policy(), None, exists).grant_licenses
    assert not plan_sign_in(identity(), policy(), state(license_count=0), exists).grant_licenses
