"""The assertion inspector and JIT dry run: every check, the cause of each failure, nothing provisioned."""
import json
from datetime import timedelta

from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers.config import config_of
from crm.sso import report as reports
from tests.saml_keys import key_pair
from tests.saml_signer import Spec, build_response, encode, signed_response
from tests.sso.conftest import CLAIMS, nina


def build_report(provider, saml_response, **kwargs):
    """The report for a provider as the designer asks for it."""
    return reports.build_report(config_of(provider), saml_response, **kwargs)


def _checks(report):
    return {c["key"]: c for c in report["checks"]}


def test_valid_response_passes_every_check_and_dry_run_plans_the_user(entra):
    report = build_report(entra, signed_response(Spec(attributes=nina(), in_response_to="_req-1")))
    assert report["ok"] and report["verdict"] == "This response would sign the user in."
    assert all(c["passed"] is not False for c in report["checks"])
    assert report["name_id"] == "nina.novak@example.com" and report["attributes"][CLAIMS + "givenname"] == ["Nina"]
    dry = report["dry_run"]
    assert dry["action"] == "create" and "Sales Creatio" in dry["licenses"] and dry["roles_added"] == ["All employees",
                                                                                                     "Sales"]
    assert {"field": "department", "before": None, "after": "Sales", "source": f'row "{CLAIMS}department"'} in \
        dry["fields"]
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0  # nothing provisioned


def test_wrong_certificate_shows_both_fingerprints(entra):
    report = build_report(entra, signed_response(Spec(attributes=nina(), key_name="rotated-key")))
    signature = _checks(report)["signature"]
    assert signature["passed"] is False
    from crm.identity_providers.certificates import parse_certificate

    sent = parse_certificate(key_pair("rotated-key")[1]).fingerprint_sha256
    assert sent in signature["hint"] and entra.certificates[0].fingerprint_sha256 in signature["hint"]


def test_clock_ten_minutes_off_is_named_and_the_contents_still_shown(entra):
    behind = Spec(attributes=nina(), in_response_to="_req-1", clock_offset=timedelta(minutes=-10))
    report = build_report(entra, encode(build_response(behind)))
    validity = _checks(report)["validity"]
    assert validity["passed"] is False and "expired at" in validity["detail"]
    assert "Clock skew" in validity["hint"] and "about 10 minutes" in validity["hint"]
    assert report["expired"] and report["dry_run"]["action"] == "create"
    assert "expired" in report["verdict"]


def test_uri_claims_mapped_as_short_names_are_pointed_out(entra):
    from crm.identity_providers.mappings import save_attribute_mapping

    row = next(m for m in entra.attribute_mappings if m.contact_field == "email")
    save_attribute_mapping(entra, row, "emailaddress", "email", None)
    db.session.commit()
    report = build_report(entra, signed_response(Spec(attributes=nina())))
    unmatched = {r["field"]: r for r in report["dry_run"]["unmatched_rows"]}
    assert unmatched["email"]["look_alikes"] == [CLAIMS + "emailaddress"]
    assert any("a claim URI is not its short name" in h for h in report["dry_run"]["hints"])


def test_entity_id_and_acs_mismatch_show_expected_and_received(entra):
    report = build_report(entra, signed_response(Spec(attributes=nina(), audience="https://crm.example/wrong",
                                                      recipient="https://crm.example/acs")))
    checks = _checks(report)
    assert "Expected http://localhost/sso/entra/metadata; received https://crm.example/wrong" in \
        checks["audience"]["detail"]
    assert checks["recipient"]["passed"] is False and "CRM_BASE_URL" in checks["recipient"]["hint"]


def test_group_object_ids_where_names_are_mapped(entra):
    from crm.identity_providers.mappings import add_role_mapping

    add_role_mapping(entra, "groups", "Sales Team", "Sales")
    db.session.commit()
    attributes = nina(groups=["0e7b1c2d-1111-4a5b-9c8d-123456789abc"])
    report = build_report(entra, signed_response(Spec(attributes=attributes)))
    assert any("group object ids" in h for h in report["dry_run"]["hints"])


def test_hostile_and_broken_input(entra):
    assert _checks(build_report(entra, "not base64!"))["encoding"]["passed"] is False
    xslt = build_response(Spec(attributes=nina()))
    transform = next(xslt.iter("{http://www.w3.org/2000/09/xmldsig#}Transform"))
    transform.set("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")
    report = build_report(entra, encode(xslt))
    assert _checks(report)["transforms"]["passed"] is False and report["dry_run"] is None


def test_the_report_refuses_every_signature_form_the_acs_refuses(entra):
    """The inspector runs the ACS's own pre-check on the signature form, not a looser copy of it."""
    response = build_response(Spec(attributes=nina()))
    signed_info = next(response.iter("{http://www.w3.org/2000/09/xmldsig#}SignedInfo"))
    extra = next(signed_info.iter("{http://www.w3.org/2000/09/xmldsig#}Reference")).__copy__()
    extra.set("URI", "file:///dev/zero")
    signed_info.append(extra)
    check = _checks(build_report(entra, encode(response)))["transforms"]
    assert check["passed"] is False and "2 references" in check["detail"]


def test_cli_inspect_prints_the_report(entra, runner, tmp_path):
    path = tmp_path / "response.b64"
    path.write_text(signed_response(Spec(attributes=nina(), key_name="rotated-key")))
    text = runner.invoke(args=["sso", "inspect", "entra", "--file", str(path)])
    assert text.exit_code == 0 and "[FAIL] Signature" in text.output and "Wrong certificate?" in text.output
    data = json.loads(runner.invoke(args=["sso", "inspect", "entra", "--file", str(path), "--json"]).output)
    assert data["ok"] is False and data["dry_run"]["user"].startswith("New user nina.novak@example.com")


def test_test_sign_in_reports_and_provisions_nothing_and_keeps_the_admin_signed_in(entra, client, admin):
    from tests import factories
    from tests.conftest import login, signed_in_user_id

    login(client, "admin", factories.PASSWORD)
    start = client.get("/sso/entra/login?test=1")
    assert start.status_code == 302
    with client.session_transaction() as session:
        request_id = session["saml_pending"]["id"]
    page = client.post("http://localhost/sso/entra/acs", follow_redirects=True, data={
        "SAMLResponse": signed_response(Spec(attributes=nina(), in_response_to=request_id))}).get_data(as_text=True)
    assert "This response would sign the user in." in page and "New user nina.novak@example.com" in page
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1  # only the admin
    with client.session_transaction() as session:
        token = session["_user_id"]
    assert signed_in_user_id(token) == admin.id


def test_test_mode_is_only_for_admins(entra, visitor):
    visitor.client.get("/sso/entra/login?test=1")
    with visitor.client.session_transaction() as session:
        assert session["saml_pending"]["test"] is False


def test_pasted_response_gets_the_same_report_escaped(entra, admin_client):
    from tests.conftest import csrf_token

    hostile = nina(**{CLAIMS + "givenname": "<img src=x onerror=alert(1)>"})
    token = csrf_token(admin_client, "/designer/sso/entra")
    page = admin_client.post("/designer/sso/entra/inspect", data={
        "csrf_token": token, "saml_response": signed_response(Spec(attributes=hostile, in_response_to="_r"))})
    html = page.get_data(as_text=True)
    assert "would sign the user in" in html and "<img src=x" not in html and "&lt;img src=x" in html
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_recent_attempts_are_kept_and_open_as_reports(entra, visitor, client, admin):
    from crm.sso.models import SignInAttempt
    from tests import factories
    from tests.conftest import login

    visitor.sign_in(attributes=nina())
    client.post("/logout", data={"csrf_token": _token(client)})
    visitor.sign_in(attributes=nina(), key_name="rotated-key")  # refused: wrong certificate
    outcomes = db.session.scalars(db.select(SignInAttempt.outcome).order_by(SignInAttempt.id)).all()
    assert outcomes == ["signed in", "rejected"]
    login(client, "admin", factories.PASSWORD)
    page = client.get("/designer/sso/entra").get_data(as_text=True)
    assert "Recent sign-in attempts" in page and "nina.novak@example.com" in page
    rejected_id = db.session.scalar(db.select(SignInAttempt.id).where(SignInAttempt.outcome == "rejected"))
    report = client.get(f"/designer/sso/entra/attempts/{rejected_id}").get_data(as_text=True)
    assert "Wrong certificate?" in report and "would be refused" in report
    assert "SignatureValue" not in report


def test_only_the_last_50_attempts_of_7_days_are_kept(entra):
    from datetime import timedelta

    from crm.sso.attempts import prune_attempts, record_attempt
    from crm.sso.models import SignInAttempt
    from crm.timeutil import utcnow

    record_attempt(db.session.connection(), entra.id, "b2xk", "signed in")
    db.session.flush()
    old = db.session.scalar(db.select(SignInAttempt))
    old.received_at = utcnow() - timedelta(days=8)
    db.session.flush()  # record_attempt writes on the connection, past the session's unit of work
    for i in range(55):
        record_attempt(db.session.connection(), entra.id, "eHl6", "signed in", name_id=f"user{i}")
    prune_attempts(db.session.connection(), entra.id)
    db.session.commit()
    kept = db.session.scalars(db.select(SignInAttempt.name_id).order_by(SignInAttempt.id)).all()
    assert len(kept) == 50 and kept[0] == "user5" and None not in kept


def _token(client):
    from tests.conftest import csrf_token

    return csrf_token(client, "/contacts")


def test_a_name_id_that_is_not_an_email_is_pointed_out(entra):
    attributes = {k: v for k, v in nina().items() if not k.endswith("emailaddress")}
    report = build_report(entra, signed_response(Spec(attributes=attributes, name_id="S-1-5-21-3623811015",
                                                      in_response_to="_r")))
    assert any("is not an email address" in h for h in report["dry_run"]["hints"])


def test_the_report_refuses_what_the_acs_refuses_after_the_signature(entra):
    """A look-alike NameID and an assertion without NotOnOrAfter: the ACS refuses both, so the report does too."""
    from tests.saml_signer import build_assertion, sign

    look_alike = build_report(entra, signed_response(Spec(name_id="ｎina.novak@example.com", attributes=nina())))
    assert _checks(look_alike)["name_id"]["passed"] is False and not look_alike["ok"]
    spec = Spec(attributes=nina())
    assertion = build_assertion(spec)
    for node in assertion.iter():
        node.attrib.pop("NotOnOrAfter", None)
    forever = build_report(entra, encode(build_response(spec, assertion=sign(assertion))))
    validity = _checks(forever)["validity"]
    assert validity["passed"] is False and "valid for ever" in validity["detail"] and not forever["ok"]
