"""Value transforms in the mapping, end to end with real signed responses: the sign-in writes the transformed value,
the dry run and the troubleshooting report say which transform made it, and the provider page previews every row
against the last sign-in attempt."""
import html
import re

import pytest

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers import mappings
from crm.identity_providers.config import config_of
from crm.sso import report as reports
from crm.users.services import user_json
from tests.conftest import csrf_token
from tests.saml_signer import Spec, signed_response
from tests.sso.conftest import CLAIMS, Browser, nina

DEPARTMENT = CLAIMS + "department"
HX = {"HX-Request": "true"}


def _row(provider, field):
    return next(m for m in provider.attribute_mappings if m.contact_field == field)


@pytest.fixture
def transformed(entra):
    """The Entra provider with its department row taking the part before the dash, and the email lowercased."""
    mappings.save_attribute_mapping(entra, _row(entra, "department"), DEPARTMENT, "department", None,
                                    transform="part:-:1")
    email = _row(entra, "email")
    mappings.save_attribute_mapping(entra, email, email.saml_attribute, "email", None, transform="lowercase")
    db.session.commit()
    return entra


def _contact(username="nina.novak@example.com"):
    user = db.session.scalar(db.select(User).where(User.username_key == username))
    return user_json(user)["contact"]


def test_a_signed_sign_in_writes_the_transformed_department(app, transformed):
    visitor = Browser(app.test_client())
    response = visitor.sign_in(attributes=nina(**{DEPARTMENT: "SALES-EMEA",
                                                  CLAIMS + "emailaddress": "Nina.Novak@Example.COM"}))
    assert response.status_code == 302 and visitor.signed_in_as() is not None
    contact = _contact()
    assert contact["department"] == "Sales"  # "SALES", found as the lookup Sales
    assert contact["email"] == "nina.novak@example.com"
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.category == "provisioning")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.outcome == "created" and event.details["attributes"][DEPARTMENT] == ["SALES-EMEA"]


def test_a_later_sign_in_updates_through_the_transform_and_a_miss_keeps_the_note(app, transformed):
    visitor = Browser(app.test_client())
    visitor.sign_in(attributes=nina(**{DEPARTMENT: "SALES-EMEA"}))
    Browser(app.test_client()).sign_in(attributes=nina(**{DEPARTMENT: "Marketing-Nordics"}))
    assert _contact()["department"] == "Marketing"
    regex_row = _row(transformed, "department")
    mappings.save_attribute_mapping(transformed, regex_row, DEPARTMENT, "department", None, transform="regex:^(HR)")
    db.session.commit()
    Browser(app.test_client()).sign_in(attributes=nina(**{DEPARTMENT: "Sales-EMEA"}))
    assert _contact()["department"] == "Marketing"  # no match: treated as not sent, so nothing changes
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.category == "provisioning")
                               .order_by(AuditEvent.id.desc())).first()
    assert 'the transform regex:^(HR) found nothing in "Sales-EMEA"' in json_text(event)


def json_text(event) -> str:
    return f"{event.reason} {event.details}"


def test_the_dry_run_and_the_report_show_the_transform(transformed):
    response = signed_response(Spec(attributes=nina(**{DEPARTMENT: "SALES-EMEA"}), in_response_to="_req-1"))
    report = reports.build_report(config_of(transformed), response)
    department = next(f for f in report["dry_run"]["fields"] if f["field"] == "department")
    assert department == {"field": "department", "before": None, "after": "SALES",
                          "source": f'row "{DEPARTMENT}": "SALES-EMEA" through part:-:1'}
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0  # nothing provisioned


def test_the_dry_run_of_a_join_names_every_value_it_joined(transformed):
    mappings.save_attribute_mapping(transformed, None, "skills", "notes", None, transform="join:; ")
    db.session.commit()
    response = signed_response(Spec(attributes=nina(skills=["SQL", "Python"])))
    fields = {f["field"]: f for f in reports.build_report(config_of(transformed), response)["dry_run"]["fields"]}
    assert fields["notes"]["after"] == "SQL; Python"
    assert fields["notes"]["source"] == 'row "skills": "SQL", "Python" through join:; '


def test_the_report_page_shows_the_transform(admin_client, transformed):
    token = csrf_token(admin_client, "/designer/sso/entra")
    pasted = signed_response(Spec(attributes=nina(**{DEPARTMENT: "SALES-EMEA"})))
    page = admin_client.post("/designer/sso/entra/inspect", data={"csrf_token": token, "saml_response": pasted})
    text = html.unescape(page.get_data(as_text=True))
    assert f'row "{DEPARTMENT}": "SALES-EMEA" through part:-:1' in text and "SALES" in text


def _cell(page: str, row_id: int) -> str:
    row = re.search(rf'<tr id="mapping-{row_id}".*?</tr>', page, re.S).group(0)
    cell = re.search(r'<td data-label="Preview \(last sign-in\)"[^>]*>(.*?)</td>', row, re.S).group(1)
    return " ".join(re.sub(r"<(?!/?code)[^>]+>", "", html.unescape(cell)).split())


def test_the_provider_page_previews_every_row_against_the_last_attempt(app, admin_client, transformed):
    page = admin_client.get("/designer/sso/entra").get_data(as_text=True)
    assert "no sign-in attempt in the last 7 days" in page
    Browser(app.test_client()).sign_in(attributes=nina(**{DEPARTMENT: "SALES-EMEA",
                                                         CLAIMS + "emailaddress": "Nina.Novak@Example.com"}))
    page = admin_client.get("/designer/sso/entra").get_data(as_text=True)
    assert "against the sign-in attempt of" in page and "(nina.novak@example.com)" in page
    department, email, account = (_row(transformed, f).id for f in ("department", "email", "account"))
    assert _cell(page, department) == "Department: <code>SALES-EMEA</code> → <code>SALES</code>"
    assert _cell(page, email) == "Email: <code>Nina.Novak@Example.com</code> → <code>nina.novak@example.com</code>"
    assert _cell(page, account) == "not sent → default <code>Contoso Ltd</code>"
    assert "<code>part:-:1</code>" in page  # the Transform column


def test_a_saved_row_comes_back_with_its_new_preview_and_a_bad_pattern_changes_nothing(app, admin_client,
                                                                                     transformed):
    Browser(app.test_client()).sign_in(attributes=nina(**{DEPARTMENT: "SALES-EMEA"}))
    row_id = _row(transformed, "department").id
    token = csrf_token(admin_client, "/designer/sso/entra")
    data = {"csrf_token": token, "saml_attribute": DEPARTMENT, "contact_field": "department", "default_value": "",
            "update_on": "every_login"}
    edit = admin_client.get(f"/designer/sso/entra/mappings/{row_id}/edit", headers=HX).get_data(as_text=True)
    assert 'name="transform"' in edit and 'value="part:-:1"' in edit
    saved = admin_client.put(f"/designer/sso/entra/mappings/{row_id}", headers=HX,
                             data=data | {"transform": "regex:^([A-Z])[A-Z]+-(\\w+)"}).get_data(as_text=True)
    assert _cell(saved, row_id) == "Department: <code>SALES-EMEA</code> → <code>S</code>"
    refused = admin_client.put(f"/designer/sso/entra/mappings/{row_id}", headers=HX,
                               data=data | {"transform": "regex:([A-Z]"}).get_data(as_text=True)
    assert "The pattern is not a valid regular expression" in html.unescape(refused)
    assert 'aria-invalid="true"' in refused
    db.session.expire_all()
    assert _row(transformed, "department").transform == "regex:^([A-Z])[A-Z]+-(\\w+)"
    change = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.mapping_update")
                                .order_by(AuditEvent.id.desc())).first()
    assert change.changes["transform"] == {"before": "part:-:1", "after": "regex:^([A-Z])[A-Z]+-(\\w+)"}
