"""Factories for test data: real rows through the same services the app uses."""
from __future__ import annotations

import itertools

from werkzeug.security import generate_password_hash

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.demo.lookups import ADMIN_ROLE
from crm.extensions import db
from crm.licensing.models import LicensePackage
from crm.roles.models import MANUAL, Role
from crm.roles.services import add_member, find_role

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = generate_password_hash(PASSWORD)  # hashing is slow on purpose: do it once per run
_seq = itertools.count(1)


def user(username: str | None = None, *, password: str | None = PASSWORD, active: bool = True,
         roles: tuple[str, ...] = (), contact: bool = True, **contact_fields) -> User:
    """A committed user, with a contact unless contact=False."""
    n = next(_seq)
    username = username or f"user{n}@example.com"
    person = None
    if contact:
        fields = {"given_name": "Test", "surname": f"Person{n}", "email": username} | contact_fields
        fields.setdefault("full_name", f"{fields['given_name']} {fields['surname']}")
        person = Contact(**fields)
    u = User(username=username, active=active, user_type="employee", contact=person)
    if password == PASSWORD:
        u.password_hash = _PASSWORD_HASH
    elif password:
        u.set_password(password)
    db.session.add(u)
    db.session.flush()
    for name in roles:
        add_member(u, find_role(name) or role(name), MANUAL)
    db.session.commit()
    return u


def admin_user(username: str = "admin") -> User:
    """A committed administrator with a local password."""
    return user(username, roles=(ADMIN_ROLE,))


def role(name: str) -> Role:
    """A committed role."""
    r = Role(name=name)
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
