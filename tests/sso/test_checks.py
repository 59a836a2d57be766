"""One list of checks, two runners: a check added once refuses at the ACS and shows in the report; a sign-in
decodes and parses its response once."""
from __future__ import annotations

import subprocess
import sys

import pytest

from crm.extensions import db
from crm.identity_providers.config import config_of
from crm.sso import checks, prechecks
from crm.sso.report import build_report
from tests.saml_signer import Spec, signed_response
from tests.sso.conftest import CLAIMS, nina


def _no_contractors(ins: checks.Inspection) -> checks.Finding:
    """A rule an admin might want: nobody whose job title says contractor."""
    titles = [v.text or "" for v in ins.assertion.iter(f"{checks.SAML}AttributeValue")]
    if any("contractor" in t.lower() for t in titles):
        return checks.fail("invalid", "contractors may not sign in", hint="Ask for an employee account.")
    return checks.ok("No contractor.")


def test_a_check_added_once_refuses_at_the_acs_and_shows_in_the_report(monkeypatch, entra, visitor):
    added = checks.Check("contractor", "Contractors", _no_contractors)
    monkeypatch.setattr(checks, "CHECKS", checks.CHECKS + (added,))
    response = signed_response(Spec(attributes=nina(jobtitle="Contractor")))
    report = build_report(config_of(entra), response)
    row = next(c for c in report["checks"] if c["key"] == "contractor")
    assert row["label"] == "Contractors" and row["passed"] is False and row["hint"] == "Ask for an employee account."
    refused = visitor.sign_in(attributes=nina(jobtitle="Contractor"))
    assert refused.status_code == 400 and visitor.signed_in_as() is None
    assert visitor.sign_in(attributes=nina()).status_code == 302  # the same check lets an employee in


def test_a_sign_in_decodes_and_parses_its_response_once(monkeypatch, entra, visitor):
    calls = []
    decode, parse = prechecks.decode_base64, prechecks.parse
    monkeypatch.setattr(prechecks, "decode_base64", lambda encoded: calls.append("decode") or decode(encoded))
    monkeypatch.setattr(prechecks, "parse", lambda document: calls.append("parse") or parse(document))
    assert visitor.sign_in(attributes=nina()).status_code == 302  # SP-initiated: after the re-post
    assert calls == ["decode", "parse"]


def test_importing_the_planner_loads_no_xml_and_no_saml():
    """crm.provisioning is plain Python (import-linter says so of its imports; this says so of a running process)."""
    code = ("import sys, crm.provisioning.planner, crm.provisioning.apply, crm.provisioning.resolver; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'lxml', 'onelogin', 'xmlsec'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_a_worker_signs_in_with_its_copy_of_the_configuration_until_an_admin_changes_it(entra, visitor, client):
    """The ACS does not read the provider on every sign-in: the sign-in's own transaction confirms the version,
    and a change (a new certificate, JIT turned off) applies to the very next sign-in."""
    from crm.identity_providers.certificates import parse_certificate
    from crm.identity_providers.services import add_certificate, provider_values, save_provider
    from tests.saml_keys import key_pair

    assert visitor.sign_in(attributes=nina()).status_code == 302  # the worker now holds the configuration
    client.post("/logout", data={"csrf_token": _token(client)})
    add_certificate(entra, parse_certificate(key_pair("rotated-key")[1]))  # the IdP rolls its key
    db.session.commit()
    assert visitor.sign_in(attributes=nina(), key_name="rotated-key").status_code == 302
    client.post("/logout", data={"csrf_token": _token(client)})
    save_provider(entra, provider_values(entra) | {"jit_enabled": False})
    db.session.commit()
    refused = visitor.sign_in(attributes=nina(**{CLAIMS + "emailaddress": "new@example.com"}),
                              name_id="new@example.com")
    assert refused.status_code == 403 and "automatic account creation is off" in refused.get_data(as_text=True)


def _token(client):
    from tests.conftest import csrf_token

    return csrf_token(client, "/contacts")


def test_a_response_without_a_status_is_refused_in_plain_words(entra):
    from tests.saml_signer import build_response, encode

    response = build_response(Spec(attributes=nina()))
    response.remove(response.find("{urn:oasis:names:tc:SAML:2.0:protocol}Status"))
    report = build_report(config_of(entra), encode(response))
    assert [(c["key"], c["detail"]) for c in report["checks"] if c["passed"] is False] == [
        ("status", "The response has no Status/StatusCode.")]


@pytest.mark.parametrize("message", ["The user is not assigned to this application; request rejected",
                                     "Sign-in request cancelled by the user"])
def test_an_ordinary_refusal_is_not_taken_for_a_refused_unsigned_request(message):
    from crm.sso.checks import _refused_unsigned

    responder = "urn:oasis:names:tc:SAML:2.0:status:Responder"
    assert not _refused_unsigned(responder, ["urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"], message)
    assert _refused_unsigned(responder, ["urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"],
                             "Request was not signed correctly")
