"""Concurrent first logins on PostgreSQL through a real multi-threaded server: no duplicate, no extra seat."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.extensions import db
from crm.licensing.models import LicensePackage, LicenseSeat
from tests.live_server import post_form, serve
from tests.saml_signer import Spec, signed_response
from tests.sso.conftest import CLAIMS, nina

pytestmark = pytest.mark.postgres_only


def _sign_ins(app, entra, specs):
    entra.allow_idp_initiated = True  # no session needed: each thread is a fresh browser
    db.session.commit()
    with serve(app) as base_url:
        app.config["BASE_URL"] = base_url
        payloads = [signed_response(spec.but(base_url=base_url)) for spec in specs]
        with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
            results = list(pool.map(lambda p: post_form(base_url, "/sso/entra/acs",
                                                        {"SAMLResponse": p, "_same_site": "1"}), payloads))
    db.session.expire_all()
    return results


def test_twenty_simultaneous_first_logins_of_one_person_make_one_user_and_one_contact(app, entra):
    results = _sign_ins(app, entra, [Spec(attributes=nina()) for _ in range(20)])
    from crm.audit.models import AuditEvent

    refusals = db.session.scalars(db.select(AuditEvent.reason).where(AuditEvent.outcome.in_(["denied", "rejected"])))
    assert [status for status, _ in results] == [302] * 20, list(refusals)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1
    assert db.session.scalar(db.select(db.func.count(Contact.id))) == 1
    user = db.session.scalar(db.select(User))
    assert user.contact.full_name == "Nina Novak" and len(user.memberships) == 2
    assert sorted(s.package.name for s in user.seats) == ["Sales Creatio", "Service Creatio"]


def test_sixty_first_logins_racing_for_a_25_seat_package_leave_exactly_25_seats(app, entra):
    sales = db.session.scalar(db.select(LicensePackage).where(LicensePackage.name == "Sales Creatio"))
    entra.license_policy, entra.license_packages = "selected", [sales]
    db.session.commit()
    people = [Spec(name_id=f"hire{i}@example.com", attributes=nina(**{CLAIMS + "emailaddress": f"hire{i}@example.com",
                                                                       CLAIMS + "givenname": f"Hire{i}"}))
              for i in range(60)]
    results = _sign_ins(app, entra, people)
    statuses = sorted(status for status, _ in results)
    assert statuses == [302] * 25 + [403] * 35, statuses
    sales = db.session.get(LicensePackage, sales.id)
    assert sales.seats_used == 25
    assert db.session.scalar(db.select(db.func.count()).select_from(LicenseSeat)) == 25
    assert db.session.scalar(db.select(db.func.count(User.id))) == 60  # refused ones exist for an admin to license
