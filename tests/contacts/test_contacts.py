"""Contacts: list, search, sort, paging, create, edit, delete, lookups by name."""
from crm.audit.models import AuditEvent
from crm.contacts.models import Contact
from crm.demo.seed import seed_demo
from crm.extensions import db
from tests import factories
from tests.conftest import csrf_token


def _post(client, path, data):
    return client.post(path, data=data | {"csrf_token": csrf_token(client, "/contacts")})


def test_list_shows_contacts_with_their_account(admin_client, app):
    seed_demo(contacts=40)
    html = admin_client.get("/contacts").get_data(as_text=True)
    assert "1–25 of 44 contacts" in html  # 40 generated, 3 demo users' contacts, the admin's
    html = admin_client.get("/contacts?q=maria+g").get_data(as_text=True)
    assert "Maria Garcia" in html and "Acme Corporation" in html


def test_search_matches_name_surname_email_and_account_prefixes(admin_client, app):
    from crm.contacts.models import Account

    account = Account(name="Northwind Traders")
    db.session.add(account)
    db.session.commit()
    factories.contact(given_name="Zelda", surname="Quartz", email="zq@example.com")
    factories.contact(given_name="Bob", surname="Stone", email="bob@northwind.example", account_id=account.id)
    factories.contact(given_name="Carl", surname="Other", email="carl@example.com")

    def names(q):
        html = admin_client.get("/contacts", query_string={"q": q}, headers={"HX-Request": "true",
                                "HX-Target": "contact-results"}).get_data(as_text=True)
        return {n for n in ("Zelda Quartz", "Bob Stone", "Carl Other") if n in html}

    assert names("zel") == {"Zelda Quartz"}
    assert names("QUAR") == {"Zelda Quartz"}  # surname, any case
    assert names("zq@") == {"Zelda Quartz"}  # email
    assert names("northw") == {"Bob Stone"}  # account name
    assert names("nobody") == set()


def test_htmx_search_returns_only_the_results_partial(admin_client, app):
    factories.contact(given_name="Ann", surname="Lee")
    response = admin_client.get("/contacts?q=ann", headers={"HX-Request": "true", "HX-Target": "contact-results"})
    html = response.get_data(as_text=True)
    assert "Ann Lee" in html and "<html" not in html


def test_empty_search_says_so(admin_client, app):
    html = admin_client.get("/contacts?q=zzzz").get_data(as_text=True)
    assert "No contacts match" in html


def test_sort_by_email_descending_and_paging(admin_client, app):
    for i in range(30):
        factories.contact(given_name=f"P{i:02d}", surname="Page", email=f"p{i:02d}@example.com")
    html = admin_client.get("/contacts?sort=email&dir=desc").get_data(as_text=True)
    assert html.index("p29@example.com") < html.index("p28@example.com")
    second = admin_client.get("/contacts?sort=email&dir=desc&page=2").get_data(as_text=True)
    assert "p04@example.com" in second and "p29@example.com" not in second
    assert "Page 2 of 2" in second


def test_create_contact_with_lookups_by_name(admin_client, app):
    from crm.contacts.models import Account

    db.session.add(Account(name="Contoso Ltd"))
    db.session.commit()
    response = _post(admin_client, "/contacts/new", {
        "given_name": "Nina", "surname": "Berg", "email": "nina@contoso.example", "account": "contoso ltd",
        "type": "Customer", "department": "Sales", "job_title": "Buyer"})
    assert response.status_code == 302
    contact = db.session.scalar(db.select(Contact).where(Contact.email == "nina@contoso.example"))
    assert contact.full_name == "Nina Berg"
    assert (contact.account.name, contact.type.name, contact.department.name) == ("Contoso Ltd", "Customer", "Sales")
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "contact.create"))
    assert event.actor_name == "admin" and event.changes["account"]["after"] == "Contoso Ltd"


def _count():
    return db.session.scalar(db.select(db.func.count(Contact.id)))


def test_unknown_account_and_bad_email_are_refused_and_nothing_is_saved(admin_client, app):
    before = _count()
    response = _post(admin_client, "/contacts/new", {"given_name": "X", "surname": "Y", "account": "No Such Co",
                                                     "email": "not-an-email"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No account is named" in html and "Enter a valid email address." in html
    assert _count() == before


def test_contact_needs_a_name(admin_client, app):
    before = _count()
    response = _post(admin_client, "/contacts/new", {"email": "a@b.example"})
    assert "Enter a full name" in response.get_data(as_text=True)
    assert _count() == before


def test_edit_records_only_changed_fields(admin_client, app):
    contact = factories.contact(given_name="Eva", surname="Stone", email="eva@example.com", job_title="Clerk")
    data = {"given_name": "Eva", "surname": "Stone", "full_name": "Eva Stone", "email": "eva@example.com",
            "job_title": "Manager", "department": "Finance"}
    response = _post(admin_client, f"/contacts/{contact.id}/edit", data)
    assert response.status_code == 302
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "contact.update"))
    assert event.changes == {"job_title": {"before": "Clerk", "after": "Manager"},
                             "department": {"before": None, "after": "Finance"}}


def test_delete_contact_and_refuse_deleting_a_users_contact(admin_client, app, admin):
    contact_id = factories.contact(given_name="Del", surname="Me").id
    token = csrf_token(admin_client, f"/contacts/{contact_id}")
    assert admin_client.post(f"/contacts/{contact_id}/delete", data={"csrf_token": token}).status_code == 302
    assert db.session.get(Contact, contact_id) is None
    own = admin.contact_id
    response = admin_client.post(f"/contacts/{own}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "belongs to user admin" in response.get_data(as_text=True)
    assert db.session.get(Contact, own) is not None


def test_missing_contact_gives_the_404_page(admin_client):
    response = admin_client.get("/contacts/999999")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_contacts_require_sign_in(client):
    response = client.get("/contacts")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
