"""Server-side sessions: each sign-in (password or single sign-on) is a row in user_session, and the browser's cookie
carries only a random token for it. Every request finds its row (one indexed lookup, once per request); logout
deletes it, and deactivation, an SSO unlink, a new password or a change of roles delete all of a user's rows, so a
copied cookie stops working at once. A session also ends after an idle time (set on the Single Sign On configuration
page, session_policy; CRM_SESSION_IDLE_MINUTES until an administrator sets it) and after a maximum lifetime
(CRM_SESSION_MAX_HOURS). Expired rows are pruned now and then when a session is opened.
"""
from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import joinedload

from crm.auth.models import SessionPolicy, User, UserSession
from crm.extensions import db
from crm.timeutil import utcnow

PASSWORD = "password"
TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most once a minute per session
PRUNE_ONE_IN = 50  # expired rows are deleted when about one session in fifty is opened
_SESSIONS = UserSession.__table__


def sso_method(slug: str) -> str:
    """How a session signed in through a provider: "sso:<slug>"."""
    return f"sso:{slug}"


def hash_token(token: str) -> str:
    """The SHA-256 of a session token, as stored (the token itself is only in the browser's cookie)."""
    return hashlib.sha256(token.encode()).hexdigest()


IDLE_MINUTES_RANGE = (5, 1440)  # what an administrator may set: five minutes to a day


def default_idle_minutes() -> int:
    """The server's idle timeout, until an administrator sets one (CRM_SESSION_IDLE_MINUTES, default 8 hours)."""
    return int(current_app.config["SESSION_IDLE_MINUTES"])


def idle_minutes() -> int:
    """How many minutes a session may go unused: the administrator's setting, else the server's default."""
    return _set_or_default(db.session.scalar(select(SessionPolicy.idle_minutes).where(SessionPolicy.id == 1)))


def idle_limit(minutes: int | None = None) -> timedelta:
    """How long a session may go unused (`minutes` when the caller has read it already)."""
    return timedelta(minutes=minutes or idle_minutes())


def _set_or_default(stored: int | None) -> int:
    """The administrator's idle timeout as read with a session (kept within the range they may set, whatever the row
    holds), else the server's default."""
    if stored is None:
        return default_idle_minutes()
    low, high = IDLE_MINUTES_RANGE
    return min(max(stored, low), high)


def store_idle_minutes(minutes: int) -> int:
    """Set the console's idle timeout in the caller's transaction (it holds at once for every open session, in every
    worker: each request reads it with its session); the value it replaces. Raises ValueError out of range."""
    low, high = IDLE_MINUTES_RANGE
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not low <= minutes <= high:
        raise ValueError(f"The idle timeout must be a whole number of minutes from {low} to {high} (24 hours).")
    before = idle_minutes()
    policy = db.session.get(SessionPolicy, 1) or SessionPolicy(id=1)
    policy.idle_minutes, policy.updated_at = minutes, utcnow()
    db.session.add(policy)
    return before


def max_lifetime() -> timedelta:
    """How long a session may last at most (CRM_SESSION_MAX_HOURS, default 7 days)."""
    return timedelta(hours=int(current_app.config["SESSION_MAX_HOURS"]))


def new_session_row(user_id: int | None, method: str, now: datetime | None = None,
                    ends_by: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """A new session's token and its row (not written yet: the sign-in writes it in its own transaction); `ends_by`:
    a way in's own limit (an SSO provider's session lifetime, the IdP's SessionNotOnOrAfter) when it is sooner than
    the console's maximum."""
    now = now or utcnow()
    expires = now + max_lifetime()
    token = secrets.token_urlsafe(32)
    agent = request.headers.get("User-Agent", "") if has_request_context() else ""
    return token, {"token_hash": hash_token(token), "user_id": user_id, "method": method[:120], "created_at": now,
                   "last_seen_at": now, "expires_at": min(expires, ends_by) if ends_by else expires,
                   "user_agent": user_agent_summary(agent)}


def write_session(conn: Connection, row: dict[str, Any]) -> None:
    """Insert a session row (whoever writes one also prunes now and then: now_and_then_prune)."""
    conn.execute(insert(_SESSIONS), row)


def open_session(user_id: int, method: str) -> str:
    """Write a new session for the user in the caller's transaction, now and then pruning the expired ones; its
    token goes into the cookie."""
    token, row = new_session_row(user_id, method)
    conn = db.session.connection()
    write_session(conn, row)
    now_and_then_prune(conn, row["created_at"])
    return token


def prune_due() -> bool:
    """Whether this new session prunes the expired ones: about one in PRUNE_ONE_IN (no cron job needed)."""
    return secrets.randbelow(PRUNE_ONE_IN) == 0


def now_and_then_prune(conn: Connection, now: datetime) -> None:
    """Delete expired sessions when prune_due says so."""
    if prune_due():
        prune(conn, now)


def prune(conn: Connection, now: datetime) -> int:
    """Delete every session past its lifetime or idle for too long; how many were deleted."""
    stale = or_(_SESSIONS.c.expires_at <= now, _SESSIONS.c.last_seen_at <= now - idle_limit())  # (rare: one read)
    return conn.execute(delete(_SESSIONS).where(stale)).rowcount


@functools.cache
def _with_permissions():
    """Load the user's memberships, their roles and the roles' permissions in the same statement. The roles live in
    an area above this one: their classes are reached through the relationships, never imported (and only once
    every area's models are mapped, at the first request)."""
    membership = User.memberships.property.mapper.class_
    role = membership.role.property.mapper.class_
    return joinedload(User.memberships).joinedload(membership.role).joinedload(role.grants)


# The setting rides along with the session's row as a scalar subquery by primary key: no second round trip, and no
# join whose row estimate on a fresh table would make PostgreSQL plan (and JIT-compile) a costly query.
_IDLE_SETTING = select(SessionPolicy.idle_minutes).where(SessionPolicy.id == 1).scalar_subquery().label("idle_minutes")


def user_for(token: str) -> User | None:
    """The active user whose live session has this token (with their roles, the roles' permissions and whether
    they hold a license seat: what every page asks) and the console's idle timeout, in one statement; None
    when the session ended, expired or went idle (an expired row is deleted then). Called once per request."""
    if not token or len(token) > 100:
        return None
    row = db.session.execute(
        select(User, UserSession.id, UserSession.method, UserSession.last_seen_at, UserSession.expires_at,
               User.seats.any().label("has_seat"), _IDLE_SETTING)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == hash_token(token))
        .options(_with_permissions())).unique().first()
    now = utcnow()
    if row is None or not row.User.active or row.expires_at <= now \
            or row.last_seen_at <= now - idle_limit(_set_or_default(row.idle_minutes)):
        if row is not None:
            db.session.execute(delete(_SESSIONS).where(_SESSIONS.c.id == row.id))
            db.session.commit()
            # Ran out of time: the way it signed in may take it through its sign-in again (not a deactivated user).
            g.ended_session_method, g.may_sign_in_again = row.method, row.User.active
        g.session_ended = True
        return None
    user = row.User
    user.seat_known = bool(row.has_seat)
    if now - row.last_seen_at >= TOUCH_EVERY:
        db.session.execute(update(_SESSIONS).where(_SESSIONS.c.id == row.id).values(last_seen_at=now))
        db.session.commit()
    g.user_session_id = row.id
    return user


def cap_lifetime(method: str, lifetime: timedelta) -> int:
    """Bring the live sessions signed in this way ("sso:<slug>") within a new, shorter lifetime counted from their
    sign-in, in the caller's transaction; how many now end sooner. (A shorter limit set by an administrator holds
    for the sessions open now too, not only for later sign-ins.)"""
    rows = db.session.execute(select(_SESSIONS.c.id, _SESSIONS.c.created_at, _SESSIONS.c.expires_at)
                              .where(_SESSIONS.c.method == method)).all()
    sooner = [{"row_id": r.id, "ends": r.created_at + lifetime} for r in rows if r.created_at + lifetime < r.expires_at]
    if sooner:
        db.session.execute(update(_SESSIONS).where(_SESSIONS.c.id == bindparam("row_id"))
                           .values(expires_at=bindparam("ends")), sooner)
    return len(sooner)


def current_session_id() -> int | None:
    """The id of this request's session row, once the user is loaded."""
    return g.get("user_session_id")


def end_session(token: str | None) -> None:
    """Delete the session with this token (logout), in the caller's transaction."""
    if token:
        db.session.execute(delete(_SESSIONS).where(_SESSIONS.c.token_hash == hash_token(token)))


def end_sessions(user_id: int, *, keep: int | None = None) -> int:
    """Delete every session of the user (but `keep`, the acting user's own), in the caller's transaction; how many."""
    stmt = delete(_SESSIONS).where(_SESSIONS.c.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(_SESSIONS.c.id != keep)
    return db.session.execute(stmt).rowcount


def end_sessions_after_change(user: User) -> int:
    """A change to who the user is or what they may do ends their sessions; an administrator changing themselves
    keeps the session they are using."""
    keep = current_session_id() if has_request_context() and current_user.is_authenticated \
        and current_user.id == user.id else None
    return end_sessions(user.id, keep=keep)


def live_sessions(user_id: int) -> list[UserSession]:
    """The user's sessions that have not ended, newest first."""
    now, idle = utcnow(), idle_limit()
    return list(db.session.scalars(
        select(UserSession).where(UserSession.user_id == user_id, UserSession.expires_at > now,
                                  UserSession.last_seen_at > now - idle)
        .order_by(UserSession.created_at.desc(), UserSession.id.desc())))


def ends_at(row: UserSession, idle: timedelta | None = None) -> datetime:
    """When the session ends unless it is used before: the sooner of its own end (the console's maximum, or its
    provider's lifetime or the IdP's SessionNotOnOrAfter) and the idle limit from when it was last seen."""
    return min(row.expires_at, row.last_seen_at + (idle or idle_limit()))


def seconds_left(row: UserSession, now: datetime | None = None, idle: timedelta | None = None) -> int:
    """How long the session has left, in whole seconds (0 once it ended)."""
    return max(0, int((ends_at(row, idle) - (now or utcnow())).total_seconds()))


def session_json(row: UserSession, idle: timedelta | None = None) -> dict[str, Any]:
    """A session as `users sessions --json` prints it."""
    idle = idle or idle_limit()
    return {"id": row.id, "how": row.method, "created": _iso(row.created_at), "last_seen": _iso(row.last_seen_at),
            "expires": _iso(ends_at(row, idle)), "seconds_left": seconds_left(row, idle=idle),
            "user_agent": row.user_agent}


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"), ("curl/", "curl"), ("python", "Python"))
_SYSTEMS = (("Windows", "Windows"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Android", "Android"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def user_agent_summary(agent: str) -> str | None:
    """"Chrome on Windows" from a User-Agent header (enough to tell one's sessions apart), or None."""
    agent = re.sub(r"[\x00-\x1f\x7f]", "", agent or "")[:1000]
    if not agent:
        return None
    browser = next((name for marker, name in _BROWSERS if marker in agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or agent[:60]
