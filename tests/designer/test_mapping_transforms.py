"""Mapping transforms as configuration: `sso map --transform`, the export and import, the row form; bad values are
refused with the reason and change nothing."""
import html
import json

import pytest

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.models import AttributeMapping, IdentityProvider
from tests import factories
from tests.conftest import cli_ok as _ok
from tests.conftest import csrf_token

HX = {"HX-Request": "true"}



def _transforms():
    return dict(db.session.execute(db.select(AttributeMapping.contact_field, AttributeMapping.transform)).all())


def test_sso_map_sets_changes_and_clears_a_transform(runner, app):
    factories.provider("okta")
    out = _ok(runner, "sso", "map", "okta", "--attribute", "dept", "--field", "department", "--transform", "part:-:1")
    assert "transform part:-:1" in out
    _ok(runner, "sso", "map", "okta", "--attribute", "mail", "--field", "email", "--transform", " LOWERCASE ")
    _ok(runner, "sso", "map", "okta", "--attribute", "groups", "--field", "notes", "--transform", "join:, ")
    _ok(runner, "sso", "map", "okta", "--attribute", "cn", "--field", "job_title", "--transform", r"regex:^([^,]+)")
    assert _transforms() == {"department": "part:-:1", "email": "lowercase", "notes": "join:, ",
                             "job_title": "regex:^([^,]+)"}
    _ok(runner, "sso", "map", "okta", "--attribute", "dept", "--field", "department")  # the row as given: none
    assert _transforms()["department"] is None
    events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action.like("sso.mapping_%"))
                                .order_by(AuditEvent.id)).all()
    assert events[0].changes["transform"] == {"before": None, "after": "part:-:1"}
    assert events[-1].changes["transform"] == {"before": "part:-:1", "after": None}


@pytest.mark.parametrize("transform, message", [
    ("titlecase", '"titlecase" is not a transform'),
    ("part:-:0", 'The part number "0" must be a whole number from 1'),
    ("part:-", "Write part:SEP:N"),
    ("regex:([a-z]", "The pattern is not a valid regular expression"),
    ("regex:^[a-z]+$", "The pattern needs a group in parentheses"),
    ("regex:(" + "a" * 200 + ")", "The pattern is longer than 200 characters"),
    ("join:", "Give the separator after the colon"),
])
def test_sso_map_refuses_a_malformed_transform_with_exit_2_and_changes_nothing(runner, app, transform, message):
    factories.provider("okta")
    _ok(runner, "sso", "map", "okta", "--attribute", "dept", "--field", "department", "--transform", "uppercase")
    before = json.loads(_ok(runner, "sso", "export"))
    result = runner.invoke(args=["sso", "map", "okta", "--attribute", "dept", "--field", "department",
                                 "--transform", transform])
    assert result.exit_code == 2 and "--transform" in result.stderr and message in result.stderr
    assert json.loads(_ok(runner, "sso", "export")) == before


def test_sso_map_with_a_good_transform_on_a_bad_row_exits_1(runner, app):
    factories.provider("okta")
    result = runner.invoke(args=["sso", "map", "okta", "--attribute", "x", "--field", "salary",
                                 "--transform", "lowercase"])
    assert result.exit_code == 1 and '"salary" is not a contact field' in result.stderr
    assert _transforms() == {}


def test_export_carries_the_transform_and_import_round_trips_it(runner, app, tmp_path):
    factories.provider("okta")
    _ok(runner, "sso", "map", "okta", "--attribute", "dept", "--field", "department", "--transform", "part:-:2")
    _ok(runner, "sso", "map", "okta", "--attribute", "mail", "--field", "email")
    exported = json.loads(_ok(runner, "sso", "export", "okta"))
    rows = {r["field"]: r for r in exported["providers"][0]["attribute_mappings"]}
    assert rows["department"]["transform"] == "part:-:2" and rows["email"]["transform"] is None
    path = tmp_path / "config.json"
    path.write_text(json.dumps(exported))
    db.session.delete(db.session.scalar(db.select(IdentityProvider)))
    db.session.commit()
    assert "created okta" in _ok(runner, "sso", "import", str(path))
    assert json.loads(_ok(runner, "sso", "export", "okta")) == exported
    # A changed transform in the file is applied to the existing row.
    rows["department"]["transform"] = "strip-domain"
    path.write_text(json.dumps(exported))
    assert "updated okta" in _ok(runner, "sso", "import", str(path))
    assert _transforms()["department"] == "strip-domain"


@pytest.mark.parametrize("bad, message", [
    ("regex:(unclosed", "transform: The pattern is not a valid"),
    (42, "transform: The transform must be text"),
])
def test_import_refuses_a_bad_transform_and_changes_nothing(runner, app, tmp_path, bad, message):
    factories.provider("okta")
    _ok(runner, "sso", "map", "okta", "--attribute", "dept", "--field", "department", "--transform", "uppercase")
    exported = json.loads(_ok(runner, "sso", "export"))
    exported["providers"][0]["attribute_mappings"][0]["transform"] = bad
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(exported))
    result = runner.invoke(args=["sso", "import", str(path)])
    assert result.exit_code == 1
    assert "provider #1 (okta)" in result.stderr and message in result.stderr
    assert _transforms() == {"department": "uppercase"}


@pytest.fixture
def okta(app):
    return factories.provider("okta")


def test_the_row_form_adds_a_transform_and_refuses_a_bad_one(admin_client, okta):
    token = csrf_token(admin_client, "/designer/sso/okta")
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert 'id="mapping-form-new-transform"' in page and 'aria-describedby="transform-help"' in page
    row = {"csrf_token": token, "saml_attribute": "dept", "contact_field": "department", "default_value": "",
           "update_on": "every_login"}
    refused = admin_client.post("/designer/sso/okta/mappings", headers=HX, data=row | {"transform": "part:-:x"})
    body = html.unescape(refused.get_data(as_text=True))
    assert 'The part number "x" must be a whole number from 1' in body
    assert refused.headers.get("HX-Retarget") == "#mapping-new" and _transforms() == {}
    plain = admin_client.post("/designer/sso/okta/mappings", data=row | {"transform": "part:-:1"})
    assert plain.status_code == 302 and _transforms() == {"department": "part:-:1"}
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    assert "<code>part:-:1</code>" in page
