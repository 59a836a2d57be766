"""Metadata from a URL, kept fresh: Refresh now, `sso refresh`, the automatic refresh, and what a bad document does
(nothing). Every document comes from a local HTTP server through a real socket."""
from __future__ import annotations

import json
import socket

import pytest
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.certificates import parse_certificate
from crm.identity_providers.metadata_source import FetchFailed, FetchPolicy, fetch_metadata, metadata_url_error
from crm.identity_providers.models import IdentityProvider
from crm.sso.refresh import refresh_due
from crm.timeutil import utcnow
from tests import factories
from tests.conftest import csrf_token
from tests.designer.metadata_server import MetadataServer
from tests.designer.published_metadata import certificate, federation, idp, in_days, sign_metadata
from tests.saml_keys import key_pair


@pytest.fixture
def server():
    """A local server publishing metadata."""
    served = MetadataServer()
    yield served
    served.close()


def _provider(slug: str = "entra", url: str | None = None, signing_cert: str | None = None) -> IdentityProvider:
    provider = factories.provider(slug)
    provider.metadata_url, provider.metadata_signing_cert = url, signing_cert
    db.session.commit()
    return provider


def _state(slug: str = "entra") -> tuple:
    db.session.rollback()
    provider = db.session.scalar(select(IdentityProvider).where(IdentityProvider.slug == slug))
    return (provider.entity_id, provider.sso_url, provider.slo_url,
            sorted(c.fingerprint_sha256 for c in provider.certificates))


def _fingerprint(pem: str) -> str:
    return parse_certificate(pem).fingerprint_sha256


def _events(action: str) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_refresh_now_applies_a_rollover_and_shows_and_audits_what_changed(admin_client, app, server):
    rolled = key_pair("rolled-idp")[1]
    url = server.publish("/federationmetadata.xml", idp(certificates=(rolled,), slo_url="https://idp.example.com/bye"))
    _provider(url=url)
    token = csrf_token(admin_client, "/designer/sso/entra")
    page = admin_client.post("/designer/sso/entra/refresh", data={"csrf_token": token}, follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "Refreshed from the metadata URL" in text
    assert "certificate added: O=Test IdP,CN=rolled-idp" in text
    assert "certificate removed: O=Test IdP,CN=test-idp" in text
    assert "slo url: https://idp.example.com/entra/slo → https://idp.example.com/bye" in text
    assert _state()[2:] == ("https://idp.example.com/bye", [_fingerprint(rolled)])
    [event] = _events("sso.metadata_refresh")
    assert event.actor_name == "admin" and event.details["trigger"] == "manual"
    assert event.changes["certificates"]["added"][0].endswith(_fingerprint(rolled))
    assert event.changes["slo_url"] == {"before": "https://idp.example.com/entra/slo", "after": "https://idp.example.com/bye"}
    provider = db.session.scalar(select(IdentityProvider))
    assert provider.last_refreshed is not None and provider.refresh_error is None
    # The same document again: nothing to change, nothing audited, the page says so.
    again = admin_client.post("/designer/sso/entra/refresh", data={"csrf_token": token}, follow_redirects=True)
    assert "nothing changed" in again.get_data(as_text=True) and len(_events("sso.metadata_refresh")) == 1


def test_every_signing_certificate_published_is_kept(runner, app, server):
    four = tuple(key_pair(f"entra-common-{n}")[1] for n in range(4))  # Entra's multi-tenant metadata lists four
    _provider(url=server.publish("/common.xml", idp(certificates=four)))
    result = runner.invoke(args=["sso", "refresh", "entra", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["ok"] and len(row["changes"]["certificates"]["added"]) == 4
    assert _state()[3] == sorted(_fingerprint(c) for c in four)
    listed = json.loads(runner.invoke(args=["sso", "list", "--json"]).output)[0]
    assert sorted(c["fingerprint"] for c in listed["certificates"]) == _state()[3]
    assert all(c["not_after"] and not c["expired"] for c in listed["certificates"])
    assert listed["metadata_url"].endswith("/common.xml") and listed["last_refreshed"]


def test_a_redirect_is_followed(runner, app, server):
    server.publish("/real.xml", idp(certificates=(key_pair("moved-idp")[1],)))
    _provider(url=server.redirect("/metadata", server.url("/real.xml"), 301))
    result = runner.invoke(args=["sso", "refresh", "--json"])
    assert result.exit_code == 0, result.output
    assert server.requests == ["/metadata", "/real.xml"]
    assert _events("sso.metadata_refresh")[0].details["redirects"] == [server.url("/metadata")]


def _broken(server: MetadataServer, app) -> dict:
    """Each way a refresh must fail: the URL, and words of the reason."""
    app.config["METADATA_MAX_BYTES"] = 20_000
    big = idp().replace("</EntityDescriptor>", "<!--" + "x" * 30_000 + "--></EntityDescriptor>")
    xxe = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    server.redirect("/r0", server.url("/r1"))
    for n in range(1, 7):
        server.redirect(f"/r{n}", server.url(f"/r{n + 1}"))
    return {
        "not found": (server.url("/missing.xml"), "answered 404"),
        "broken xml": (server.publish("/broken.xml", "<EntityDescriptor"), "not well-formed XML"),
        "xxe": (server.publish("/xxe.xml", xxe), "DTD"),
        "oversize": (server.publish("/big.xml", big), "larger than"),
        "oversize, no length": (server.publish("/big-stream.xml", big, content_length=False), "larger than"),
        "not metadata": (server.publish("/page.html", "<html><body>Sign in</body></html>"), "not SAML metadata"),
        "redirect to file": (server.redirect("/to-file", "file:///etc/passwd"), "only http(s) redirects"),
        "redirect loop": (server.url("/r0"), "More than 5 redirects"),
        "unreachable": ("http://127.0.0.1:9/metadata.xml", "Could not connect"),
        "expired only": (server.publish("/expired.xml", idp(certificates=(certificate("gone", -40, -1),))),
                         "has expired"),
    }


@pytest.mark.sqlite_only
@pytest.mark.parametrize("case", ["not found", "broken xml", "xxe", "oversize", "oversize, no length", "not metadata",
                                  "redirect to file", "redirect loop", "unreachable", "expired only"])
def test_a_broken_or_unreachable_document_changes_nothing_and_says_why(runner, app, server, case):
    url, reason = _broken(server, app)[case]
    _provider(url=url)
    before = _state()
    result = runner.invoke(args=["sso", "refresh", "entra"])
    assert result.exit_code == 1 and "nothing changed" in result.output and reason in result.output
    assert _state() == before
    [event] = _events("sso.metadata_refresh_failed")
    assert reason in event.reason and event.actor_name == "cli"
    assert reason in db.session.scalar(select(IdentityProvider)).refresh_error


def test_a_failed_refresh_on_the_page_says_why_and_keeps_the_provider(admin_client, app, server):
    _provider(url=server.publish("/broken.xml", "<EntityDescriptor"))
    before = _state()
    token = csrf_token(admin_client, "/designer/sso/entra")
    text = admin_client.post("/designer/sso/entra/refresh", data={"csrf_token": token},
                             follow_redirects=True).get_data(as_text=True)
    assert "Refresh failed; nothing changed. This is not well-formed XML" in text
    assert "The last refresh failed and changed nothing" in text
    assert _state() == before


def test_a_slow_server_is_cut_off_at_the_deadline(app, server):
    policy = FetchPolicy(production=False, timeout=0.5, max_bytes=1_000_000)
    with pytest.raises(FetchFailed, match="did not answer within 0.5 seconds"):
        fetch_metadata(server.silent("/slow.xml"), policy)


# --- federations: signed metadata ------------------------------------------------------------------------------

FEDERATION_IDP = "https://idp.example.com/entra"


def _federation(valid_until: str | None, *certs: str) -> str:
    return federation({"https://other-idp.example.org": (key_pair("other-idp")[1],),
                       FEDERATION_IDP: certs or (key_pair("federated-idp")[1],)}, valid_until)


def test_a_signed_federation_document_is_verified_and_the_providers_idp_taken(runner, app, server):
    url = server.publish("/feed.xml", sign_metadata(_federation(in_days(7))))
    _provider(url=url, signing_cert=key_pair("federation-signer")[1])
    result = runner.invoke(args=["sso", "refresh", "entra"])
    assert result.exit_code == 0, result.output
    assert _state()[3] == [_fingerprint(key_pair("federated-idp")[1])]
    assert _state()[1] == FEDERATION_IDP + "/sso"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("document, reason", [
    (lambda: _federation(in_days(7)).encode(), "is not signed"),
    (lambda: sign_metadata(_federation(in_days(7)), key_name="someone-else"), "does not verify"),
    (lambda: sign_metadata(_federation(in_days(7))).replace(b"https://idp.example.com/entra/sso",
                                                                 b"https://evil.example.net/entra/sso"),
     "does not verify"),
    (lambda: sign_metadata(_federation(in_days(-1))), "it is an old copy"),
    (lambda: sign_metadata(_federation(None)), "has no validUntil"),
    (lambda: sign_metadata(_federation(in_days(7)), sha1=True), "SHA-1"),
    (lambda: sign_metadata(_federation(in_days(7)), reference="#_e1"), "does not cover the whole document"),
])
def test_federation_metadata_that_does_not_verify_changes_nothing(runner, app, server, document, reason):
    _provider(url=server.publish("/feed.xml", document()), signing_cert=key_pair("federation-signer")[1])
    before = _state()
    result = runner.invoke(args=["sso", "refresh", "entra"])
    assert result.exit_code == 1 and reason in result.output, result.output
    assert _state() == before


# --- the URL's policy -----------------------------------------------------------------------------------------

@pytest.mark.sqlite_only
def test_production_refuses_http_loopback_and_private_addresses(app, server):
    app.config["ENV"] = "production"
    for url, reason in (("http://idp.example.com/metadata", "must use https"),
                        ("https://127.0.0.1/metadata", "loopback or private"),
                        ("https://localhost/metadata", "loopback or private"),
                        ("https://10.1.2.3/metadata", "loopback or private"),
                        ("https://[::1]/metadata", "loopback or private"),
                        ("https://user:secret@idp.example.com/metadata", "user name or password"),
                        ("ftp://idp.example.com/metadata", "full http(s) URL")):
        assert reason in metadata_url_error(url, app), url
    production = FetchPolicy(production=True, timeout=2, max_bytes=1_000_000)
    with pytest.raises(FetchFailed, match="resolves to .*, a loopback or private address"):
        fetch_metadata(f"https://{socket.gethostname()}/metadata", production)  # this machine's name: not public
    # A redirect is checked as the URL is: in production an https page may not send the fetch to http.
    with pytest.raises(FetchFailed, match="must use https"):
        fetch_metadata(server.url("/x"), production)
    app.config["ENV"] = "development"
    assert metadata_url_error(server.url("/metadata.xml"), app) is None


def test_sso_set_and_add_idp_take_a_metadata_url(runner, app, server):
    url = server.publish("/okta.xml", idp("okta", certificates=(key_pair("okta-app")[1],)))
    result = runner.invoke(args=["sso", "add-idp", "okta", "--metadata-url", url])
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(args=["sso", "list", "--json"]).output)[0]
    assert listed["metadata_url"] == url and listed["last_refreshed"]
    assert listed["certificates"][0]["fingerprint"] == _fingerprint(key_pair("okta-app")[1])
    exported = json.loads(runner.invoke(args=["sso", "export", "okta"]).output)["providers"][0]
    assert exported["metadata_url"] == url and exported["metadata_signing_cert"] is None  # configuration as code
    bad = runner.invoke(args=["sso", "set", "okta", "--metadata-url", "ftp://example.com/x"])
    assert bad.exit_code == 1 and "full http(s) URL" in bad.output
    assert runner.invoke(args=["sso", "set", "okta", "--metadata-url", ""]).exit_code == 0
    assert json.loads(runner.invoke(args=["sso", "list", "--json"]).output)[0]["metadata_url"] is None
    without = runner.invoke(args=["sso", "refresh", "okta"])
    assert without.exit_code == 1 and "has no metadata URL" in without.output
    both = runner.invoke(args=["sso", "add-idp", "x", "--metadata-url", url, "--metadata-file", __file__])
    assert both.exit_code == 1 and "exactly one" in both.output
    dead = runner.invoke(args=["sso", "add-idp", "dead", "--metadata-url", server.url("/nothing.xml")])
    assert dead.exit_code == 1 and "answered 404" in dead.output


# --- on its own, never in a sign-in ---------------------------------------------------------------------------

def test_due_providers_are_refreshed_once_by_one_worker(app, server):
    rolled = key_pair("rolled-idp")[1]
    _provider(url=server.publish("/m.xml", idp(certificates=(rolled,))))
    fresh = _provider("fresh", url=server.url("/m.xml"))
    fresh.last_refreshed = utcnow()
    db.session.commit()
    [result] = refresh_due()
    assert result.slug == "entra" and result.ok and _state()[3] == [_fingerprint(rolled)]
    assert refresh_due() == []  # refreshed now: not due again for 24 hours, nor is "fresh"
    assert _events("sso.metadata_refresh")[0].actor_name == "system"
    assert server.requests == ["/m.xml"]


def test_a_page_starts_the_refresh_in_its_own_thread_and_the_acs_never_does(admin_client, app, server):
    rolled = key_pair("rolled-idp")[1]
    _provider(url=server.publish("/m.xml", idp(certificates=(rolled,))))
    app.config["METADATA_CHECK_SECONDS"] = 0
    schedule = app.extensions["metadata_refresh"]
    schedule.next_check = None  # (signing in looked already, and set the next look 5 minutes ahead)
    admin_client.post("/sso/entra/acs", data={"SAMLResponse": "x"})
    assert schedule.thread is None  # the ACS answered and started nothing
    admin_client.get("/contacts")
    schedule.thread.join(10)
    assert _state()[3] == [_fingerprint(rolled)] and server.requests == ["/m.xml"]


# --- the pages ------------------------------------------------------------------------------------------------

def test_a_new_provider_reads_its_metadata_url_and_keeps_it(admin_client, app, server):
    import html
    import re

    url = server.publish("/okta.xml", idp("okta", certificates=(key_pair("okta-app")[1],)))
    token = csrf_token(admin_client, "/designer/sso/new")
    page = html.unescape(admin_client.post("/designer/sso/new", data={
        "csrf_token": token, "action": "import", "metadata_url": url}).get_data(as_text=True))
    assert 'value="https://idp.example.com/okta"' in page and "Read the metadata" in page
    certificate_text = re.search(r'<textarea[^>]*name="certificate"[^>]*>\s*([^<]*)</textarea>', page).group(1)
    saved = admin_client.post("/designer/sso/new", data={
        "csrf_token": token, "action": "save", "slug": "okta", "display_name": "Okta", "metadata_url": url,
        "entity_id": "https://idp.example.com/okta", "sso_url": "https://idp.example.com/okta/sso",
        "sso_binding": "redirect", "license_policy": "all", "new_user_type": "employee",
        "certificate": certificate_text})
    assert saved.status_code == 302
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert f"Metadata URL <code>{url}</code>" in page and "Refresh now" in page
    broken = html.unescape(admin_client.post("/designer/sso/new", data={
        "csrf_token": token, "action": "import", "metadata_url": server.url("/gone.xml")}).get_data(as_text=True))
    assert "answered 404" in broken


def test_settings_take_a_metadata_url_and_signing_certificate_and_refuse_bad_ones(admin_client, app, server):
    provider = _provider()
    token = csrf_token(admin_client, "/designer/sso/entra")
    form = {"csrf_token": token, "display_name": "Entra", "slug": "entra", "entity_id": provider.entity_id,
            "sso_url": provider.sso_url, "sso_binding": "redirect", "license_policy": "all",
            "new_user_type": "employee", "enabled": "y"}
    bad = admin_client.post("/designer/sso/entra", data=form | {"metadata_url": "ftp://x.example/m",
                                                                "metadata_signing_cert": "not a certificate"})
    text = bad.get_data(as_text=True)
    assert "The metadata URL must be a full http(s) URL." in text and "neither PEM nor base64" in text
    assert _state() and db.session.scalar(select(IdentityProvider.metadata_url)) is None
    signer = key_pair("federation-signer")[1]
    url = server.publish("/feed.xml", b"")
    good = admin_client.post("/designer/sso/entra", data=form | {"metadata_url": url, "metadata_signing_cert": signer})
    assert good.status_code == 302
    db.session.rollback()
    saved = db.session.scalar(select(IdentityProvider))
    assert saved.metadata_url == url and saved.metadata_signing_cert == parse_certificate(signer).pem
    [event] = _events("sso.provider_update")
    assert event.changes["metadata_url"] == {"before": None, "after": url}
    assert event.changes["metadata_signing_cert"]["after"] == _fingerprint(signer)  # a fingerprint, not the PEM
    page = admin_client.get("/designer/sso/entra").get_data(as_text=True)
    assert "Signed metadata required" in page


def test_sso_set_takes_a_metadata_signing_certificate_file(runner, app, server, tmp_path):
    _provider(url=server.publish("/feed.xml", sign_metadata(_federation(in_days(7)))))
    pem = tmp_path / "signer.pem"
    pem.write_text(key_pair("federation-signer")[1])
    assert runner.invoke(args=["sso", "set", "entra", "--metadata-signing-cert", str(pem)]).exit_code == 0
    assert runner.invoke(args=["sso", "refresh", "entra"]).exit_code == 0
    pem.write_text(key_pair("someone-else")[1])
    assert runner.invoke(args=["sso", "set", "entra", "--metadata-signing-cert", str(pem)]).exit_code == 0
    failed = runner.invoke(args=["sso", "refresh", "entra", "--json"])
    assert failed.exit_code == 1 and "does not verify" in json.loads(failed.output)[0]["error"]
    assert runner.invoke(args=["sso", "set", "entra", "--metadata-signing-cert", ""]).exit_code == 0
    assert db.session.scalar(select(IdentityProvider.metadata_signing_cert)) is None


def test_the_provider_list_says_where_certificates_come_from(admin_client, app, server):
    _provider(url=server.publish("/m.xml", idp()))
    _provider("okta", url=server.url("/missing.xml"))
    from crm.sso.refresh import refresh_all

    assert [r.ok for r in refresh_all()] == [True, False]
    page = admin_client.get("/designer/sso").get_data(as_text=True)
    assert "From its metadata URL, refreshed" in page and "Last refresh failed" in page
