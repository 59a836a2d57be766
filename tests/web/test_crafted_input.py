"""Crafted input never gives a 500: refused at the boundary with a 400 (or a form error), on both engines; and the
500 page itself survives the failed statement that caused it."""
from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from crm.auth.models import User
from crm.extensions import db
from tests import factories
from tests.conftest import csrf_token, login

CRAFTED = {"NUL": "ab\x00c", "U+10FFFF": "ab\U0010ffff", "U+FFFE": "ab\ufffe"}

SEARCHES = ["/contacts?q={}", "/contacts?sort={}", "/accounts?q={}", "/accounts/names?q={}", "/users?q={}",
            "/roles?q={}", "/licenses?q={}", "/audit?user={}", "/audit?reference={}", "/audit?idp_slug={}",
            "/audit?outcome={}", "/audit?since={}", "/login?next={}", "/designer/lookups/{}", "/designer/sso/{}",
            "/sso/{}/login", "/sso/{}/metadata", "/sso/{}/sls", "/contacts/{}"]

FORMS = [("/contacts/new", {"given_name": "{}", "surname": "Smith", "email": "a@example.com"}),
         ("/accounts/new", {"name": "{}"}), ("/roles/new", {"name": "{}"}), ("/licenses/new", {"name": "{}"}),
         ("/designer/lookups/departments/new", {"name": "{}"}), ("/designer/sso/new", {"slug": "{}"}),
         ("/designer/sso/entra", {"display_name": "{}"}), ("/designer/sso/entra/mappings", {"{}": "x"}),
         ("/sso/entra/acs", {"SAMLResponse": "{}", "RelayState": "/"}), ("/login", {"username": "{}"})]


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_characters_are_refused_with_400_on_every_page(admin_client, app, name):
    factories.provider("entra")
    value = CRAFTED[name]
    answers = {url: admin_client.get(url.format(value)).status_code for url in SEARCHES}
    token = csrf_token(admin_client, "/contacts")
    for url, form in FORMS:
        data = {k.format(value): v.format(value) for k, v in form.items()} | {"csrf_token": token}
        answers[url] = admin_client.post(url, data=data).status_code
    assert {url: status for url, status in answers.items() if status != 400} == {}
    assert "not allowed here" in admin_client.get("/contacts?q=" + value).get_data(as_text=True)
    assert admin_client.get("/contacts").status_code == 200  # still signed in, nothing broken


def test_a_search_ending_just_before_the_surrogates_is_answered(admin_client, app):
    """U+D7FF is a real character; the search's upper bound after it must not be a lone surrogate."""
    factories.contact(given_name="Ann", surname="Smith", email="ann@example.com")
    for url in ("/contacts?q=an\ud7ff", "/accounts?q=\ud7ff", "/users?q=x\ud7ff", "/accounts/names?q=\ud7ff"):
        assert admin_client.get(url).status_code == 200, url
    assert "Ann Smith" in admin_client.get("/contacts?q=an").get_data(as_text=True)


def test_raw_bytes_that_are_not_utf8_are_refused(admin_client):
    response = admin_client.get("/contacts", environ_overrides={"QUERY_STRING": "q=\xed\xa0\x80"})
    assert response.status_code == 400


def test_an_audit_range_ending_on_9999_12_31_is_refused_not_a_500(admin_client):
    response = admin_client.get("/audit?until=9999-12-31")
    assert response.status_code == 400 and "before the year 9999" in response.get_data(as_text=True)
    assert admin_client.get("/audit?until=9998-12-31").status_code == 200


def _certificate_with_a_malformed_subject() -> str:
    """A certificate whose subject's UTF8String holds bytes that are not UTF-8 (made by hand, as a broken tool
    might)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "QQQQ")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=90))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER).replace(b"QQQQ", b"\xff\xfe\xed\xa0")
    return "-----BEGIN CERTIFICATE-----\n" + base64.b64encode(der).decode() + "\n-----END CERTIFICATE-----\n"


def test_a_certificate_with_a_malformed_subject_is_a_form_error(admin_client, app):
    factories.provider("entra")
    token = csrf_token(admin_client, "/designer/sso/entra")
    response = admin_client.post("/designer/sso/entra/certificates",
                                 data={"certificate": _certificate_with_a_malformed_subject(), "csrf_token": token})
    assert response.status_code == 200
    assert "its subject or validity is malformed" in response.get_data(as_text=True)


def test_the_500_page_survives_the_failed_statement_that_caused_it(app, client, admin):
    def duplicate_user():
        db.session.add(User(username="ADMIN", user_type="employee"))  # usernames are unique ignoring case
        db.session.flush()

    app.add_url_rule("/duplicate-for-test", "duplicate_for_test", duplicate_user)
    login(client, admin.username, factories.PASSWORD)
    response = client.get("/duplicate-for-test")
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong" in page
    assert 'class="sidebar"' in page and "Signed in as" in page  # the console's own page, with the signed-in user


def test_json_bodies_and_file_names_are_checked_too(admin_client):
    """No page takes JSON yet (SCIM will): a crafted string in one, or a JSON body nested too deep to read, is a 400
    at the boundary like any form field."""
    token = csrf_token(admin_client, "/contacts")
    headers = {"X-CSRFToken": token}
    assert admin_client.post("/contacts/new", json={"q": ["ok", {"k": "a\x00"}]}, headers=headers).status_code == 400
    nested = "[" * 100_000 + "]" * 100_000
    assert admin_client.post("/contacts/new", data=nested, content_type="application/json",
                             headers=headers).status_code == 400
    upload = {"certificate": (io.BytesIO(b"x"), "cert\ufffe.pem"), "csrf_token": token}
    assert admin_client.post("/designer/sso/new", data=upload, content_type="multipart/form-data").status_code == 400
