"""System Designer → Single Sign On configuration in the browser (test client): providers and certificates."""
import html
import io

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.certificates import MAX_CERTIFICATES
from crm.identity_providers.models import IdentityProvider
from tests import factories
from tests.conftest import csrf_token
from tests.designer import metadata_fixtures as md
from tests.saml_keys import expired_cert, expiring_cert, key_pair


def _count():
    return db.session.scalar(db.select(db.func.count(IdentityProvider.id)))


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _new(client, **data):
    return client.post("/designer/sso/new", data={"csrf_token": csrf_token(client, "/designer/sso/new")} | data,
                       content_type="multipart/form-data")


def test_import_fills_the_form_and_saves_nothing_until_save(admin_client, app):
    response = _new(admin_client, action="import", metadata_file=(io.BytesIO(md.entra()), "federationmetadata.xml"))
    page = _text(response)
    assert 'value="https://sts.windows.net/81c1df79-e153-4f9d-a101-8dcf04af6c2c/"' in page
    assert "Microsoft Entra ID" in page and "Left out an expired certificate" in page
    assert _count() == 0
    filled = _form_values(page)
    form = {k: filled[k] for k in ("display_name", "entity_id", "sso_url", "slo_url", "certificate")}
    saved = _new(admin_client, action="save", **form | {"slug": "entra", "jit_enabled": "y", "sso_binding": "redirect",
                                                        "license_policy": "all", "new_user_type": "employee"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/designer/sso/entra")
    provider = db.session.scalar(db.select(IdentityProvider))
    assert provider.jit_enabled and len(provider.certificates) == 1
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "sso.provider_create"))
    assert event.changes["entity_id"]["after"] == provider.entity_id and event.actor_name == "admin"


def _form_values(page: str) -> dict:
    import re

    values = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    textareas = re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>\s*([^<]*)</textarea>', page)
    values.update({k: html.unescape(v) for k, v in textareas})
    return values


def test_federation_metadata_asks_for_the_idp(admin_client, app):
    page = _text(_new(admin_client, action="import", metadata_xml=md.federation()))
    assert "describes 2 identity providers" in page and "https://idp-b.example.org" in page
    page = _text(_new(admin_client, action="import", metadata_xml=md.federation(),
                      metadata_entity="https://idp-b.example.org"))
    assert 'value="https://idp-b.example.org/sso"' in page


def test_broken_metadata_gives_a_message_on_the_form(admin_client, app):
    for document, message in ((b"<EntityDescriptor", "not well-formed XML"),
                              (md.without_signing_key(), "no signing certificate"),
                              (md.only_expired(), "has expired")):
        page = _text(_new(admin_client, action="import", metadata_xml=document))
        assert message in page
    assert _count() == 0


def test_save_without_certificate_or_with_a_wrong_one_is_refused(admin_client, app):
    base = {"action": "save", "display_name": "Okta", "slug": "okta", "entity_id": "http://www.okta.com/x",
            "sso_url": "https://example.okta.com/sso", "sso_binding": "redirect", "license_policy": "all",
            "new_user_type": "employee"}
    assert "Add the IdP's signing certificate" in _text(_new(admin_client, **base))
    assert "private key" in _text(_new(admin_client, **base | {"certificate": key_pair("x")[0]}))
    assert "expired on" in _text(_new(admin_client, **base | {"certificate": expired_cert()}))
    assert _count() == 0


def test_http_sign_on_url_is_refused_in_production(admin_client, app):
    app.config["ENV"] = "production"
    base = {"action": "save", "display_name": "Okta", "slug": "okta", "entity_id": "http://www.okta.com/x",
            "sso_url": "http://example.okta.com/sso", "sso_binding": "redirect", "license_policy": "all",
            "new_user_type": "employee", "certificate": key_pair("okta-app")[1]}
    assert "must use https" in _text(_new(admin_client, **base))
    assert _count() == 0


def test_settings_validation_names_each_problem(admin_client, app):
    factories.provider("okta")
    token = csrf_token(admin_client, "/designer/sso/okta")
    page = _text(admin_client.post("/designer/sso/okta", data={
        "csrf_token": token, "display_name": "", "slug": "Bad Slug!", "entity_id": "x", "sso_url": "ftp://x",
        "sso_binding": "redirect", "license_policy": "selected", "new_user_type": "employee",
        "allowed_domains": "example.com, not a domain"}))
    for message in ("Enter a display name", "lowercase letters", "must be a full http(s) URL",
                    "Choose at least one license package", "Not a domain name: not a domain"):
        assert message in page
    assert db.session.scalar(db.select(IdentityProvider.slug)) == "okta"


def test_settings_save_with_chosen_packages_domains_and_groups(admin_client, app):
    factories.package("Sales Creatio", 25)
    factories.provider("okta")
    token = csrf_token(admin_client, "/designer/sso/okta")
    response = admin_client.post("/designer/sso/okta", data={
        "csrf_token": token, "display_name": "Okta contractors", "slug": "okta", "entity_id": "http://okta/x",
        "sso_url": "https://example.okta.com/sso", "sso_binding": "redirect", "license_policy": "selected",
        "licenses": ["Sales Creatio"], "new_user_type": "external", "allowed_domains": "Example.com\n@corp.example",
        "required_groups": "CRM Users, Sales", "groups_attribute": "groups", "enabled": "y", "jit_enabled": "y"})
    assert response.status_code == 302
    provider = db.session.scalar(db.select(IdentityProvider))
    assert provider.allowed_domains == ["example.com", "corp.example"]
    assert provider.required_groups == ["CRM Users", "Sales"]
    assert [p.name for p in provider.license_packages] == ["Sales Creatio"] and provider.new_user_type == "external"
    assert provider.allow_idp_initiated is False and provider.show_on_login is False
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "sso.provider_update"))
    assert event.changes["display_name"] == {"before": "Okta", "after": "Okta contractors"}


def test_certificate_rollover_every_certificate_up_to_the_cap_never_none(admin_client, app):
    provider = factories.provider("okta")
    token = csrf_token(admin_client, "/designer/sso/okta")
    add = lambda cert: _text(admin_client.post("/designer/sso/okta/certificates",  # noqa: E731
                                               data={"csrf_token": token, "certificate": cert}, follow_redirects=True))
    assert "Certificate added." in add(key_pair("next-key")[1])
    assert "Certificate added." in add(key_pair("third-key")[1])  # Entra publishes four: every one is kept
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert page.count('class="cert"') == 3
    for n in range(MAX_CERTIFICATES - 3):
        assert "Certificate added." in add(key_pair(f"more-{n}")[1])
    assert f"{MAX_CERTIFICATES} certificates are already configured" in add(key_pair("one-too-many")[1])
    for cert in db.session.get(IdentityProvider, provider.id).certificates[2:]:
        admin_client.post(f"/designer/sso/okta/certificates/{cert.id}/delete", data={"csrf_token": token})
    ids = [c.id for c in db.session.get(IdentityProvider, provider.id).certificates]
    admin_client.post(f"/designer/sso/okta/certificates/{ids[0]}/delete", data={"csrf_token": token})
    page = _text(admin_client.post(f"/designer/sso/okta/certificates/{ids[1]}/delete", data={"csrf_token": token},
                                   follow_redirects=True))
    assert "needs at least one signing certificate" in page
    assert len(db.session.get(IdentityProvider, provider.id).certificates) == 1


def test_expiring_certificate_is_flagged(admin_client, app):
    factories.provider("okta")
    token = csrf_token(admin_client, "/designer/sso/okta")
    admin_client.post("/designer/sso/okta/certificates", data={"csrf_token": token, "certificate": expiring_cert()})
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert "expires within 30 days" in page
    assert "Expires " in admin_client.get("/designer/sso").get_data(as_text=True)


def test_sp_metadata_and_values_for_the_idp_admin(admin_client, app):
    factories.provider("okta")
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert 'value="http://localhost/sso/okta/acs"' in page and 'value="http://localhost/sso/okta/metadata"' in page
    response = admin_client.get("/sso/okta/metadata?download=1")
    xml = response.get_data(as_text=True)
    assert 'entityID="http://localhost/sso/okta/metadata"' in xml
    assert 'Location="http://localhost/sso/okta/acs"' in xml
    assert "attachment" in response.headers["Content-Disposition"]


def test_update_from_metadata_replaces_urls_and_certificates(admin_client, app):
    factories.provider("shib", cert_name="old-shib-key")
    token = csrf_token(admin_client, "/designer/sso/shib")
    response = admin_client.post("/designer/sso/shib/metadata", data={"csrf_token": token,
                                                                      "metadata_xml": md.shibboleth()})
    assert response.status_code == 302
    provider = db.session.scalar(db.select(IdentityProvider))
    assert provider.entity_id == "https://idp.example.edu/idp/shibboleth"
    assert [c.subject for c in provider.certificates] == ["O=Test IdP,CN=idp.example.edu"]


def test_delete_provider(admin_client, app):
    factories.provider("okta")
    token = csrf_token(admin_client, "/designer/sso/okta")
    admin_client.post("/designer/sso/okta/delete", data={"csrf_token": token})
    assert _count() == 0
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "sso.provider_delete")) is not None


def test_non_admin_gets_403(client, app):
    from tests.conftest import login

    factories.user("rep@example.com")
    login(client, "rep@example.com", factories.PASSWORD)
    assert client.get("/designer/sso").status_code == 403


def test_required_groups_without_a_groups_attribute_are_refused(admin_client, app):
    factories.provider("okta")
    token = csrf_token(admin_client, "/designer/sso/okta")
    page = _text(admin_client.post("/designer/sso/okta", data={
        "csrf_token": token, "display_name": "Okta", "slug": "okta", "entity_id": "http://okta/x",
        "sso_url": "https://example.okta.com/sso", "sso_binding": "redirect", "license_policy": "all",
        "new_user_type": "employee", "required_groups": "CRM Users", "enabled": "y"}))
    assert "Required groups need the Groups attribute" in page
    assert db.session.scalar(db.select(IdentityProvider.required_groups)) == []
