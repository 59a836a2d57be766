"""A one-time (transient) NameID never becomes a user: the Immutable ID attribute identifies the person, or the
sign-in is refused with a reason that tells the admin what to set."""
from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from tests.sso.conftest import CLAIMS, nina

TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
MAIL = CLAIMS + "emailaddress"


def _usernames() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(User.username).order_by(User.id)))


def test_with_an_immutable_id_attribute_one_person_signing_in_twice_is_one_user(visitor, entra):
    entra.immutable_id_attribute = MAIL
    db.session.commit()
    for one_time in ("_a81f2c9d0e", "_77c0b1d4aa"):  # SimpleSAMLphp's defaults: a new value each time
        response = visitor.sign_in(name_id=one_time, name_id_format=TRANSIENT, attributes=nina())
        assert response.status_code == 302
    assert _usernames() == ["nina.novak@example.com"]
    events = db.session.scalars(db.select(AuditEvent.outcome).where(AuditEvent.action == "sso.sign_in")
                                .order_by(AuditEvent.id)).all()
    assert events == ["created", "unchanged"]


def test_without_one_a_transient_name_id_is_refused_and_the_admin_is_told_what_to_set(visitor, entra):
    not_sent = visitor.sign_in(name_id="_a81f2c9d0e", name_id_format=TRANSIENT, attributes=nina())
    assert not_sent.status_code == 403  # the preset's objectidentifier is set, but this IdP does not send it
    entra.immutable_id_attribute = None
    db.session.commit()
    response = visitor.sign_in(name_id="_a81f2c9d0e", name_id_format=TRANSIENT, attributes=nina())
    assert response.status_code == 403
    assert "one-time identifier" in response.get_data(as_text=True)
    assert _usernames() == []
    first, event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "sso.sign_in")
                                      .order_by(AuditEvent.id)).all()
    assert "objectidentifier was not sent" in first.reason
    assert event.outcome == "denied" and "set the provider's Immutable ID attribute" in event.reason


def test_the_troubleshooting_report_says_so_before_anyone_signs_in(entra, runner, tmp_path):
    from tests.saml_signer import Spec, signed_response

    path = tmp_path / "response.b64"
    path.write_text(signed_response(Spec(name_id="_a81f2c9d0e", name_id_format=TRANSIENT, attributes=nina())))
    report = runner.invoke(args=["sso", "inspect", "entra", "--file", str(path)]).output
    assert "transient" in report and "Immutable ID attribute" in report


def test_the_sp_metadata_asks_for_a_persistent_or_email_name_id(entra, client):
    metadata = client.get("/sso/entra/metadata").get_data(as_text=True)
    assert ("<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>") in metadata
    assert "nameid-format:unspecified" not in metadata


def test_the_immutable_id_attribute_is_set_and_cleared_from_the_command_line(entra, runner):
    assert runner.invoke(args=["sso", "set", "entra", "--immutable-id-attribute", "mail"]).exit_code == 0
    db.session.expire_all()
    assert entra.immutable_id_attribute == "mail"
    assert runner.invoke(args=["sso", "set", "entra", "--immutable-id-attribute", ""]).exit_code == 0
    db.session.expire_all()
    assert entra.immutable_id_attribute in (None, "")
