"""License seats: granted within the limit, also when many requests race for the last seats."""
import threading

import pytest

from crm.extensions import db
from crm.licensing import services
from crm.licensing.models import LicensePackage, LicenseSeat
from tests import factories
from tests.conftest import csrf_token


def test_grant_and_revoke_keep_seats_used_in_step(app):
    package = factories.package("Sales Creatio", 2)
    user = factories.user()
    assert services.grant(user, package, "admin") is True
    assert services.grant(user, package, "admin") is False  # already held
    db.session.commit()
    assert package.seats_used == 1
    assert services.revoke(user, package) is True
    db.session.commit()
    assert package.seats_used == 0


def test_grant_beyond_the_limit_is_refused_with_a_clear_message(app):
    package = factories.package("Marketing Creatio", 1)
    services.grant(factories.user(), package, "admin")
    db.session.commit()
    with pytest.raises(services.NoSeatLeft, match='No free seat is left in "Marketing Creatio"'):
        services.grant(factories.user(), package, "admin")


def test_unlimited_package_never_runs_out(app):
    package = factories.package("Service Creatio", None)
    for _ in range(5):
        services.grant(factories.user(), package, "admin")
    db.session.commit()
    assert package.seats_used == 5 and package.seats_free is None


def test_database_refuses_more_seats_than_the_limit(app):
    from sqlalchemy.exc import IntegrityError

    package = factories.package("Limited", 1)
    package.seats_used = 2
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_lowering_the_limit_below_seats_in_use_is_refused(app):
    package = factories.package("Sales Creatio", 5)
    for _ in range(3):
        services.grant(factories.user(), package, "admin")
    db.session.commit()
    with pytest.raises(services.LicenseError, match="3 seats are in use"):
        services.save_package(package, "Sales Creatio", 2)


def test_admin_grants_a_seat_in_the_browser_and_a_full_package_says_so(admin_client, app):
    package_id = factories.package("Sales Creatio", 1).id
    first, second = factories.user().id, factories.user().id
    token = csrf_token(admin_client, f"/users/{first}")
    page = admin_client.post(f"/users/{first}/licenses", data={"package_id": package_id, "csrf_token": token},
                             follow_redirects=True).get_data(as_text=True)
    assert "Sales Creatio granted" in page
    page = admin_client.post(f"/users/{second}/licenses", data={"package_id": package_id, "csrf_token": token},
                             follow_redirects=True).get_data(as_text=True)
    assert "No free seat is left" in page
    assert db.session.scalar(db.select(db.func.count()).select_from(LicenseSeat)
                             .where(LicenseSeat.package_id == package_id)) == 1


@pytest.mark.postgres_only
def test_thirty_racing_grants_for_the_last_five_seats_give_exactly_five(app):
    package = factories.package("Sales Creatio", 25)
    holders = [factories.user() for _ in range(20)]
    for user in holders:
        services.take_seat(user, package, "setup")
    db.session.commit()
    racers = [factories.user().id for _ in range(30)]
    package_id = package.id
    barrier = threading.Barrier(len(racers), timeout=30)
    outcomes: list[str] = []

    def grant(user_id: int) -> None:
        with app.app_context():
            from crm.auth.models import User

            user, pkg = db.session.get(User, user_id), db.session.get(LicensePackage, package_id)
            barrier.wait()
            try:
                services.grant(user, pkg, "race")
                db.session.commit()
                outcomes.append("granted")
            except services.NoSeatLeft:
                db.session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=grant, args=(uid,)) for uid in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    assert outcomes.count("granted") == 5 and outcomes.count("refused") == 25
    assert db.session.get(LicensePackage, package_id).seats_used == 25
    assert db.session.scalar(db.select(db.func.count()).select_from(LicenseSeat)
                             .where(LicenseSeat.package_id == package_id)) == 25
