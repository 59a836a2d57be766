"""Password sign-in that resists guessing: a growing delay per username and address, a cap per address, a cap per
username that never holds back a browser the user signed in with before (a device cookie), one audit event per
burst; counted in the database, so two processes share the counts. The clock is the test's own: no test sleeps."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from crm import create_app
from crm.audit.models import AuditEvent
from crm.audit.sign_ins import ACTION
from crm.auth import passwords, throttling
from crm.extensions import db
from tests import factories
from tests.conftest import csrf_token

ADMIN = "admin@example.com"
ATTACKER = "203.0.113.66"
REAL_USER = "198.51.100.7"
WRONG = "not the password at all"
REFUSED = "Too many sign-in attempts. Try again in"


class Clock:
    """The throttle's clock, moved by the test."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttling, "clock", fake)
    return fake


@pytest.fixture
def admin_account(app, monkeypatch):
    """The administrator, with a hash that is quick to check (a test makes hundreds of tries)."""
    quick = generate_password_hash(factories.PASSWORD, method="pbkdf2:sha256:1")
    monkeypatch.setattr(passwords, "_throwaway_hash", lambda: generate_password_hash("x", method="pbkdf2:sha256:1"))
    user = factories.admin_user(ADMIN)
    user.password_hash = quick
    db.session.commit()
    return user


class Guesser:
    """Password tries through the real login form, from any client address."""

    def __init__(self, client):
        self.client, self.token = client, csrf_token(client)

    def __call__(self, password: str, address: str, username: str = ADMIN):
        return self.client.post("/login", data={"username": username, "password": password, "csrf_token": self.token},
                                environ_base={"REMOTE_ADDR": address})


@pytest.fixture
def guess(client) -> Guesser:
    return Guesser(client)


@pytest.fixture
def real_user(app, client, admin_account) -> Guesser:
    """The administrator's own browser: it signed in once before (so it holds the device cookie), then out."""
    browser = Guesser(app.test_client())
    assert browser(factories.PASSWORD, REAL_USER).status_code == 302
    browser.client.post("/logout", data={"csrf_token": csrf_token(browser.client, "/users")})
    browser.token = csrf_token(browser.client)
    return browser


def checked(response) -> bool:
    """True when the password was checked (not refused before): a wrong one re-shows the form, a right one signs in."""
    return response.status_code in (200, 302)


def test_300_quick_wrong_passwords_from_one_address_are_mostly_refused_and_then_so_is_the_right_one(
        admin_account, real_user, guess, clock):
    tried = 0
    for _ in range(300):  # what took 24 s before
        tried += checked(guess(WRONG, ATTACKER))
        clock.advance(0.08)
    assert tried <= 6
    refused = guess(factories.PASSWORD, ATTACKER)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert real_user(factories.PASSWORD, REAL_USER).status_code == 302  # no lockout for the real user elsewhere


def test_the_delay_for_one_address_grows_with_each_failure_and_a_success_ends_it(admin_account, guess, clock):
    waits = []
    for _ in range(8):
        page = guess(WRONG, ATTACKER)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        waits.append(int(text.split("Wait ")[1].split(" second")[0]) if "Wait " in text else 0)
        clock.advance(waits[-1])
    # a browser the user never signed in with: the username's slots (one every 6 s), then the pair's doubling delay
    assert waits[:2] == [0, 0] and all(8 <= wait <= 9 for wait in waits[2:6]) and waits[6:] == [16, 32], waits
    assert guess(factories.PASSWORD, ATTACKER).status_code == 302
    counters = db.session.scalars(select(throttling.SignInThrottle.key)).all()
    assert not [key for key in counters if key.startswith("p:")]  # the success forgot the pair's failures


def test_a_refused_try_gets_the_login_page_with_429_and_when_to_try_again(admin_account, guess, clock):
    for _ in range(3):
        guess(WRONG, ATTACKER)
    page = guess(WRONG, ATTACKER)
    text = page.get_data(as_text=True)
    assert page.status_code == 429 and page.headers["Retry-After"] == "9"
    assert f"{REFUSED} 9 seconds." in text and 'name="username"' in text and "login-card" in text
    clock.advance(9)
    assert guess(WRONG, ATTACKER).status_code == 200


def test_many_addresses_get_10_guesses_a_minute_while_the_real_user_signs_in_at_once(admin_account, real_user,
                                                                                     guess, clock):
    """32 addresses guess for 4 minutes: 10 guesses a minute from the first minute on, while the real user's own
    browser is never held back."""
    addresses = [f"203.0.113.{i}" for i in range(1, 33)]
    checked_at = []
    for second in range(240):
        if checked(guess(WRONG, addresses[second % 32])):
            checked_at.append(second)
        if second % 60 == 30:
            assert real_user(factories.PASSWORD, REAL_USER).status_code == 302
            real_user.client.post("/logout", data={"csrf_token": csrf_token(real_user.client, "/users")})
            real_user.token = csrf_token(real_user.client)
        clock.advance(1)
    per_minute = [len([t for t in checked_at if m * 60 <= t < (m + 1) * 60]) for m in range(4)]
    assert max(per_minute) <= 10, per_minute
    for i in range(3):  # the username's slots taken again at this moment
        guess(WRONG, f"198.18.0.{i}")
    fresh = Guesser(guess.client.application.test_client())
    assert fresh(factories.PASSWORD, "192.0.2.99").status_code == 429  # a browser never seen waits its turn


def test_one_address_trying_many_usernames_is_capped(admin_account, guess, clock):
    answers = [guess(WRONG, ATTACKER, username=f"user{i}@example.com").status_code for i in range(22)]
    assert answers == [200] * 20 + [429] * 2
    clock.advance(30)
    assert guess(WRONG, ATTACKER, username="one-more@example.com").status_code == 200
    assert guess(factories.PASSWORD, REAL_USER).status_code == 302


def test_a_burst_of_failures_is_one_audit_event_with_its_count(admin_account, guess, clock):
    for address in (ATTACKER, REAL_USER, ATTACKER):
        assert guess(WRONG, address).status_code == 200
        clock.advance(7)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == ACTION)).all()
    assert len(events) == 1
    event = events[0]
    assert event.target_label == ADMIN and event.target_id == admin_account.id and event.outcome == "failed"
    assert event.details["failures"] == 3 and event.details["addresses"] == [ATTACKER, REAL_USER]
    assert event.summary == f"3 wrong passwords for {ADMIN} from 2 addresses"
    clock.advance(16 * 60)  # quiet for longer than a burst's gap
    guess(WRONG, ATTACKER, username="Nobody@Example.com")
    guess(WRONG, ATTACKER)
    later = db.session.scalars(select(AuditEvent).where(AuditEvent.action == ACTION).order_by(AuditEvent.id)).all()
    assert [(e.target_label, e.details["failures"], e.details["known_user"]) for e in later] == [
        (ADMIN, 3, True), ("Nobody@Example.com", 1, False), (ADMIN, 1, True)]


def test_two_processes_share_the_counts(app, admin_account, guess, clock):
    """Two app instances on the same database, as two gunicorn workers: a try in one counts in the other."""
    other = create_app({key: app.config[key] for key in ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI",
                                                         "BASE_URL")} | {"INSTANCE_PATH": app.instance_path})
    assert guess(WRONG, ATTACKER).status_code == 200
    second = Guesser(other.test_client())
    for _ in range(2):
        assert second(WRONG, REAL_USER).status_code == 200
    refused = second(WRONG, REAL_USER)  # the username's three slots, taken in both processes
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "9"
    with other.app_context():
        db.engine.dispose()


def test_x_forwarded_for_counts_only_behind_configured_proxies(app, admin_account, guess, clock):
    def tries_from(forwarded_for: str, client=guess.client, token=guess.token, username: str = ADMIN):
        return client.post("/login", data={"username": username, "password": WRONG, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": "192.0.2.1"}, headers={"X-Forwarded-For": forwarded_for})

    for i in range(20):  # the address's cap, spread over usernames so that no username's cap gets in the way
        assert tries_from(ATTACKER, username=f"user{i}@example.com").status_code == 200
    assert tries_from(REAL_USER, username="fresh@example.com").status_code == 429  # anyone may send the header
    proxied = create_app({key: app.config[key] for key in ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI",
                                                           "BASE_URL")}
                         | {"INSTANCE_PATH": app.instance_path, "TRUSTED_PROXIES": 1})
    behind_proxy = Guesser(proxied.test_client())
    answer = tries_from(REAL_USER, behind_proxy.client, behind_proxy.token, "fresh@example.com")
    assert answer.status_code == 200  # a different client behind our proxy
    with proxied.app_context():
        db.engine.dispose()


def test_ipv6_clients_are_counted_by_their_64_network():
    assert throttling.client_address("2001:db8:1:2:aaaa::1") == throttling.client_address("2001:db8:1:2:bbbb::9")
    assert throttling.client_address("2001:db8:1:3::1") != throttling.client_address("2001:db8:1:2::1")
    assert throttling.client_address("::ffff:192.0.2.5") == "192.0.2.5"
    assert throttling.client_address(None) == "unknown"


def test_any_refusal_for_too_many_requests_is_the_console_page_with_retry_after(app, client):
    from werkzeug.exceptions import TooManyRequests

    def busy():
        raise TooManyRequests(retry_after=30)

    app.add_url_rule("/busy-for-test", "busy_for_test", busy)
    response = client.get("/busy-for-test")
    page = response.get_data(as_text=True)
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    assert "Too many requests" in page and "public-card" in page


def test_counters_that_mean_nothing_any_more_are_pruned_without_a_cron_job(admin_account, guess, clock):
    for _ in range(3):
        guess(WRONG, ATTACKER)
    assert db.session.query(throttling.SignInThrottle).count() == 3  # the pair, the address, the username
    clock.advance(25 * 3600)
    guess(WRONG, REAL_USER, username="someone.else@example.com")  # a new burst prunes on its way
    keys = set(db.session.scalars(select(throttling.SignInThrottle.key)))
    assert len(keys) == 3 and all(k.startswith(("p:", "a:", "u:")) for k in keys)
    assert guess(factories.PASSWORD, ATTACKER).status_code == 302  # a day later the old failures are forgotten


def test_only_a_device_cookie_this_console_signed_for_this_username_counts(app, admin_account, real_user, clock):
    from crm.auth.throttling import DEVICE_COOKIE, device_cookie, device_is_known

    with app.test_request_context():
        assert device_is_known(ADMIN.upper(), device_cookie(ADMIN))
        assert not device_is_known("someone.else@example.com", device_cookie(ADMIN))
        assert not device_is_known(ADMIN, device_cookie(ADMIN) + "x") and not device_is_known(ADMIN, None)
    cookie = real_user.client.get_cookie(DEVICE_COOKIE)
    assert cookie is not None and cookie.http_only
    clock.advance(366 * 86400)
    with app.test_request_context():
        assert device_is_known(ADMIN, cookie.value)  # (itsdangerous reads its own clock, not the throttle's)
