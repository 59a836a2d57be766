"""Faults on PostgreSQL: a connection terminated in the middle of a sign-in is retried on a fresh one without the
user seeing anything; a database that cannot be reached answers every page with the console's 503; a request's
end never raises on a dead connection."""
from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy.engine import make_url

from crm import create_app
from crm.auth.models import User
from crm.extensions import db
from crm.sso import signin
from tests import factories
from tests.conftest import login, statements_sent
from tests.sso.conftest import nina

pytestmark = pytest.mark.postgres_only


def _terminate(connection) -> None:
    """End the server process behind a SQLAlchemy connection, as an operator or a failover would."""
    pid = connection.connection.driver_connection.info.backend_pid
    libpq = make_url(os.environ["CRM_TEST_DATABASE_URL"]).set(drivername="postgresql").render_as_string(
        hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_sign_in_whose_connection_is_terminated_midway_is_retried_and_succeeds(app, entra, visitor, monkeypatch):
    resolve, calls = signin.resolve_sign_in, []

    def terminated_once(conn, *args):
        calls.append(1)
        if len(calls) == 1:
            _terminate(conn)  # after the replay record, before the user is found: the whole transaction is lost
        return resolve(conn, *args)

    monkeypatch.setattr(signin, "resolve_sign_in", terminated_once)
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 302 and visitor.signed_in_as() is not None
    assert len(calls) == 2
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_a_page_whose_connection_dies_answers_503_and_the_next_request_works(app, admin_client, monkeypatch):
    from crm.contacts import services

    search, calls = services.search_contacts, []

    def terminated_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            _terminate(db.session.connection())
        return search(*args, **kwargs)

    monkeypatch.setattr(services, "search_contacts", terminated_once)
    broken = admin_client.get("/contacts")
    assert broken.status_code == 503 and broken.headers["Retry-After"] == "30"
    assert "The CRM is briefly unavailable" in broken.get_data(as_text=True)
    assert admin_client.get("/contacts").status_code == 200  # the pool gave a fresh connection


def test_while_the_database_is_down_every_answer_is_the_clean_503_page(tmp_path, postgres_url):
    down = make_url(postgres_url).set(port=1).render_as_string(hide_password=False)  # nothing listens there
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": down,
                      "INSTANCE_PATH": str(tmp_path), "BASE_URL": "http://localhost"})
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1"  # a signed-in browser: the layout would ask the database who it is
    for method, path in (("get", "/login"), ("get", "/contacts"), ("post", "/sso/entra/acs")):
        response = getattr(client, method)(path, data={"SAMLResponse": "x", "_same_site": "1"}
                                           if method == "post" else None)
        body = response.get_data(as_text=True)
        assert response.status_code == 503, (path, response.status_code)
        assert response.headers["Retry-After"] == "30" and "briefly unavailable" in body and "Traceback" not in body


def test_the_end_of_a_request_never_raises_on_a_dead_connection(app, client):
    @app.get("/_test/die-after-query")
    def die_after_query():
        db.session.execute(db.select(User.id)).all()  # the request holds a connection in a transaction...
        _terminate(db.session.connection())  # ...that dies before the teardown rolls it back
        return "answered"

    factories.admin_user()
    login(client, "admin", factories.PASSWORD)
    response = client.get("/_test/die-after-query")
    assert response.status_code == 200 and response.get_data(as_text=True) == "answered"


def test_a_connection_that_died_while_idle_in_the_pool_is_replaced_before_anyone_uses_it(app, admin_client,
                                                                                         monkeypatch):
    """A pooled connection idle for at least DATABASE_PING_AFTER_IDLE_SECONDS is pinged on checkout; a dead one is
    swapped for a new one and the page never sees it."""
    assert admin_client.get("/contacts").status_code == 200
    with app.app_context():
        with db.engine.connect() as conn:
            _terminate(conn)  # the pool's connection dies while nobody uses it (a failover, an operator)
    app.config["DATABASE_PING_AFTER_IDLE_SECONDS"] = 0.0  # (read when the app is made: idle now counts as idle)
    monkeypatch.setattr("crm.extensions.time.monotonic", lambda: 10**9)  # every pooled connection idle for ages
    assert admin_client.get("/contacts").status_code == 200


def test_a_connection_used_a_moment_ago_is_not_pinged_again(app, admin_client, monkeypatch):
    """HikariCP's alive bypass window: in steady use, no round trip before each request (SQLAlchemy's pool_pre_ping
    would ping every time)."""
    pings = []
    with app.app_context():
        dialect = db.engine.dialect
    monkeypatch.setattr(dialect, "do_ping", lambda conn: pings.append(conn) or True)
    for _ in range(3):
        assert admin_client.get("/contacts").status_code == 200
    assert pings == []
    monkeypatch.setattr("crm.extensions.time.monotonic", lambda: 10**9)  # idle for ages now: pinged once each
    assert admin_client.get("/contacts").status_code == 200
    assert len(pings) >= 1


def test_a_sign_in_commits_without_waiting_for_the_disk_and_only_its_own_transaction(app, entra, visitor):
    """The closing statement sets synchronous_commit off for its own transaction (no extra round trip); the
    connection goes back to the pool with the server's setting, so no other write is made less durable."""
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine
    engine.dispose()  # every connection from now on starts with commits that wait for the disk (the throwaway
    # cluster of the test run is set not to wait, for speed: that would hide a setting left behind)

    @event.listens_for(engine, "connect")
    def waits_for_disk(dbapi_connection, _record):
        dbapi_connection.execute("SET synchronous_commit = on")
        dbapi_connection.commit()

    with statements_sent(engine) as statements:
        assert visitor.sign_in(attributes=nina()).status_code == 302
        assert visitor.sign_in(attributes=nina()).status_code == 302  # a returning user: autocommit
    closing = [s for s in statements if "INSERT INTO used_assertion" in s]
    assert len(closing) == 2 and all("set_config" in s for s in closing)
    assert engine.pool.checkedin() == 1  # the one connection both sign-ins used, back in the pool...
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"  # ...as it was before them


def test_an_operator_may_make_sign_ins_wait_for_the_disk(app, entra, visitor):
    app.config["SIGN_IN_DURABLE_COMMIT"] = True
    with app.app_context():
        engine = db.engine
    with statements_sent(engine) as statements:
        assert visitor.sign_in(attributes=nina()).status_code == 302
    closing = [s for s in statements if "INSERT INTO used_assertion" in s]
    assert len(closing) == 1 and "set_config" not in closing[0]


def test_a_sign_in_that_takes_a_role_away_waits_for_the_disk(app, entra, visitor):
    """A removed role must not come back with a database crash: that sign-in commits durably."""
    from tests.sso.conftest import GROUPS, SALES_GROUP

    assert visitor.sign_in(attributes=nina()).status_code == 302
    with app.app_context():
        engine = db.engine
    with statements_sent(engine) as statements:
        assert visitor.sign_in(attributes=nina(**{GROUPS: [SALES_GROUP]})).status_code == 302  # all-staff removed
    closing = [s for s in statements if "INSERT INTO used_assertion" in s]
    assert len(closing) == 1 and "set_config" not in closing[0]
