"""What a first login leaves behind when packages run out of seats: the same audit event, attempt and session on
both engines (on PostgreSQL the new user, the seats and the closing records are one statement, sso/first_login.py,
which picks its words by the seats it took), and nothing half-written when the statement cannot be whole."""
import pytest
from sqlalchemy import event

from crm.audit.models import AuditEvent
from crm.auth.models import User, UserSession
from crm.contacts.models import Account, Contact
from crm.extensions import db
from crm.licensing.models import LicensePackage
from crm.sso.models import SignInAttempt, UsedAssertion
from crm.users.services import user_json
from tests.conftest import statements_sent
from tests.sso.conftest import nina

NINA = "nina.novak@example.com"


def _nina() -> User | None:
    return db.session.scalar(db.select(User).where(User.username_key == NINA))


def _sign_in_event() -> AuditEvent:
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.sign_in")
                              .order_by(AuditEvent.id.desc())).first()


def _last_attempt() -> SignInAttempt:
    return db.session.scalars(db.select(SignInAttempt).order_by(SignInAttempt.id.desc())).first()


def _fill(*names: str) -> None:
    for package in db.session.scalars(db.select(LicensePackage).where(LicensePackage.name.in_(names))):
        package.seat_limit = package.seats_used
    db.session.commit()


def test_a_full_package_is_noted_and_the_others_are_granted(visitor, entra):
    _fill("Sales Creatio")
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 302 and visitor.signed_in_as() == str(_nina().id)
    assert user_json(_nina())["licenses"] == ["Service Creatio"]
    event = _sign_in_event()
    assert (event.outcome, event.summary, event.target_id) == ("created", f"Created {NINA} through entra", _nina().id)
    assert event.details["licenses_granted"] == ["Service Creatio"]
    assert event.details["notes"] == ["Account Contoso Ltd was created.", "No free seat in Sales Creatio."]
    assert event.reason == "Account Contoso Ltd was created.; No free seat in Sales Creatio."
    assert list(event.details)[-2:] == ["licenses_granted", "notes"] and "cause" not in event.details
    attempt = _last_attempt()
    assert (attempt.outcome, attempt.reference, attempt.name_id) == ("signed in", event.reference, NINA)


def test_no_free_seat_anywhere_creates_the_user_refuses_the_sign_in_and_the_audit_says_why(visitor, entra):
    _fill("Sales Creatio", "Service Creatio")
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and visitor.signed_in_as() is None
    user = _nina()
    assert user is not None and user_json(user)["licenses"] == []
    event = _sign_in_event()
    assert (event.outcome, event.summary, event.target_id) == ("denied", f"Refused {NINA} through entra", user.id)
    assert event.reason == "no license package had a free seat" and event.details["cause"] == "no_seat"
    assert event.details["licenses_granted"] == []
    assert event.details["notes"] == ["Account Contoso Ltd was created.", "No free seat in Sales Creatio.",
                                      "No free seat in Service Creatio."]
    assert event.reference in response.get_data(as_text=True)
    assert (_last_attempt().outcome, _last_attempt().reference) == ("refused", event.reference)
    assert db.session.scalar(db.select(db.func.count()).select_from(UserSession)
                             .where(UserSession.user_id == user.id)) == 0


@pytest.mark.postgres_only
def test_on_postgresql_a_first_login_is_one_statement_outside_any_transaction(app, entra, visitor):
    db.session.add(Account(name="Contoso Ltd", name_key="contoso ltd"))  # the mapping's account exists: nothing to
    db.session.commit()  # create before the statement
    with app.app_context():
        engine = db.engine
    with statements_sent(engine) as statements:
        assert visitor.sign_in(attributes=nina()).status_code == 302
    assert not [s for s in statements if s.strip().upper() in ("BEGIN", "COMMIT")]
    creating = [s for s in statements if "INSERT INTO user_account" in s]
    assert len(creating) == 1
    assert all(f"INSERT INTO {table}" in creating[0] for table in (
        "used_assertion", "contact", "user_identity", "role_membership", "license_seat", "audit_event",
        "sign_in_attempt", "user_session"))
    assert user_json(_nina())["licenses"] == ["Sales Creatio", "Service Creatio"]


@pytest.mark.postgres_only
def test_a_configuration_change_during_a_first_login_leaves_nothing_half_written(app, entra, visitor):
    """An administrator saves the provider just before the first login's statement: the statement writes nothing
    (every row hangs on the replay record, which checks the version), and the sign-in is checked and run again with
    the new configuration: one user, one contact, one seat per package, one event, one attempt."""
    with app.app_context():
        engine = db.engine
    bumped = []

    def admin_saves_first(_conn, cursor, statement, *_rest):
        if "INSERT INTO user_account" in statement and not bumped:
            bumped.append(True)
            with engine.connect() as other:
                other.exec_driver_sql("UPDATE identity_provider SET config_version = config_version + 1")
                other.commit()

    event.listen(engine, "before_cursor_execute", admin_saves_first)
    try:
        assert visitor.sign_in(attributes=nina()).status_code == 302
    finally:
        event.remove(engine, "before_cursor_execute", admin_saves_first)
    assert bumped
    db.session.expire_all()
    count = lambda model: db.session.scalar(db.select(db.func.count()).select_from(model))  # noqa: E731
    assert (count(User), count(Contact), count(SignInAttempt), count(UsedAssertion)) == (1, 1, 1, 1)
    assert len(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.sign_in")).all()) == 1
    assert [p.seats_used for p in db.session.scalars(db.select(LicensePackage).order_by(LicensePackage.name))] == [1, 1]


@pytest.mark.postgres_only
def test_psycopg_keeps_the_first_login_statement_converted(app, entra, visitor):
    """crm/extensions.cache_long_queries: the first login's statement fits what psycopg keeps converted for
    PostgreSQL, so it is not parsed again at every first login (a psycopg upgrade that moves these names fails here,
    not silently in the benchmarks)."""
    from psycopg import _queries

    with app.app_context():
        engine = db.engine
    with statements_sent(engine) as statements:
        assert visitor.sign_in(attributes=nina()).status_code == 302
    statement = next(s for s in statements if "INSERT INTO user_account" in s)
    assert len(statement.encode()) > 4096  # psycopg's own limit...
    assert len(statement.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH  # ...raised for it
    assert statement.count("%(") <= _queries.MAX_CACHED_STATEMENT_PARAMS


@pytest.mark.postgres_only
def test_first_logins_measure_a_bindings_table_postgresql_never_measured(app, entra, visitor, monkeypatch):
    """crm/users/statistics.py: on a new installation the first logins ANALYZE user_identity once, before
    autovacuum would, so that each lookup by immutable id or NameID uses its unique index."""
    from crm.users import statistics

    monkeypatch.setattr(statistics, "EVERY", 2)
    monkeypatch.setattr(statistics, "_created", 0)
    monkeypatch.setattr(statistics, "_measured", False)
    never = "SELECT reltuples < 0 FROM pg_class WHERE oid = 'user_identity'::regclass"
    assert db.session.scalar(db.text(never))
    for name in ("ann", "bob"):
        email = f"{name}@example.com"
        assert visitor.sign_in(name_id=email, attributes=nina(**{
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": email})).status_code == 302
        visitor.client.delete_cookie(app.config["SESSION_COOKIE_NAME"])
    db.session.rollback()
    assert not db.session.scalar(db.text(never))


def test_housekeeping_that_fails_after_a_first_login_never_fails_the_sign_in(app, entra, visitor, monkeypatch):
    """The tidying after a sign-in (pruning attempts, sessions, replay records) runs once the sign-in is committed:
    when it fails, the person is still signed in, once (a retry of the whole sign-in would now meet its own replay
    record)."""
    from types import SimpleNamespace

    from sqlalchemy.exc import OperationalError

    from crm.sso import signin

    def broken(*_args):
        raise OperationalError("DELETE FROM sign_in_attempt", {}, Exception("lock timeout"))

    monkeypatch.setattr(signin, "secrets", SimpleNamespace(randbelow=lambda _n: 0))  # every pruning is due
    monkeypatch.setattr(signin.attempts, "prune_due", lambda: True)
    monkeypatch.setattr(signin.sessions, "prune_due", lambda: True)
    monkeypatch.setattr(signin.attempts, "prune_attempts", broken)
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 302 and visitor.signed_in_as() == str(_nina().id)
    assert (_sign_in_event().outcome, _last_attempt().outcome) == ("created", "signed in")
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.outcome == "rejected")) == 0
