"""The one owner of an SSO sign-in's transaction.

A validated response becomes one transaction: who the person is (the resolver), the plan, applying it, then one
closing write of the replay record, the audit event and the attempt (records.py), and the commit. Nothing else on
the sign-in path commits or rolls back. When a concurrent first login of the same person wins a unique key, the
whole sign-in is tried again (it then finds the user); when the database connection drops, it is tried again on a
fresh connection.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Connection, delete
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from crm.audit.models import PROVISIONING, REJECTED
from crm.audit.services import event_row, fold_event, fold_key, prune_events
from crm.auth import sessions
from crm.auth.sessions import new_session_row, sso_method
from crm.extensions import db
from crm.identity_providers.config import ProviderConfig
from crm.provisioning.apply import (
    GRANTED_BY,
    AppliedPlan,
    Lookups,
    apply_plan,
    creation_params,
    new_contact_row,
    writes_anything,
)
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.plan import CREATE, DENY, Plan, denied, deny
from crm.provisioning.planner import identify, plan_sign_in
from crm.provisioning.resolver import Resolution, resolve_sign_in
from crm.sso import attempts
from crm.sso.attempts import attempt_row, record_attempt
from crm.sso.checks import MAX_CLOCK_SKEW, ValidatedResponse
from crm.sso.first_login import FirstLoginRows, write_first_login
from crm.sso.models import UsedAssertion
from crm.sso.records import ConfigChanged, Replayed, config_guard, write_sign_in_records
from crm.sso.rejections import SamlRejected
from crm.timeutil import utcnow
from crm.users.statistics import binding_created

log = logging.getLogger(__name__)
ACTOR = (None, "sso")
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
TRIES = 3  # a first login can collide twice (on a new account's name, then on the username)
PURGE_EVERY = 100  # expired replay records are deleted on about one sign-in in a hundred
PRUNE_REFUSALS_EVERY = 20  # about one new refusal event in twenty prunes those past their retention
REFUSAL_RETENTION_DAYS = 90  # CRM_AUDIT_REFUSAL_RETENTION_DAYS
_USED = UsedAssertion.__table__
VERBS = {"created": "Created", "updated": "Updated", "unchanged": "Signed in", "denied": "Refused"}


@dataclass(frozen=True)
class SignInOutcome:
    """What a sign-in came to: the user to sign in (None when refused), the event's outcome and reference."""

    user_id: int | None
    outcome: str  # created, updated, unchanged, denied
    reference: str
    session_token: str | None = None  # the new session's, for the cookie
    denial_message: str | None = None
    denial_code: str | None = None


def complete_sign_in(config: ProviderConfig, validated: ValidatedResponse, saml_response: str,
                     request_id: str | None) -> SignInOutcome:
    """Run the sign-in as one transaction and commit it; SamlRejected for a replay or a value the database
    cannot hold (nothing is written then but the refusal)."""
    dropped = False
    for attempt in range(1, TRIES + 1):
        try:
            outcome = _sign_in_once(_connection(), config, validated, saml_response, request_id)
            db.session.commit()
            _afterwards(config, outcome)
            return outcome
        except Replayed:
            db.session.rollback()
            raise SamlRejected("replay", f"assertion {validated.identity.assertion_id} was already used") from None
        except ConfigChanged:
            db.session.rollback()
            raise
        except IntegrityError:  # a concurrent first login of the same person got there first: it is known now
            db.session.rollback()
            if attempt == TRIES:
                raise
        except DataError as error:
            db.session.rollback()
            raise SamlRejected("limits", f"database refused a value: {error.orig}") from None
        except DBAPIError as error:
            db.session.rollback()
            if _must_run_again(error) and attempt < TRIES:  # the database chose this sign-in to give way
                continue
            if not error.connection_invalidated or dropped:
                raise
            dropped = True  # once: the pool gives a fresh connection
            log.warning("sign-in through %s met a dropped database connection; trying again", config.slug)
    raise AssertionError("unreachable")


def _must_run_again(error: DBAPIError) -> bool:
    """A deadlock or serialization failure: PostgreSQL rolled this transaction back so that another could go on;
    running it again is the documented answer (SQLSTATE class 40)."""
    return str(getattr(error.orig, "sqlstate", "") or "").startswith("40")


def _connection() -> Connection:
    """The session's connection for the sign-in. On PostgreSQL, when the request has not used the database yet, one
    in autocommit mode: a returning user whose sign-in changes nothing then costs two statements, the lookup and the
    closing records (one statement, whole on its own), with no BEGIN and COMMIT round trips; anything that writes
    more opens a transaction first (_begin_writing)."""
    if db.session.get_bind().dialect.name == "postgresql" and not db.session().in_transaction():
        return db.session.connection(execution_options=_AUTOCOMMIT)
    return db.session.connection()


def _begin_writing(conn: Connection) -> None:
    """From here on the sign-in writes more than one statement: one transaction (committed or rolled back by
    complete_sign_in like any other)."""
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        conn.exec_driver_sql("BEGIN")


def _sign_in_once(conn: Connection, config: ProviderConfig, validated: ValidatedResponse, saml_response: str,
                  request_id: str | None) -> SignInOutcome:
    policy, now = config.policy, utcnow()
    identity, unidentified = identify(validated.identity, policy)
    resolution = Resolution(refusal=unidentified) if unidentified else resolve_sign_in(
        conn, identity, policy)
    lookups = Lookups(conn, resolution.lookups)
    plan = (denied(identity.name_id, resolution.refusal) if resolution.refusal else
            plan_sign_in(identity, policy, resolution.state, lookups.exists))
    if plan.action == CREATE and plan.grant_licenses and conn.dialect.name == "postgresql":
        return _first_login(conn, config, validated, identity, plan, lookups, saml_response, request_id, now)
    if plan.action != DENY and writes_anything(plan, identity, policy, resolution):
        _begin_writing(conn)
    applied = None if plan.action == DENY else apply_plan(conn, plan, identity, policy, resolution, lookups, now)
    outcome = _outcome(plan, applied)
    if outcome == "denied" and applied is not None:  # signed up, but no package had a free seat
        plan = _no_seat(plan, applied.user_id)
    who = resolution.state.username if resolution.state else identity.name_id
    audit = _audit_row(config, identity, plan, applied, outcome, who)
    signed_in = outcome != "denied"
    attempt = attempt_row(config.id, saml_response, "signed in" if signed_in else "refused",
                          name_id=identity.name_id, reference=audit["reference"], request_id=request_id)
    used = _used_row(config, validated, identity, now)
    returning_user = applied.user_id if signed_in and plan.action != CREATE else None
    token, session = (new_session_row(applied.user_id, sso_method(config.slug), now,
                                      session_ends(config, validated, now)) if signed_in else (None, None))
    write_sign_in_records(conn, config, used, audit, attempt, returning_user, session, durable=_durable(plan))
    if signed_in:
        return SignInOutcome(applied.user_id, outcome, audit["reference"], token)
    return SignInOutcome(None, "denied", audit["reference"], None, plan.denial.message, plan.denial.code)


def _first_login(conn: Connection, config: ProviderConfig, validated: ValidatedResponse, identity: SamlIdentity,
                 plan: Plan, lookups: Lookups, saml_response: str, request_id: str | None,
                 now: datetime) -> SignInOutcome:
    """PostgreSQL: a new user, seats and closing records as one statement (first_login.py says why)."""
    policy, notes = config.policy, []
    # An account the mapping names and that does not exist yet is created first: one transaction for both then.
    contact = new_contact_row(conn, plan, lookups, notes, now, before_writing=lambda: _begin_writing(conn))
    creation = creation_params(plan, identity, policy, contact, now)
    applied = AppliedPlan(None, notes=notes)
    audit = _audit_row(config, identity, plan, applied, "created", identity.name_id)
    refused = {"summary": _summary("denied", identity, config), "reason": NO_SEAT.reason}
    attempt = attempt_row(config.id, saml_response, "signed in", name_id=identity.name_id,
                          reference=audit["reference"], request_id=request_id)
    token, session = new_session_row(None, sso_method(config.slug), now, session_ends(config, validated, now))
    seats = {"s_package_ids": sorted(policy.package_ids or []), "s_granted_by": GRANTED_BY, "s_now": now}
    written = write_first_login(conn, FirstLoginRows(
        creation, seats, policy.all_licenses, _used_row(config, validated, identity, now), config_guard(config),
        audit, refused, attempt, session), durable=_durable(plan))
    if written.no_seat:
        return SignInOutcome(None, "denied", audit["reference"], None, NO_SEAT.message, NO_SEAT.code)
    return SignInOutcome(written.user_id, "created", audit["reference"], token)


NO_SEAT = deny("no_seat", "no license package had a free seat")


def _durable(plan: Plan) -> bool:
    """Whether the sign-in's commit waits for the disk (records.py says what not waiting trades): when the operator
    asks for it, and always when a role the IdP took away must not come back with a crash."""
    return bool(current_app.config.get("SIGN_IN_DURABLE_COMMIT")) or bool(plan.roles_remove)


def _no_seat(plan: Plan, user_id: int | None) -> Plan:
    """The plan of a user signed up by it, refused because no offered package had a free seat."""
    return replace(plan, user_id=user_id, denial=NO_SEAT)


def _summary(outcome: str, identity: SamlIdentity, config: ProviderConfig) -> str:
    """The sign-in's audit event's summary."""
    return f"{VERBS[outcome]} {identity.name_id} through {config.slug}"


def _used_row(config: ProviderConfig, validated: ValidatedResponse, identity: SamlIdentity, now: datetime) -> dict:
    """The replay record: kept until the assertion's NotOnOrAfter plus the greatest clock skew."""
    return {"assertion_id": identity.assertion_id, "provider_id": config.id, "used_at": now,
            "expires_at": max(validated.not_on_or_after, now) + MAX_CLOCK_SKEW}


def session_ends(config: ProviderConfig, validated: ValidatedResponse, now: datetime) -> datetime | None:
    """When a session signed in through this provider must end at the latest, on top of the console's own limits:
    the provider's session lifetime, or the assertion's SessionNotOnOrAfter when that is sooner."""
    limits = [t for t in (config.session_max and now + config.session_max, validated.session_ends) if t]
    return min(limits) if limits else None


def _afterwards(config: ProviderConfig, outcome: SignInOutcome) -> None:
    """Housekeeping once the sign-in is committed, in a transaction of its own, which can never fail the sign-in: on
    PostgreSQL the sign-in's statements commit as they run, and trying a sign-in again after its records were written
    would refuse it as a replay. Old attempts go at about one sign-in in fifty, ended sessions one in fifty, replay
    records of expired assertions one in a hundred (an assertion past its NotOnOrAfter plus the skew is refused by the
    validity checks anyway); a connection is taken only when one of them is due."""
    due = [attempts.prune_due(), sessions.prune_due(), secrets.randbelow(PURGE_EVERY) == 0]
    try:
        if any(due):
            conn, now = _connection(), utcnow()
            if due[0]:
                attempts.prune_attempts(conn, config.id)
            if due[1]:
                sessions.prune(conn, now)
            if due[2]:
                conn.execute(delete(_USED).where(_USED.c.provider_id == config.id,
                                                 _USED.c.expires_at < now - MAX_CLOCK_SKEW))
            db.session.commit()
        if outcome.outcome == "created":
            binding_created()
    except Exception:  # a dropped connection, a lock timeout: the next sign-ins tidy up
        log.warning("housekeeping after a sign-in through %s failed", config.slug, exc_info=True)
        try:
            db.session.rollback()
        except Exception:  # the connection is gone: the request's teardown lets it go
            pass


def _outcome(plan: Plan, applied: AppliedPlan | None) -> str:
    if applied is None or applied.no_seat:
        return "denied"
    if plan.action == CREATE:
        return "created"
    if (plan.link or plan.field_changes or plan.roles_add or plan.roles_remove or applied.licenses_granted
            or plan.reactivate):
        return "updated"
    return "unchanged"


def _audit_row(config: ProviderConfig, identity: SamlIdentity, plan: Plan, applied: AppliedPlan | None,
               outcome: str, who: str) -> dict:
    """The sign-in's audit event: what the IdP sent, every field changed, licenses and roles."""
    notes = list(plan.notes) + (applied.notes if applied else [])
    granted = applied.licenses_granted if applied else []
    user_id = applied.user_id if applied else plan.user_id
    return event_row(
        "sso.sign_in", _summary(outcome, identity, config), category=PROVISIONING,
        actor=ACTOR, target_type="User", target_id=user_id, target_label=who.strip()[:250],
        changes={k: {"before": v["before"], "after": v["after"]} for k, v in plan.field_changes.items()}
        | ({"active": {"before": False, "after": True}} if plan.reactivate and applied else {}),
        details={"attributes": {name: list(values) for name, values in identity.attributes.items()},
                 "name_id_format": identity.name_id_format, "assertion_id": identity.assertion_id,
                 "roles_added": sorted(plan.roles_add.values()), "roles_removed": sorted(plan.roles_remove.values()),
                 "licenses_granted": granted, "notes": notes}  # (first_login.py writes the last two itself)
        | ({"reactivated": True} if plan.reactivate and applied else {})
        | ({"cause": plan.denial.code} if plan.denial else {}),  # what the SSO page's top refusal causes count
        idp_slug=config.slug, name_id=identity.name_id[:250], outcome=outcome,
        reason=plan.denial.reason if plan.denial else "; ".join(notes) or None)


def refuse(config: ProviderConfig, rejected: SamlRejected, saml_response: str | None, request_id: str | None,
           remote_addr: str | None, what: str = "a sign-in response") -> str:
    """Record a refused message in a transaction of its own and return its reference: a new audit event and attempt
    the first time this client meets this refusal at this provider in a minute, else one more on that event's count
    (nothing else is kept of a repeat). Now and then a new event prunes refusals past their retention."""
    db.session.rollback()
    conn, now = db.session.connection(), utcnow()
    row = event_row(REJECTED, f"Refused {what} from {config.slug}"[:500], category=PROVISIONING, actor=ACTOR,
                    idp_slug=config.slug, outcome="rejected", reason=f"{rejected.code}: {rejected.reason}"[:4000],
                    details={"remote_addr": remote_addr, "cause": rejected.code})
    reference, new = fold_event(conn, row, fold_key(f"{REJECTED} {what}", remote_addr, config.slug, rejected.code, now))
    if new:
        if saml_response is not None:
            record_attempt(conn, config.id, saml_response, "rejected", reference=reference, request_id=request_id)
        if secrets.randbelow(PRUNE_REFUSALS_EVERY) == 0:
            days = current_app.config.get("AUDIT_REFUSAL_RETENTION_DAYS") or REFUSAL_RETENTION_DAYS
            prune_events(conn, timedelta(days=int(days)), outcome="rejected", action=REJECTED)
    db.session.commit()
    return reference
