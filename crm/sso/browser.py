"""What the sign-in keeps in the browser's session: the AuthnRequest it started (bound to this browser), the SSO
session after sign-in (for single logout), and the decisions that read them."""
from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import current_app, request, session
from flask_login import current_user, logout_user

from crm.auth import sessions
from crm.auth.services import session_token, start_session
from crm.extensions import db
from crm.provisioning.identity import SamlIdentity
from crm.sso import prechecks
from crm.sso.rejections import SamlRejected

PENDING = "saml_pending"  # {"slug", "id", "at", "test"} of the AuthnRequest this browser sent
SSO_SESSION = "saml_session"  # {"slug", "name_id", "name_id_format", "session_index"} after an SSO sign-in
PENDING_TTL = 15 * 60


def remember_request(slug: str, request_id: str, test: bool) -> None:
    """Keep the id of the AuthnRequest this browser is sent with (InResponseTo must answer it)."""
    session[PENDING] = {"slug": slug, "id": request_id, "at": int(time.time()), "test": test}


def pending_request_id(slug: str) -> str | None:
    """The id of this browser's AuthnRequest to this provider, if one was started in the last 15 minutes."""
    pending = session.get(PENDING) or {}
    if pending.get("slug") != slug or time.time() - pending.get("at", 0) > PENDING_TTL:
        return None
    return pending.get("id")


def pending_request_sent_at(slug: str) -> datetime | None:
    """When this browser's pending AuthnRequest to this provider was sent (naive UTC), if one is pending."""
    if pending_request_id(slug) is None:
        return None
    return datetime.fromtimestamp(session[PENDING]["at"], UTC).replace(tzinfo=None)


def forget_request() -> None:
    """The pending request was answered (or refused): it cannot be answered again."""
    session.pop(PENDING, None)


def is_test_sign_in(slug: str) -> bool:
    """True when this browser's pending request is an administrator's Test Sign In for this provider."""
    pending = session.get(PENDING) or {}
    return bool(pending.get("test") and pending_request_id(slug) and current_user.is_authenticated
                and current_user.is_admin)


def needs_same_site_bounce(saml_response: str) -> tuple[bool, bytes | None]:
    """Whether to post the IdP's form again from our own page, and the decoded response when it was decoded to
    decide (the checks then read it instead of decoding it again).

    The IdP's POST is cross-site, so a SameSite=Lax session cookie does not come with it. Only a response that
    answers a request needs the cookie (it holds this browser's AuthnRequest id): a response with no InResponseTo
    anywhere is IdP-initiated, and the sign-in goes on at once (the new session's cookie may be set on this
    answer). A response that cannot be decoded is refused at once too: the re-post would not change that.
    """
    if current_app.config["SESSION_COOKIE_NAME"] in request.cookies or request.form.get("_same_site"):
        return False, None
    try:
        document = prechecks.decode_base64(saml_response)
    except SamlRejected:
        return False, None
    return b"InResponseTo=" in document, document


def sign_in(token: str, identity: SamlIdentity) -> None:
    """Put the sign-in's session (its row written with the sign-in) into a fresh cookie session, remembering the SSO
    session for single logout."""
    start_session(token, **{SSO_SESSION: {"slug": identity.idp_slug, "name_id": identity.name_id,
                                            "name_id_format": identity.name_id_format,
                                            "session_index": identity.session_index}})


def sso_session() -> dict | None:
    """How the signed-in user came through SSO (provider slug, NameID, session index), or None."""
    return session.get(SSO_SESSION) if current_user.is_authenticated else None


def provider_signed_in_through() -> str | None:
    """The slug of the provider this browser's last sign-in came through (kept in its cookie session even after the
    session's row is gone), or None."""
    return (session.get(SSO_SESSION) or {}).get("slug")


def sso_session_of(slug: str) -> dict | None:
    """This browser's SSO session when it came through this provider (the NameID and session index it signed in
    with), or None."""
    info = session.get(SSO_SESSION) or {}
    return info if info.get("slug") == slug else None


def end_session() -> None:
    """Sign out here (the session row too) and forget the whole session."""
    sessions.end_session(session_token())
    db.session.commit()
    logout_user()
    session.clear()
