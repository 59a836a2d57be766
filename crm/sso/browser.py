"""What the sign-in keeps in the browser's session: the AuthnRequest it started (bound to this browser), the SSO
session after sign-in (for single logout), and the decisions that read them."""
from __future__ import annotations

import time

from flask import current_app, request, session
from flask_login import current_user, logout_user
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from crm.auth.services import start_session
from crm.provisioning.identity import SamlIdentity
from crm.search_keys import fold

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


def forget_request() -> None:
    """The pending request was answered (or refused): it cannot be answered again."""
    session.pop(PENDING, None)


def is_test_sign_in(slug: str) -> bool:
    """True when this browser's pending request is an administrator's Test Sign In for this provider."""
    pending = session.get(PENDING) or {}
    return bool(pending.get("test") and pending_request_id(slug) and current_user.is_authenticated
                and current_user.is_admin)


def needs_same_site_bounce() -> bool:
    """The IdP's POST is cross-site, so a SameSite=Lax session cookie does not come with it: the ACS posts the
    same form again from its own page, which brings the cookie holding this browser's AuthnRequest id."""
    return current_app.config["SESSION_COOKIE_NAME"] not in request.cookies and not request.form.get("_same_site")


def sign_in(user_id: int, identity: SamlIdentity) -> None:
    """Sign the user in on a fresh session, remembering the SSO session for single logout."""
    start_session(user_id, **{SSO_SESSION: {"slug": identity.idp_slug, "name_id": identity.name_id,
                                            "name_id_format": identity.name_id_format,
                                            "session_index": identity.session_index}})


def sso_session() -> dict | None:
    """How the signed-in user came through SSO (provider slug, NameID, session index), or None."""
    return session.get(SSO_SESSION) if current_user.is_authenticated else None


def logout_request_is_for_this_session(slug: str) -> bool:
    """An IdP's LogoutRequest ends our session only when it names the NameID this session signed in with
    (logout messages are often unsigned: a forged link must not sign people out)."""
    encoded = request.values.get("SAMLRequest")
    info = session.get(SSO_SESSION) or {}
    if not encoded or info.get("slug") != slug:
        return False
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(encoded)
    if fold(OneLogin_Saml2_Logout_Request.get_nameid(xml)) != fold(info.get("name_id")):
        return False
    ours = info.get("session_index")
    return not ours or ours in OneLogin_Saml2_Logout_Request.get_session_indexes(xml)


def end_session() -> None:
    """Sign out here and forget the whole session."""
    logout_user()
    session.clear()
