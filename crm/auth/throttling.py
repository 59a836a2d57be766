"""Password sign-in that resists guessing: tries counted in the database, so every worker process sees one count.

Three counters, each a row of `sign_in_throttle`:

- **the username and the client address together**: three tries, then a delay that doubles with each try
  (2 s, 4 s, ... up to 15 minutes) until a success, or a day without tries;
- **the client address**, over every username: 20 tries at once, then one every 30 s;
- **the username**, from every browser it has not signed in on before: 3 tries at once, then one every 8.6 s
  (never more than 10 in any minute), however many addresses the tries come from. A browser the user signed in
  with before carries a signed device cookie for that username (OWASP's "device cookies"); the username's cap
  never holds it back nor counts its tries, so an attacker guessing from a thousand addresses gets 10 guesses a
  minute and cannot keep the real user out. (A new address alone cannot tell the real user from an attacker:
  were each address's first try spared, 32 addresses would make 32 guesses in the first minute.)

A try is charged before the password is checked, each counter with one conditional upsert, so parallel requests
cannot slip past a limit; a success takes its charge back. A refused try is rolled back and changes nothing. The
failures of one username are audited once per burst (tries no more than 15 minutes apart): one event, whose count
the later failures update.

Why not Flask-Limiter: its counters live in one process's memory or in a server of their own (Redis, Memcached,
MongoDB), and it counts requests in fixed or moving windows. The rules here are not windows of requests (a delay
that grows with a pair's failures; a cap that spares addresses which never failed; an event per burst), and the
database that every worker already shares keeps them in a table of a few rows. Times are seconds since the epoch
(floats), so that the arithmetic runs in SQL the same way on SQLite and PostgreSQL.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import Float, Integer, String, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.search_keys import fold

log = logging.getLogger(__name__)
clock: Callable[[], float] = time.time  # tests and benchmarks put their own clock here


@dataclass(frozen=True)
class Limits:
    """The numbers; one place to read them."""

    free_tries: int = 3  # per username and address, before the delay starts
    max_delay: float = 15 * 60.0
    pair_memory: float = 24 * 3600.0  # a pair's count is forgotten after a day without tries
    address_interval: float = 30.0
    address_burst: int = 20
    username_interval: float = 60 / 7  # with the burst, never more than 10 tries in any minute
    username_burst: int = 3  # a typo or two, retyped at once, from a browser the user never signed in with
    burst_gap: float = 15 * 60.0  # failures further apart start a new audited burst

    def delay_after(self, tries: int) -> float:
        """How long an address waits after `tries` tries on a username without a success."""
        return 0.0 if tries <= self.free_tries else min(2.0 ** (tries - self.free_tries), self.max_delay)


LIMITS = Limits()


class SignInThrottle(db.Model):
    """One counter: of a username, a client address, or the two together (the key says which, hashed)."""

    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    tries: Mapped[int] = mapped_column(Integer, default=0)  # pairs: tries since the last success
    # pairs: no try before this moment; username and address: the next free slot (GCRA's theoretical arrival time)
    not_before: Mapped[float] = mapped_column(Float)
    expires: Mapped[float] = mapped_column(Float, index=True)  # after it, the row means nothing and is pruned
    burst_failures: Mapped[int] = mapped_column(Integer, default=0)  # usernames: failures in the current burst
    burst_started: Mapped[float] = mapped_column(Float, default=0.0)
    burst_last: Mapped[float] = mapped_column(Float, default=0.0)
    burst_reference: Mapped[str | None] = mapped_column(String(16))  # the burst's audit event


_T = SignInThrottle.__table__
_C = _T.c


@dataclass(frozen=True)
class Attempt:
    """A try charged to the counters (or refused, with the seconds to wait)."""

    username: str
    address: str
    keys: tuple[str, str, str]  # pair, address, username
    refused_for: int = 0
    tries: int = 0
    not_before: float = 0.0  # when this address may try this username again, should this try fail
    username_charged: bool = True  # False for a known browser, which the username's cap does not count

    @property
    def refused(self) -> bool:
        """True when the try was not allowed: the password must not be checked."""
        return self.refused_for > 0


@dataclass(frozen=True)
class FailureBurst:
    """The failed tries of one username so far in a burst, as the audit trail records them."""

    username: str
    user_id: int | None
    address: str
    failures: int
    started: float
    last: float
    reference: str | None  # the burst's audit event, None for its first failure
    wait: int  # seconds this address now waits before its next try


def client_address(remote_addr: str | None) -> str:
    """The address a limit counts: IPv4 as is, IPv6 by its /64 (one subscriber's whole network)."""
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return "unknown"
    if address.version == 6 and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _key(kind: str, *parts: str) -> str:
    return kind + ":" + hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:40]


def begin(username: str, remote_addr: str | None, limits: Limits = LIMITS, *, known_browser: bool = False) -> Attempt:
    """Charge a password try to its counters, or refuse it with the seconds to wait (and change nothing). A known
    browser (one the user signed in with before: device_is_known) is not held back by the username's cap."""
    now, name, address = clock(), fold(username), client_address(remote_addr)
    keys = (_key("p", name, address), _key("a", address), _key("u", name))
    attempt = Attempt(username, address, keys)
    db.session.rollback()  # the counters' transaction is the try's own
    pair = _charge_pair(keys[0], now, limits)
    if pair is None:
        return _refuse(attempt, keys[0], now, 0.0)
    tries, pair_not_before = pair
    address_tolerance = (limits.address_burst - 1) * limits.address_interval
    address_next = _charge_bucket(keys[1], now, limits.address_interval, address_tolerance, limits)
    if address_next is None:
        return _refuse(attempt, keys[1], now, address_tolerance)
    # A browser the user signed in with before is never held back by the username's cap: the real user gets in.
    username_tolerance = (limits.username_burst - 1) * limits.username_interval
    username_next = None
    if not known_browser:
        username_next = _charge_bucket(keys[2], now, limits.username_interval, username_tolerance, limits)
        if username_next is None:
            return _refuse(attempt, keys[2], now, username_tolerance)
    db.session.commit()
    # Should this try fail, the address waits for the pair's delay, the address's and the username's slots.
    not_before = max(pair_not_before, address_next - address_tolerance,
                     (username_next or 0.0) - username_tolerance)
    return Attempt(username, address, keys, tries=tries, not_before=not_before, username_charged=not known_browser)


DEVICE_COOKIE = "crm_device"
DEVICE_DAYS = 365


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="crm.auth.throttling.device")


def device_cookie(username: str) -> str:
    """The value of the cookie that makes this browser a known one for this username (set at a right password)."""
    return _devices().dumps(fold(username))


def device_is_known(username: str, cookie: str | None) -> bool:
    """True when the cookie is one this console signed, in the last DEVICE_DAYS days, for this username."""
    if not cookie or len(cookie) > 500:
        return False
    try:
        return _devices().loads(cookie, max_age=DEVICE_DAYS * 86400) == fold(username)
    except BadData:
        return False


def succeeded(attempt: Attempt, limits: Limits = LIMITS) -> None:
    """The password was right: forget the pair's tries and take back the charge (in the caller's transaction)."""
    db.session.execute(delete(SignInThrottle).where(_C.key == attempt.keys[0]))
    charged = [(attempt.keys[1], limits.address_interval)]
    if attempt.username_charged:
        charged.append((attempt.keys[2], limits.username_interval))
    for key, interval in charged:
        db.session.execute(update(SignInThrottle).where(_C.key == key).values(not_before=_C.not_before - interval))


def failed(attempt: Attempt, user_id: int | None, limits: Limits = LIMITS) -> int:
    """The password was wrong: count it in the username's burst and audit the burst (one event, updated). Return
    the seconds this address now waits before its next try."""
    now = clock()
    wait = max(0, math.ceil(attempt.not_before - now))
    new_burst = _C.burst_last < now - limits.burst_gap
    row = db.session.execute(
        update(SignInThrottle).where(_C.key == attempt.keys[2])
        .values(burst_failures=case((new_burst, 1), else_=_C.burst_failures + 1),
                burst_started=case((new_burst, now), else_=_C.burst_started),
                burst_reference=case((new_burst, None), else_=_C.burst_reference), burst_last=now)
        .returning(_C.burst_failures, _C.burst_started, _C.burst_reference)).one_or_none()
    recorder = current_app.extensions.get("crm.password_failures")
    if row is not None and recorder is not None:
        burst = FailureBurst(attempt.username.strip()[:250], user_id, attempt.address, row.burst_failures,
                             row.burst_started, now, row.burst_reference, wait)
        reference = recorder(burst)
        if reference != row.burst_reference:
            db.session.execute(update(SignInThrottle).where(_C.key == attempt.keys[2])
                               .values(burst_reference=reference))
    db.session.commit()
    if row is not None and row.burst_failures == 1:
        prune(now)
    return wait


def record_failures_with(app: Flask, recorder: Callable[[FailureBurst], str]) -> None:
    """Let the audit trail record each burst of failures: the recorder writes or updates the burst's event in the
    current transaction and returns its reference."""
    app.extensions["crm.password_failures"] = recorder


def prune(now: float, batch: int = 500) -> int:
    """Delete counters that mean nothing any more (at most `batch`), in a transaction of their own; rows another
    try holds are skipped, so pruning never waits for one nor deadlocks with it."""
    stale = select(_C.key).where(_C.expires <= now).limit(batch).with_for_update(skip_locked=True)
    try:
        deleted = db.session.execute(delete(SignInThrottle).where(_C.key.in_(stale.scalar_subquery()))).rowcount
        db.session.commit()
    except Exception as error:  # housekeeping: the next burst tries again
        db.session.rollback()
        log.warning("pruning sign_in_throttle failed: %s", error)
        return 0
    return deleted


def wait_words(seconds: int) -> str:
    """'45 seconds', '1 minute', '15 minutes'."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# --- the statements -------------------------------------------------------------------------------------------

def _upsert():
    return (postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert)(_T)


def _charge_pair(key: str, now: float, limits: Limits) -> tuple[int, float] | None:
    """Count a try of the pair, unless it must still wait; (tries, when it may try again), or None if refused."""
    stale = _C.expires <= now
    stmt = (_upsert().values(key=key, tries=1, not_before=now, expires=now + limits.pair_memory)
            .on_conflict_do_update(index_elements=[_C.key],
                                   set_={"tries": case((stale, 1), else_=_C.tries + 1),
                                         "expires": now + limits.pair_memory},
                                   where=stale | (_C.not_before <= now))
            .returning(_C.tries))
    tries = db.session.execute(stmt).scalar_one_or_none()
    if tries is None:
        return None
    # The row is this transaction's until it commits, so setting the delay in a second statement is safe.
    not_before = now + limits.delay_after(tries)
    db.session.execute(update(SignInThrottle).where(_C.key == key).values(not_before=not_before))
    return tries, not_before


def _charge_bucket(key: str, now: float, interval: float, tolerance: float | None, limits: Limits) -> float | None:
    """GCRA: take the next slot (each `interval` apart) unless it lies more than `tolerance` ahead; return the slot
    after it, or None if refused. A tolerance of None never refuses (the try still takes its slot)."""
    slot = case((_C.not_before > now, _C.not_before), else_=now) + interval
    stmt = (_upsert().values(key=key, tries=0, not_before=now + interval, expires=now + interval + limits.burst_gap)
            .on_conflict_do_update(index_elements=[_C.key],
                                   set_={"not_before": slot, "expires": slot + limits.burst_gap},
                                   where=None if tolerance is None else _C.not_before - now <= tolerance)
            .returning(_C.not_before))
    return db.session.execute(stmt).scalar_one_or_none()


def _refuse(attempt: Attempt, key: str, now: float, tolerance: float) -> Attempt:
    """Undo the try's charges; the seconds until the counter that refused it lets a try through."""
    not_before = db.session.execute(select(_C.not_before).where(_C.key == key)).scalar_one()
    db.session.rollback()
    return Attempt(attempt.username, attempt.address, attempt.keys, refused_for=max(1, math.ceil(
        not_before - tolerance - now)))
