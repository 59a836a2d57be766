"""Demo data: realistic accounts, contacts, users, license packages and roles. Loaded once."""
from __future__ import annotations

import random

from sqlalchemy import func, select

from crm.auth.models import User
from crm.contacts.models import Account, Contact, ContactType, Department
from crm.demo.bulk import Progress, load_contacts, settle
from crm.demo.lookups import load_lookups
from crm.dev_idp.provider import register_demo_provider
from crm.extensions import db
from crm.licensing.models import LicensePackage
from crm.licensing.services import take_seat
from crm.roles.models import Role
from crm.roles.services import add_member
from crm.search_keys import fold
from crm.timeutil import utcnow

GIVEN = ("Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Isabella", "Lucas", "Mia",
         "Mateo", "Charlotte", "Levi", "Ava", "Ethan", "Harper", "James", "Evelyn", "Benjamin", "Aarav", "Yuki",
         "Chen", "Fatima", "Ingrid", "Kwame", "Lucía", "Mehmet", "Nadia", "Oskar", "Priya", "Rafael", "Saanvi",
         "Tomasz", "Zoë", "Björn", "Chloé", "Diego", "Hannah", "Jonas")
SURNAMES = ("Smith", "Johnson", "Garcia", "Müller", "Rossi", "Kowalski", "Nguyen", "Tanaka", "Silva", "Andersson",
            "Okafor", "Dubois", "Novak", "Patel", "Kim", "O'Brien", "Schmidt", "Fernández", "Jensen", "Martin",
            "Baker", "Cohen", "Ivanova", "Haddad", "Larsen", "Moreau", "Nakamura", "Popescu", "Quinn", "Yilmaz")
COMPANIES = (("Northwind Traders", "Wholesale", "Seattle"), ("Contoso Ltd", "Manufacturing", "Redmond"),
             ("Fabrikam Inc", "Manufacturing", "Chicago"), ("Adventure Works", "Retail", "Bothell"),
             ("Tailspin Toys", "Retail", "Denver"), ("Wide World Importers", "Logistics", "San Francisco"),
             ("Litware Inc", "Software", "Austin"), ("Proseware Inc", "Software", "Dublin"),
             ("Woodgrove Bank", "Finance", "London"), ("Coho Winery", "Food & Beverage", "Napa"),
             ("Alpine Ski House", "Leisure", "Innsbruck"), ("Blue Yonder Airlines", "Travel", "Amsterdam"),
             ("Trey Research", "Consulting", "Boston"), ("Lucerne Publishing", "Media", "Lucerne"),
             ("Margie's Travel", "Travel", "Lisbon"), ("Fourth Coffee", "Food & Beverage", "Portland"),
             ("Graphic Design Institute", "Education", "Toronto"), ("Humongous Insurance", "Insurance", "Hartford"),
             ("City Power & Light", "Utilities", "Phoenix"), ("Southridge Video", "Media", "Los Angeles"),
             ("Acme Corporation", "Manufacturing", "Berlin"))
JOBS = ("Account Manager", "Sales Representative", "Marketing Specialist", "Purchasing Manager", "CFO",
        "IT Administrator", "Project Manager", "Support Engineer", "Operations Lead", "CEO", "Office Manager")
CITIES = ("Berlin", "London", "Paris", "Madrid", "Warsaw", "Stockholm", "Chicago", "Toronto", "Tokyo", "Lagos")
PACKAGES = (("Sales Creatio", 25), ("Marketing Creatio", 10), ("Service Creatio", None))
ROLES = (("All employees", "Everyone in the company."), ("Sales", "The sales team."),
         ("Marketing", "The marketing team."))
DEMO_USERS = (  # username, given, surname, job, department, roles, packages
    ("maria.garcia@example.com", "Maria", "Garcia", "Sales Representative", "Sales", ("All employees", "Sales"),
     ("Sales Creatio",)),
    ("tom.baker@example.com", "Tom", "Baker", "Marketing Specialist", "Marketing", ("All employees", "Marketing"),
     ("Marketing Creatio",)),
    ("priya.patel@example.com", "Priya", "Patel", "Support Engineer", "Customer Service", ("All employees",),
     ("Service Creatio",)),
)
OWN_COMPANY = "Acme Corporation"


def seed_demo(contacts: int = 500, rng: random.Random | None = None,
              progress: Progress | None = None) -> dict[str, int]:
    """Load the demo data unless it is already there; return what was added (`progress(n)`: n more contacts in)."""
    load_lookups()
    if db.session.scalar(select(Account).where(Account.name_key == fold(OWN_COMPANY))) is not None:
        if register_demo_provider():  # demo data from before the demo IdP existed
            db.session.commit()
            return {"identity providers": 1}
        return {}
    rng = rng or random.Random(2026)
    accounts = _accounts()
    _packages_and_roles()
    users = _users()
    added = _contacts(contacts, accounts, rng, progress)
    register_demo_provider()
    db.session.commit()
    settle(db.engine, added)
    return {"accounts": len(accounts), "contacts": added + users, "users": users,
            "license packages": len(PACKAGES), "roles": len(ROLES), "identity providers": 1}


def _accounts() -> list[int]:
    rows = [Account(name=n, industry=i, city=c, web=f"https://{n.split()[0].lower()}.example") for n, i, c in COMPANIES]
    db.session.add_all(rows)
    db.session.flush()
    return [a.id for a in rows]


def _packages_and_roles() -> None:
    for name, seats in PACKAGES:
        db.session.add(LicensePackage(name=name, seat_limit=seats, seats_used=0))
    for name, description in ROLES:
        if _by_name(Role, name) is None:  # "All employees" comes with `crm init`, with its permissions
            db.session.add(Role(name=name, description=description))
    db.session.flush()


def _by_name(model, name):
    return db.session.scalar(select(model).where(model.name_key == fold(name)))


def _users() -> int:
    employee = _by_name(ContactType, "Employee")
    company = _by_name(Account, OWN_COMPANY)
    for username, given, surname, job, department, roles, packages in DEMO_USERS:
        contact = Contact(given_name=given, surname=surname, full_name=f"{given} {surname}", email=username,
                          job_title=job, department=_by_name(Department, department), account=company, type=employee)
        user = User(username=username, user_type="employee", active=True, contact=contact)
        db.session.add(user)
        db.session.flush()
        for role in roles:
            add_member(user, _by_name(Role, role))
        for package in packages:
            take_seat(user, _by_name(LicensePackage, package), "demo data")
    return len(DEMO_USERS)


CONTACT_COLUMNS = ("given_name", "surname", "full_name", "email", "phone", "job_title", "city", "account_id",
                   "type_id", "department_id", "name_key", "surname_key", "email_key", "created_at", "updated_at")


def _contacts(count: int, account_ids: list[int], rng: random.Random, progress: Progress | None) -> int:
    """Bulk-load generated contacts (crm.demo.bulk: COPY or the driver's executemany, a million in about a minute)."""
    types = dict(db.session.execute(select(ContactType.name, ContactType.id)).all())
    customer_types = [types[t] for t in ("Customer", "Partner", "Supplier") if t in types]
    departments = list(db.session.scalars(select(Department.id)))
    names = {(g, s): _names(g, s) for g in GIVEN for s in SURNAMES}  # folded once per pair, not per row
    rows = (_contact_row(i, names, account_ids, customer_types, departments, rng) for i in range(count))
    return load_contacts(db.session.connection(), CONTACT_COLUMNS, rows, count, progress)


def _names(given: str, surname: str) -> tuple[str, str, str, str]:
    """Full name, its key, the surname's key (folded as the model's validators fold) and the email's local part."""
    full = f"{given} {surname}"
    return full, fold(full), fold(surname), f"{fold(given)}.{fold(surname).replace(' ', '').replace(chr(39), '')}"


def _contact_row(i: int, names: dict, account_ids, type_ids, department_ids, rng: random.Random) -> tuple:
    given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
    full, name_key, surname_key, local = names[given, surname]
    email = f"{local}{i}@{rng.choice(('example.com', 'example.org', 'example.net'))}"
    now = utcnow()
    return (given, surname, full, email, f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
            rng.choice(JOBS), rng.choice(CITIES), rng.choice(account_ids),
            rng.choice(type_ids) if type_ids else None,
            rng.choice(department_ids) if department_ids and rng.random() < 0.6 else None,
            name_key, surname_key, fold(email), now, now)


def contact_count() -> int:
    """How many contacts exist."""
    return db.session.scalar(select(func.count(Contact.id))) or 0
