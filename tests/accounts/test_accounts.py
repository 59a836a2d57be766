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
