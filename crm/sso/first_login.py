"""A first login on PostgreSQL as one statement: the new user's contact, user, binding and roles
(provisioning.apply.creation_ctes), the seats (licensing.seats.seat_ctes) and the closing records (records.py: the
replay record, the audit event, the attempt and the session), each hanging on the replay record's row as the closing
records do, so that the statement is whole on its own, and is its own transaction.

Why one statement: a first login takes a seat, which locks the license package's row until the commit, and every
other first login waits for that row. Taken in a statement of its own, the lock was held while the client received
the seats, built the closing records and sent them and the COMMIT: about 7 ms in a login storm on two cores (the
client's threads queue for the processor), which capped first logins at about 140 a second whatever else was
made faster. In one statement the lock is held only while the server finishes that statement.

What the closing records say depends on the seats taken: the packages granted (the audit event's details), a
note for each offered package that had no free seat, and, when none of the offered packages had one, a refused
sign-in (the user is created, as with statements one after another, but not signed in: "denied", cause no_seat,
the attempt refused, no session). The client gives both versions of the words; the statement picks.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from crm.audit.models import AuditEvent
from crm.auth.models import UserSession
from crm.licensing.seats import seat_ctes
from crm.provisioning.apply import NO_FREE_SEAT, creation_ctes
from crm.sso.models import SignInAttempt
from crm.sso.records import (
    ATTEMPT_COLUMNS,
    AUDIT_COLUMNS,
    SESSION_COLUMNS,
    ConfigChanged,
    remember_assertion,
    replays_refused,
    unless_durable,
)

_AUDIT, _ATTEMPT, _SESSIONS = AuditEvent.__table__, SignInAttempt.__table__, UserSession.__table__
# The audit event's columns the statement computes (the rest are bound as given).
_COMPUTED = ("target_id", "summary", "outcome", "reason", "details")
# The details' keys it writes after the ones given (in this order, as the other sign-ins write them).
SEAT_KEYS = ("licenses_granted", "notes")


@dataclass(frozen=True)
class FirstLogin:
    """What the statement did: the new user's id, the packages offered (in name order) and those granted."""

    user_id: int
    offered: list[str]
    granted: list[str]

    @property
    def no_seat(self) -> bool:
        """Packages were offered, and none had a free seat: the user was created but not signed in."""
        return bool(self.offered) and not self.granted


@dataclass(frozen=True)
class FirstLoginRows:
    """The rows the statement writes, without what it computes itself (the user's id, the seats and the words that
    depend on them)."""

    creation: dict[str, Any]  # provisioning.apply.creation_params: contact, user, binding and roles
    seats: dict[str, Any]  # the grant's s_package_ids, s_granted_by and s_now
    every_package: bool  # the provider's license policy: every package, or the ones it names
    used: dict[str, Any]  # the replay record
    guard: dict[str, Any]  # records.config_guard: the configuration the response was checked with
    audit: dict[str, Any]  # the audit event as the sign-in signs in
    refused_audit: dict[str, str]  # its summary and reason when it is refused for want of a seat
    attempt: dict[str, Any]  # without its outcome
    session: dict[str, Any]  # without its user


def write_first_login(conn: Connection, rows: FirstLoginRows, durable: bool) -> FirstLogin:
    """Run the statement; Replayed when the assertion was used before, ConfigChanged when the provider's
    configuration changed (nothing is written then). `durable`: the commit waits for the disk (records.py)."""
    creation, audit, refused_audit = rows.creation, rows.audit, rows.refused_audit
    details = {k: v for k, v in audit["details"].items() if k not in SEAT_KEYS and k != "cause"}
    params = (creation | rows.seats | {f"r_{k}": v for k, v in rows.used.items()} | rows.guard
              | {f"a_{k}": audit.get(k) for k in AUDIT_COLUMNS if k not in _COMPUTED}
              | {"a_summary": audit["summary"], "a_summary_refused": refused_audit["summary"],
                 "a_outcome": audit["outcome"], "a_reason_refused": refused_audit["reason"],
                 "a_notes": list(audit["details"]["notes"]), "a_details_head": json.dumps(details)[:-1]}
              | {f"t_{k}": rows.attempt.get(k) for k in ATTEMPT_COLUMNS if k != "outcome"}
              | {f"ses_{k}": rows.session.get(k) for k in SESSION_COLUMNS if k != "user_id"})
    contact_columns = tuple(sorted(k[2:] for k in creation if k.startswith("c_")))
    with replays_refused():
        row = conn.execute(_statement(contact_columns, rows.every_package, durable), params).first()
    if row.written != 1:
        raise ConfigChanged()
    return FirstLogin(row.user_id, list(row.offered or []), list(row.granted or []))


@functools.cache
def _statement(contact_columns: tuple[str, ...], every_package: bool, durable: bool) -> Select:
    """The statement for this set of contact columns and license policy, built once per process."""
    used = remember_assertion().cte("used")
    creation = creation_ctes(contact_columns, after=used)
    user_id = select(creation.user.c.id).scalar_subquery()
    seats = seat_ctes(every_package, user_id=user_id, when=exists(select(creation.user.c.id)))
    offered, taken = seats.offered, seats.taken
    no_seat = and_(exists(select(offered.c.id)), ~exists(select(taken.c.id)))
    granted = func.array(select(offered.c.name).where(offered.c.id.in_(select(taken.c.id)))
                         .order_by(offered.c.name_key).scalar_subquery())
    full = func.array(select(func.format(NO_FREE_SEAT.replace("{}", "%s"), offered.c.name))
                      .where(offered.c.id.not_in(select(taken.c.id))).order_by(offered.c.name_key).scalar_subquery())
    notes = func.array_cat(bindparam("a_notes", type_=ARRAY(Text)), full)
    details = cast(bindparam("a_details_head", type_=Text) + literal(', "licenses_granted": ')
                   + cast(func.array_to_json(granted), Text) + literal(', "notes": ')
                   + cast(func.array_to_json(notes), Text)
                   + case((no_seat, literal(', "cause": "no_seat"')), else_=literal("")) + literal("}"), JSON)
    computed = {
        "target_id": user_id,
        "summary": case((no_seat, bindparam("a_summary_refused", type_=Text)),
                        else_=bindparam("a_summary", type_=Text)),
        "outcome": case((no_seat, literal("denied")), else_=bindparam("a_outcome", type_=_AUDIT.c.outcome.type)),
        "reason": case((no_seat, bindparam("a_reason_refused", type_=Text)),
                       else_=func.nullif(func.array_to_string(notes, "; "), "")),
        "details": details}
    audit = (insert(_AUDIT).from_select(AUDIT_COLUMNS, select(
        *(computed[name] if name in computed else bindparam(f"a_{name}", type_=_AUDIT.c[name].type)
          for name in AUDIT_COLUMNS)).select_from(used))
             .returning(_AUDIT.c.reference).cte("audit"))
    attempt_values = {name: bindparam(f"t_{name}", type_=_ATTEMPT.c[name].type) for name in ATTEMPT_COLUMNS}
    attempt_values["outcome"] = case((no_seat, literal("refused")), else_=literal("signed in"))
    attempt = (insert(_ATTEMPT).from_select(ATTEMPT_COLUMNS + ["reference"],
                                            select(*attempt_values.values(), audit.c.reference))
               .returning(_ATTEMPT.c.id).cte("attempt"))
    session_values = {name: bindparam(f"ses_{name}", type_=_SESSIONS.c[name].type) for name in SESSION_COLUMNS}
    session_values["user_id"] = user_id
    session = (insert(_SESSIONS).from_select(SESSION_COLUMNS, select(*session_values.values()).select_from(used)
                                             .where(~no_seat))
               .returning(_SESSIONS.c.id).cte("session"))
    names = func.array(select(offered.c.name).order_by(offered.c.name_key).scalar_subquery())
    statement = select(select(func.count()).select_from(used).scalar_subquery().label("written"),
                       user_id.label("user_id"), names.label("offered"), granted.label("granted")).add_cte(
        *creation.others, seats.seats, attempt, session)
    return unless_durable(statement, durable)

