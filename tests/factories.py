"""Factories for test data: real rows through the same services the app uses."""
from __future__ import annotations

import itertools

from werkzeug.security import generate_password_hash

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.demo.lookups import ADMIN_ROLE
from crm.extensions import db
from crm.licensing.models import LicensePackage
from crm.licensing.services import find_package, take_seat
from crm.roles.models import MANUAL, Role, RolePermission
from crm.roles.services import add_member, find_role

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = generate_password_hash(PASSWORD)  # hashing is slow on purpose: do it once per run
_seq = itertools.count(1)


SEATS = "Console seats"  # the package the factories' users hold a seat of


def user(username: str | None = None, *, password: str | None = PASSWORD, active: bool = True,
         roles: tuple[str, ...] = (), contact: bool = True, seat: bool = False, user_type: str = "employee",
         **contact_fields) -> User:
    """A committed user, with a contact unless contact=False, and a license seat (of SEATS) when seat=True."""
    n = next(_seq)
    username = username or f"user{n}@example.com"
    person = None
    if contact:
        fields = {"given_name": "Test", "surname": f"Person{n}", "email": username} | contact_fields
        fields.setdefault("full_name", f"{fields['given_name']} {fields['surname']}")
        person = Contact(**fields)
    u = User(username=username, active=active, user_type=user_type, contact=person)
    if password == PASSWORD:
        u.password_hash = _PASSWORD_HASH
    elif password:
        u.set_password(password)
    db.session.add(u)
    db.session.flush()
    for name in roles:
        add_member(u, find_role(name) or role(name), MANUAL)
    if seat:
        take_seat(u, find_package(SEATS) or package(SEATS, None), "tests")
    db.session.commit()
    return u


def admin_user(username: str = "admin") -> User:
    """A committed administrator with a local password and a license seat (to work with contacts too)."""
    return user(username, roles=(ADMIN_ROLE,), seat=True)


def employee(username: str | None = None, **fields) -> User:
    """A committed user in "All employees" (view, create and edit contacts and accounts) with a license seat."""
    return user(username, roles=("All employees",), seat=True, **fields)


def role(name: str, permissions: tuple[str, ...] = ()) -> Role:
    """A committed role with these permissions (the role of that name, when `crm init` made it already)."""
    r = find_role(name) or Role(name=name)
    for permission in permissions:
        if permission not in r.permissions:
            r.grants.append(RolePermission(permission=permission))
    db.session.add(r)
    db.session.commit()
    return r


def package(name: str, seats: int | None) -> LicensePackage:
    """A committed license package."""
    p = LicensePackage(name=name, seat_limit=seats, seats_used=0)
    db.session.add(p)
    db.session.commit()
    return p


def contact(**fields) -> Contact:
    """A committed contact."""
    fields.setdefault("full_name", f"{fields.get('given_name', 'Ann')} {fields.get('surname', 'Example')}")
    c = Contact(**fields)
    db.session.add(c)
    db.session.commit()
    return c


def provider(slug: str = "entra", *, jit: bool = True, allow_idp_initiated: bool = False, cert_name: str = "test-idp",
             **settings):
    """A committed identity provider signing with the suite's test key `cert_name`."""
    from crm.identity_providers.certificates import parse_certificate
    from crm.identity_providers.services import save_provider
    from tests.saml_keys import key_pair

    values = {"slug": slug, "display_name": settings.pop("display_name", slug.capitalize()),
              "entity_id": f"https://idp.example.com/{slug}", "sso_url": f"https://idp.example.com/{slug}/sso",
              "slo_url": f"https://idp.example.com/{slug}/slo", "jit_enabled": jit, "enabled": True,
              "show_on_login": True, "allow_idp_initiated": allow_idp_initiated, "license_policy": "all"} | settings
    saved = save_provider(None, values, [parse_certificate(key_pair(cert_name)[1])])
    db.session.commit()
    return saved
