"""Roles, accounts and lookups: create, rename, unique names."""
import html

from crm.contacts.models import Account, ContactType
from crm.extensions import db
from crm.roles.models import Role
from tests import factories
from tests.conftest import csrf_token


def _post(client, path, data):
    return client.post(path, data=data | {"csrf_token": csrf_token(client, path)}, follow_redirects=True)


def test_create_and_rename_a_role_and_list_members(admin_client, app):
    page = _post(admin_client, "/roles/new", {"name": "Support", "description": "Helpdesk"}).get_data(as_text=True)
    assert "Role Support saved." in page
    role = db.session.scalar(db.select(Role).where(Role.name == "Support"))
    factories.user("sam@example.com", roles=("Support",))
    _post(admin_client, f"/roles/{role.id}/edit", {"name": "Customer Support"})
    html = admin_client.get(f"/roles/{role.id}").get_data(as_text=True)
    assert "Customer Support" in html and "sam@example.com" in html


def test_duplicate_role_name_is_refused_ignoring_case(admin_client, app):
    factories.role("Sales")
    page = _post(admin_client, "/roles/new", {"name": "SALES"}).get_data(as_text=True)
    assert 'A role named "Sales" already exists.' in html.unescape(page)
    assert db.session.scalar(db.select(db.func.count(Role.id)).where(Role.name_key == "sales")) == 1


def test_accounts_create_edit_and_duplicate(admin_client, app):
    page = _post(admin_client, "/accounts/new", {"name": "Fabrikam Inc", "city": "Chicago"}).get_data(as_text=True)
    assert "Account Fabrikam Inc saved." in page
    account = db.session.scalar(db.select(Account).where(Account.name == "Fabrikam Inc"))
    _post(admin_client, f"/accounts/{account.id}/edit", {"name": "Fabrikam, Inc.", "city": "Chicago"})
    db.session.refresh(account)
    assert account.name == "Fabrikam, Inc."
    page = _post(admin_client, "/accounts/new", {"name": "fabrikam, inc."}).get_data(as_text=True)
    assert "already exists" in page


def test_non_admin_can_create_accounts(client, app):
    from tests.conftest import login

    factories.employee("rep@example.com")
    login(client, "rep@example.com", factories.PASSWORD)
    assert "Account Litware saved." in _post(client, "/accounts/new", {"name": "Litware"}).get_data(as_text=True)


def test_account_suggestions_for_the_contact_form(admin_client, app):
    db.session.add_all([Account(name="Contoso Ltd"), Account(name="Coho Winery"), Account(name="Fabrikam")])
    db.session.commit()
    html = admin_client.get("/accounts/names?q=co").get_data(as_text=True)
    assert 'value="Coho Winery"' in html and 'value="Contoso Ltd"' in html and "Fabrikam" not in html


def test_lookup_values_are_added_and_renamed_in_the_designer(admin_client, app):
    page = _post(admin_client, "/designer/lookups/contact-types/new", {"name": "Reseller"}).get_data(as_text=True)
    assert "Contact type Reseller saved." in page
    item = db.session.scalar(db.select(ContactType).where(ContactType.name == "Reseller"))
    _post(admin_client, f"/designer/lookups/contact-types/{item.id}/edit", {"name": "Value-added reseller"})
    assert "Value-added reseller" in admin_client.get("/designer/lookups/contact-types").get_data(as_text=True)
    assert admin_client.get("/designer/lookups/nothing").status_code == 404
