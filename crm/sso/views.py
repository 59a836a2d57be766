"""Public SAML endpoints under /sso/<slug>/: login, ACS, single logout and SP metadata.

The ACS view stays short: pre-check and validate (responses.py), provision (crm.provisioning), sign in.
"""
from __future__ import annotations

import logging
import re
import time

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import DataError

from crm.audit import services as audit
from crm.audit.models import PROVISIONING
from crm.auth.safe_urls import safe_next
from crm.auth.services import LoginButton, add_login_buttons, add_logout_step, start_session
from crm.extensions import csrf, db
from crm.identity_providers.models import SSO_BINDING_POST, IdentityProvider
from crm.identity_providers.services import find_provider
from crm.provisioning.apply import Outcome, provision
from crm.search_keys import fold
from crm.sso.attempts import TEST, record_attempt
from crm.sso.rejections import SamlRejected
from crm.sso.request_data import saml_request_data
from crm.sso.responses import remember_assertion, validate_response
from crm.sso.settings import cached_settings, sp_metadata

bp = Blueprint("sso", __name__, url_prefix="/sso")
log = logging.getLogger(__name__)
PENDING = "saml_pending"  # {"slug", "id", "at"} of the AuthnRequest this browser sent
SSO_SESSION = "saml_session"  # {"slug", "name_id", "name_id_format", "session_index"} after an SSO sign-in
PENDING_TTL = 15 * 60


@bp.record_once
def _plug_into_auth(state) -> None:
    """The login page shows a button per provider, and logout ends the IdP's session too."""
    add_login_buttons(state.app, login_buttons)
    add_logout_step(state.app, idp_logout_url)


def login_buttons() -> list[LoginButton]:
    """"Login via SSO" for each enabled provider with "Display login via SSO" on."""
    stmt = (select(IdentityProvider).where(IdentityProvider.enabled.is_(True), IdentityProvider.show_on_login.is_(True))
            .order_by(IdentityProvider.display_name))
    return [LoginButton(f"Login via SSO ({p.display_name})", "sso.login", {"slug": p.slug})
            for p in db.session.scalars(stmt)]


def _provider(slug: str) -> IdentityProvider:
    return find_provider(slug) or abort(404)


@bp.get("/<slug>/metadata")
def metadata(slug: str):
    """This SP's metadata for one provider; `?download=1` saves it as a file."""
    provider = _provider(slug)
    response = Response(sp_metadata(provider), mimetype="application/samlmetadata+xml")
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="crm-sp-{provider.slug}-metadata.xml"'
    return response


@bp.get("/<slug>/login")
def login(slug: str):
    """Start SP-initiated sign-in: an AuthnRequest to the IdP, its id kept in the session, `next` as RelayState."""
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request

    provider = _provider(slug)
    test = request.args.get("test") == "1" and current_user.is_authenticated and current_user.is_admin
    if not provider.enabled and not test:
        return _refused(provider, SamlRejected("disabled", f"identity provider {slug} is disabled", 403))
    relay_state = safe_next(request.args.get("next")) or "/"
    settings = cached_settings(provider)
    if provider.sso_binding == SSO_BINDING_POST:
        authn = OneLogin_Saml2_Authn_Request(settings)
        session[PENDING] = {"slug": slug, "id": authn.get_id(), "at": int(time.time()), "test": test}
        return render_template("sso/post_binding.html", action=provider.sso_url, relay_state=relay_state,
                               saml_request=authn.get_request(deflate=False))
    auth = OneLogin_Saml2_Auth(saml_request_data(), settings)
    url = auth.login(return_to=relay_state)
    session[PENDING] = {"slug": slug, "id": auth.get_last_request_id(), "at": int(time.time()), "test": test}
    return redirect(url)


def _pending_request_id(slug: str) -> str | None:
    pending = session.get(PENDING) or {}
    if pending.get("slug") != slug or time.time() - pending.get("at", 0) > PENDING_TTL:
        return None
    return pending.get("id")


@csrf.exempt
@bp.post("/<slug>/acs")
def acs(slug: str):
    """Assertion Consumer Service: validate, provision, sign in on a fresh session, redirect."""
    provider = _provider(slug)
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies and not request.form.get("_same_site"):
        # The IdP's POST is cross-site, so a SameSite=Lax session cookie does not come with it: post the same
        # form again from our own page, which brings the cookie holding this browser's AuthnRequest id.
        return render_template("sso/same_site_bounce.html", action=request.url, form=request.form)
    if _test_sign_in(slug):
        return _test_report(provider)
    saml_response = request.form.get("SAMLResponse") or ""
    try:
        validated = validate_response(provider, saml_response, saml_request_data(),
                                      _pending_request_id(slug))
    except SamlRejected as rejected:
        session.pop(PENDING, None)
        return _refused(provider, rejected, saml_response)
    identity = validated.identity

    def keep(outcome: Outcome) -> None:  # in the provisioning's transaction: all of it lands, or none
        record_attempt(provider.id, saml_response, "signed in" if outcome.user_id else "refused",
                       name_id=identity.name_id, reference=outcome.reference)

    try:
        outcome = provision(identity, provider, first=lambda: remember_assertion(provider.id, validated), then=keep)
    except SamlRejected as rejected:  # a replay, seen when its assertion id is recorded
        session.pop(PENDING, None)
        return _refused(provider, rejected, saml_response)
    except DataError as error:  # a value the database cannot hold: refuse, nothing was written
        return _refused(provider, SamlRejected("limits", f"database refused a value: {error.orig}"), saml_response)
    if outcome.user_id is None:
        session.pop(PENDING, None)
        return render_template("sso/refused.html", provider_name=provider.display_name, message=outcome.denial_message,
                               reference=outcome.reference), 403
    start_session(outcome.user, stamp_login=False, **{SSO_SESSION: {
        "slug": slug, "name_id": identity.name_id, "name_id_format": identity.name_id_format,
        "session_index": identity.session_index}})
    return redirect(safe_next(request.form.get("RelayState")) or url_for("auth.home"))


def _printable(text: str) -> str:
    """Control characters shown escaped, so an attacker's value cannot forge log lines."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", lambda m: f"\\x{ord(m.group()):02x}", text)


def _test_sign_in(slug: str) -> bool:
    """True when this browser's pending request is an admin's Test Sign In for this provider."""
    pending = session.get(PENDING) or {}
    return bool(pending.get("test") and _pending_request_id(slug) and current_user.is_authenticated
                and current_user.is_admin)


def _test_report(provider: IdentityProvider):
    """Test Sign In: the response is kept as an attempt and the designer shows its report; nothing is provisioned,
    and the admin stays signed in as themselves."""
    request_id = session.pop(PENDING)["id"]
    attempt_id = record_attempt(provider.id, request.form.get("SAMLResponse"), TEST, request_id=request_id)
    db.session.commit()
    if attempt_id is None:
        flash("Test Sign In: the identity provider posted no SAMLResponse, or one too large to read.", "error")
        return redirect(url_for("designer.sso_config.provider", slug=provider.slug) + "#troubleshooting")
    return redirect(url_for("designer.sso_config.attempt", slug=provider.slug, attempt_id=attempt_id))


def _refused(provider: IdentityProvider, rejected: SamlRejected, saml_response: str | None = None):
    """The refusal page (never a stack trace), with a reference the admin finds in the audit trail; a refused
    SAMLResponse is kept among the recent attempts."""
    reason = _printable(rejected.reason)
    slug, provider_id, name = provider.slug, provider.id, provider.display_name  # before the rollback expires them
    log.warning("SSO sign-in through %s refused: %s (%s)", slug, rejected.code, reason)
    db.session.rollback()
    event = audit.record("sso.rejected", f"Refused a sign-in response from {slug}", category=PROVISIONING,
                         actor=(None, "sso"), idp_slug=slug, outcome="rejected",
                         reason=f"{rejected.code}: {reason}"[:4000],
                         details={"remote_addr": request.remote_addr})
    if saml_response is not None:
        record_attempt(provider_id, saml_response, "rejected", reference=event.reference)
    db.session.commit()
    return render_template("sso/refused.html", provider_name=name, message=rejected.message,
                           reference=event.reference), rejected.status


@csrf.exempt
@bp.get("/<slug>/sls")
def sls(slug: str):
    """Single logout: the IdP's LogoutResponse after we asked, or its LogoutRequest ending our session."""
    from onelogin.saml2.auth import OneLogin_Saml2_Auth

    provider = _provider(slug)
    if not provider.enabled:
        return _refused(provider, SamlRejected("disabled", f"identity provider {slug} is disabled", 403))
    auth = OneLogin_Saml2_Auth(saml_request_data(), cached_settings(provider))
    try:
        ours = _logout_request_is_for_this_session(slug)
        url = auth.process_slo(delete_session_cb=lambda: _end_session() if ours else None)
    except Exception as error:  # a malformed message: refuse, never a 500
        return _refused(provider, SamlRejected("malformed", f"single logout: {type(error).__name__}: {error}"))
    if auth.get_errors():
        return _refused(provider, SamlRejected("invalid", f"single logout: {auth.get_last_error_reason()}"))
    return redirect(url or url_for("auth.login"))


def _logout_request_is_for_this_session(slug: str) -> bool:
    """An IdP's LogoutRequest ends our session only when it names the NameID this session signed in with
    (logout messages are often unsigned: a forged link must not sign people out)."""
    from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    encoded = request.values.get("SAMLRequest")
    info = session.get(SSO_SESSION) or {}
    if not encoded or info.get("slug") != slug:
        return False
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(encoded)
    if fold(OneLogin_Saml2_Logout_Request.get_nameid(xml)) != fold(info.get("name_id")):
        return False
    ours = info.get("session_index")
    return not ours or ours in OneLogin_Saml2_Logout_Request.get_session_indexes(xml)


def _end_session() -> None:
    from flask_login import logout_user

    logout_user()
    session.clear()


def idp_logout_url() -> str | None:
    """When the user came through SSO and the IdP has a logout URL: the LogoutRequest redirect that ends both."""
    from onelogin.saml2.auth import OneLogin_Saml2_Auth

    info = session.get(SSO_SESSION)
    provider = find_provider(info["slug"]) if info else None
    if not (current_user.is_authenticated and provider and provider.slo_url):
        return None
    auth = OneLogin_Saml2_Auth(saml_request_data(url_for("sso.sls", slug=provider.slug)), cached_settings(provider))
    url = auth.logout(return_to=url_for("auth.login", _external=False), name_id=info["name_id"],
                      session_index=info["session_index"], name_id_format=info["name_id_format"])
    return url
