"""Public SAML endpoints under /sso/<slug>/: login, ACS, single logout and SP metadata.

The ACS reads like the sign-in itself: pre-check and validate (checks), complete the sign-in (signin), sign in,
redirect. Everything else lives beside it: the browser's session in browser.py, the transaction in signin.py.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from sqlalchemy import select
from werkzeug.exceptions import TooManyRequests

from crm.audit.services import new_reference
from crm.auth.safe_urls import safe_next
from crm.auth.services import (
    LoginButton,
    SignInRealm,
    add_login_buttons,
    add_logout_step,
    add_password_sign_in_step,
    add_realm_finder,
    add_sign_in_again_step,
)
from crm.extensions import csrf, db
from crm.identity_providers import realms
from crm.identity_providers.config import ProviderConfig, last_config, provider_config
from crm.identity_providers.models import SSO_BINDING_POST, IdentityProvider
from crm.identity_providers.services import find_provider
from crm.sso import browser, flood, logout, sp_keys
from crm.sso.attempts import TEST, record_attempt
from crm.sso.checks import Inspection, validate
from crm.sso.records import ConfigChanged
from crm.sso.rejections import SamlRejected
from crm.sso.request_data import saml_request_data
from crm.sso.settings import cached_settings, post_binding_request, sp_metadata, sp_urls
from crm.sso.signin import complete_sign_in, refuse
from crm.templating import Notice, add_admin_notices, format_datetime
from crm.timeutil import utcnow

bp = Blueprint("sso", __name__, url_prefix="/sso")
REFUSED_WHAT = {"sso.sls": "a logout message", "sso.login": "a sign-in start"}  # the audit event's words
log = logging.getLogger(__name__)


@bp.record_once
def _plug_into_auth(state) -> None:
    """The login page shows a button per provider, logout ends the IdP's session too, and a session that ran out
    signs in again through its provider; what the endpoints refuse is rate-limited."""
    add_login_buttons(state.app, login_buttons)
    add_realm_finder(state.app, realm_of)
    add_password_sign_in_step(state.app, _break_glass_audit)
    add_admin_notices(state.app, _break_glass_notices)
    add_logout_step(state.app, idp_logout_url)
    add_sign_in_again_step(state.app, sign_in_again_url)
    flood.install(state.app)


def _config(slug: str) -> ProviderConfig:
    return provider_config(slug) or abort(404)


@bp.get("/<slug>/metadata")
def metadata(slug: str):
    """This SP's metadata for one provider; `?download=1` saves it as a file.

    A fetch without a console session is the IdP's own (a metadata URL it polls): it is remembered per provider, so
    that after a key rotation the SSO page can say who has the new key. An admin viewing it is not the IdP."""
    config = _config(slug)
    response = Response(sp_metadata(config), mimetype="application/samlmetadata+xml")
    if not current_user.is_authenticated:
        sp_keys.note_metadata_fetch(config.id, request.remote_addr)
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="crm-sp-{config.slug}-metadata.xml"'
    return response


@bp.get("/<slug>/login")
def login(slug: str):
    """Start SP-initiated sign-in: an AuthnRequest to the IdP (ForceAuthn when the provider asks every sign-in to
    authenticate again), its id kept in the session, `next` as RelayState."""
    config = _config(slug)
    test = request.args.get("test") == "1" and current_user.is_authenticated and current_user.is_admin
    if not config.enabled and not test:
        return _refused(config, SamlRejected("disabled", f"identity provider {slug} is disabled", 403))
    relay_state = safe_next(request.args.get("next")) or "/"
    hint = (request.args.get("login_hint") or "").strip()[:250]  # what the login page was given
    subject = hint if hint and config.hint_in_subject else None
    try:
        settings = cached_settings(config)
    except SamlRejected as rejected:  # every certificate expired: no response could be verified
        return _refused(config, rejected)
    if config.sso_binding == SSO_BINDING_POST:
        authn = OneLogin_Saml2_Authn_Request(settings, force_authn=config.force_authn, name_id_value_req=subject)
        browser.remember_request(slug, authn.get_id(), test)
        return render_template("sso/post_binding.html", action=config.sso_url, relay_state=relay_state,
                               saml_request=post_binding_request(authn, settings))
    auth = OneLogin_Saml2_Auth(saml_request_data(), settings)
    url = auth.login(return_to=relay_state, force_authn=config.force_authn, name_id_value_req=subject)
    browser.remember_request(slug, auth.get_last_request_id(), test)
    if hint:  # Entra ID and others fill the email in, so nobody types it twice
        url += "&" + urlencode({"login_hint": hint})
    return redirect(url)


@csrf.exempt
@bp.post("/<slug>/acs")
def acs(slug: str):
    """Assertion Consumer Service: check the response, complete the sign-in, sign in on a fresh session."""
    saml_response = request.form.get("SAMLResponse") or ""
    bounce, document = browser.needs_same_site_bounce(saml_response)
    if bounce:
        # The form posts to our own ACS URL as configured, never one built from the request's Host header.
        return render_template("sso/same_site_bounce.html", action=sp_urls(slug)["acs"], form=request.form)
    if browser.is_test_sign_in(slug):
        return _test_sign_in(_config(slug))
    config, request_id = last_config(slug) or abort(404), browser.pending_request_id(slug)
    try:
        config, validated, outcome = _sign_in(config, saml_response, request_id, document,
                                              browser.pending_request_sent_at(slug))
    except SamlRejected as rejected:
        return _refused(config, rejected, saml_response, request_id)
    if outcome.user_id is None:
        browser.forget_request()
        return render_template("sso/refused.html", provider_name=config.display_name, message=outcome.denial_message,
                               reference=outcome.reference), 403
    browser.sign_in(outcome.session_token, validated.identity)
    return redirect(safe_next(request.form.get("RelayState")) or url_for("auth.home"))


def _sign_in(config: ProviderConfig, saml_response: str, request_id: str | None, document: bytes | None,
             sent_at: datetime | None = None):
    """Check the response and complete the sign-in with this worker's copy of the provider's configuration; when an
    admin changed it since, both are done again with the current one (before anyone is signed in or refused)."""
    for _ in range(3):
        try:
            validated = validate(_inspection(config, saml_response, request_id, document, sent_at))
            return config, validated, complete_sign_in(config, validated, saml_response, request_id)
        except (SamlRejected, ConfigChanged):
            current = provider_config(config.slug) or abort(404)
            if current.version == config.version:
                raise
            config = current
    raise SamlRejected("invalid", "the provider's configuration kept changing during the sign-in")


def _inspection(config: ProviderConfig, saml_response: str, request_id: str | None,
                document: bytes | None = None, sent_at: datetime | None = None) -> Inspection:
    """The response checked against this provider, at this moment, for this browser's request (sent at
    `sent_at`)."""
    if not config.enabled:
        raise SamlRejected("disabled", f"identity provider {config.slug} is disabled", status=403)
    urls = sp_urls(config.slug)
    return Inspection(config, saml_response, urls["acs"], urls["entity_id"], request_id, utcnow(), xml=document,
                      request_sent_at=sent_at)


def _test_sign_in(config: ProviderConfig):
    """Test Sign In: the response is kept as an attempt and the designer shows its report; nothing is provisioned,
    and the admin stays signed in as themselves."""
    request_id = browser.pending_request_id(config.slug)
    browser.forget_request()
    saml_response = request.form.get("SAMLResponse")
    attempt_id = record_attempt(db.session.connection(), config.id, saml_response, TEST, request_id=request_id)
    if attempt_id is not None and _passes(config, saml_response, request_id):
        realms.passed_test_sign_in(db.session.get(IdentityProvider, config.id))  # the lock-out guard counts it
    db.session.commit()
    if attempt_id is None:
        flash("Test Sign In: the identity provider posted no SAMLResponse, or one over 64 KB, which is not kept for "
              "a report.", "error")
        return redirect(url_for("designer.sso_config.provider", slug=config.slug) + "#troubleshooting")
    return redirect(url_for("designer.sso_config.attempt", slug=config.slug, attempt_id=attempt_id))


def _passes(config: ProviderConfig, saml_response: str, request_id: str | None) -> bool:
    """Whether a Test Sign In's response passes every check a sign-in makes (nothing is provisioned)."""
    try:
        validate(_inspection(config, saml_response, request_id))
    except SamlRejected:
        return False
    return True


def _printable(text: str) -> str:
    """Control characters shown escaped, so an attacker's value cannot forge log lines."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", lambda m: f"\\x{ord(m.group()):02x}", text)


def _refused(config: ProviderConfig, rejected: SamlRejected, saml_response: str | None = None,
             request_id: str | None = None):
    """The refusal page (never a stack trace), with a reference the admin finds in the audit trail (a refused
    SAMLResponse is kept among the recent attempts), or in the log for a message that never parsed; a 429 that
    writes nothing once this client's refusals by this provider are over the limit."""
    browser.forget_request()
    if (wait := flood.held_back(config.slug)) is not None:
        raise TooManyRequests("Too many refused sign-in or logout messages came from your address. Wait a moment, "
                              "then start again from the login page.", retry_after=wait)
    rejected = SamlRejected(rejected.code, _printable(rejected.reason), rejected.status, unread=rejected.unread)
    if rejected.unread:
        reference = new_reference()
        log.warning("SSO message to %s refused unread, %s from %s: %s (%s)", config.slug, reference,
                    request.remote_addr, rejected.code, rejected.reason[:500])
    else:
        log.warning("SSO sign-in through %s refused: %s (%s)", config.slug, rejected.code, rejected.reason)
        reference = refuse(config, rejected, saml_response, request_id, request.remote_addr,
                           REFUSED_WHAT.get(request.endpoint, "a sign-in response"))
    return render_template("sso/refused.html", provider_name=config.display_name, message=rejected.message,
                           reference=reference), rejected.status


@csrf.exempt
@bp.get("/<slug>/sls")
def sls(slug: str):
    """Single logout: the IdP's LogoutRequest ending our session, or its LogoutResponse after we asked."""
    config = _config(slug)
    if not config.enabled:
        return _refused(config, SamlRejected("disabled", f"identity provider {slug} is disabled", 403))
    try:
        url = logout.answer(config)
    except SamlRejected as rejected:
        return _refused(config, rejected)
    except Exception as error:  # a library helper choking on a hostile message: refuse, never a 500
        return _refused(config, SamlRejected("malformed", f"single logout: {type(error).__name__}: {error}"))
    return redirect(url or url_for("auth.login"))


def login_buttons() -> list[LoginButton]:
    """"Login via SSO" for each enabled provider with "Display login via SSO" on."""
    stmt = (select(IdentityProvider.slug, IdentityProvider.display_name)
            .where(IdentityProvider.enabled.is_(True), IdentityProvider.show_on_login.is_(True))
            .order_by(IdentityProvider.display_name))
    return [LoginButton(f"Login via SSO ({display_name})", "sso.login", {"slug": slug})
            for slug, display_name in db.session.execute(stmt)]


def realm_of(identifier: str | None, user, slug: str | None) -> SignInRealm:
    """Home realm discovery for the login page: the providers that own the identifier (or the one with this slug),
    and the one that requires single sign-on of it."""
    if slug is not None:
        provider = find_provider(slug)
        found = (provider,) if provider is not None and provider.enabled else ()
        return SignInRealm(tuple(_button(p) for p in found))
    realm = realms.realm_of(identifier, user)
    return SignInRealm(tuple(_button(p) for p in realm.providers),
                       realm.enforced_by.display_name if realm.enforced_by is not None else None)


def _button(provider: IdentityProvider) -> LoginButton:
    return LoginButton(f"Login via SSO ({provider.display_name})", "sso.login", {"slug": provider.slug})


def _break_glass_audit(user) -> None:
    if user.break_glass:
        realms.record_break_glass_sign_in(user, request.remote_addr)


def _break_glass_notices() -> list[Notice]:
    """Every break-glass sign-in of the last week, in front of every administrator."""
    return [Notice(f"Break-glass administrator {e.actor_name} signed in with a password on "
                   f"{format_datetime(e.occurred_at)}.", url_for("audit.detail", event_id=e.id), "See the event")
            for e in realms.recent_break_glass_sign_ins()]


def idp_logout_url() -> str | None:
    """When the user came through SSO and the IdP has a logout URL: the LogoutRequest redirect that ends both."""
    info = browser.sso_session()
    config = provider_config(info["slug"]) if info else None
    if not (config and config.slo_url):
        return None
    try:
        settings = cached_settings(config)
    except SamlRejected:  # every certificate expired: the CRM's own session still ends
        return None
    auth = OneLogin_Saml2_Auth(saml_request_data(url_for("sso.sls", slug=config.slug)), settings)
    return auth.logout(return_to=url_for("auth.login", _external=False), name_id=info["name_id"],
                       session_index=info["session_index"], name_id_format=info["name_id_format"])


def sign_in_again_url(method: str | None, next_path: str) -> str | None:
    """A session that signed in through a provider ("sso:<slug>") and ran out goes back through that provider's
    sign-in, `next` kept (with the IdP's session still alive the browser comes straight back). When its row is gone,
    the browser's own cookie says which provider it came through. None for a provider that is gone or disabled:
    the login page then."""
    slug = method.removeprefix("sso:") if method and method.startswith("sso:") else \
        (None if method else browser.provider_signed_in_through())
    config = provider_config(slug) if slug else None
    if config is None or not config.enabled:
        return None
    return url_for("sso.login", slug=config.slug, next=next_path)
