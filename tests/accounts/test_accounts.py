"""Accounts: the list shows each account's number of contacts."""
import re

from crm.contacts.models import Account
from crm.extensions import db
from tests import factories


def test_the_list_counts_each_accounts_contacts(admin_client, app):
    northwind, contoso, empty = Account(name="Northwind Traders"), Account(name="Contoso Ltd"), Account(name="Empty Co")
    db.session.add_all([northwind, contoso, empty])
    db.session.commit()
    for i in range(3):
        factories.contact(given_name=f"N{i}", surname="North", account_id=northwind.id)
    factories.contact(given_name="C", surname="Cont", account_id=contoso.id)
    factories.contact(given_name="No", surname="Account")

    html = admin_client.get("/accounts").get_data(as_text=True)
    counts = dict(re.findall(r'>([^<]+)</a></td>.*?<td class="num">([\d,]+)</td>', html, re.S))
    assert counts == {"Contoso Ltd": "1", "Empty Co": "0", "Northwind Traders": "3"}


def test_an_accounts_contacts_are_paged_by_name_from_the_rows_around_each_page(admin_client, app):
    acme = Account(name="Acme")
    db.session.add(acme)
    db.session.commit()
    for i in range(30):
        factories.contact(given_name=f"P{i:02d}", surname="Acme", account_id=acme.id)
    factories.contact(given_name="Elsewhere", surname="Person")

    first = admin_client.get(f"/accounts/{acme.id}").get_data(as_text=True)
    assert "1–25 of 30 contacts" in first and "Page 1 of 2" in first and "Elsewhere" not in first
    assert first.index("P00 Acme") < first.index("P24 Acme") and "P25 Acme" not in first
    following = re.search(r'href="([^"]+)"\s+rel="next"', first).group(1).replace("&amp;", "&")
    assert re.fullmatch(rf"/accounts/{acme.id}\?after=\d+&page=2", following)
    second = admin_client.get(following).get_data(as_text=True)
    assert "26–30 of 30 contacts" in second and "Page 2 of 2" in second
    assert [n for n in (f"P{i:02d} Acme" for i in range(30)) if n in second] == [f"P{i} Acme" for i in range(25, 30)]
