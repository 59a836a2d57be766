"""SSO at a glance: sign-ins and refusals per day and the top refusal causes on the Single Sign On configuration
page, and the certificates' validity timeline on the provider page; counted in SQL from the audit trail."""
from datetime import date, datetime, timedelta

from sqlalchemy import insert

from crm.audit.models import AuditEvent
from crm.audit.services import event_row
from crm.designer.sso_config.activity import DAYS, certificate_timeline, sso_activity
from crm.extensions import db
from crm.identity_providers import services as providers
from tests import factories
from tests.saml_signer import Spec, signed_response
from tests.sso.conftest import Browser, entra, nina  # noqa: F401  (entra: the fixture)

TODAY = date(2026, 12, 6)


def _event(slug, days_ago, action="sso.sign_in", outcome="updated", cause=None, repeats=1, category="provisioning",
           hour=10):
    at = datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time()) + timedelta(hours=hour)
    row = event_row(action, "x", category=category, actor=(None, "sso"), idp_slug=slug, outcome=outcome,
                    details={"cause": cause} if cause else {})
    db.session.execute(insert(AuditEvent.__table__).values(row | {"occurred_at": at, "repeat_count": repeats}))


def test_counts_per_day_and_top_causes_in_two_grouped_statements(app):
    for args in [("okta", 0), ("okta", 0, "sso.sign_in", "created"), ("okta", 0, "sso.sign_in", "unchanged"),
                 ("okta", 0, "sso.sign_in", "denied", "jit_off"),
                 ("okta", 2, "sso.rejected", "rejected", "signature", 5),  # a refusal folded five times
                 ("okta", 2, "sso.rejected", "rejected", "replay", 2), ("okta", 3, "sso.rejected", "rejected", None),
                 ("okta", 1, "sso.sign_in", "denied", "domain"), ("okta", DAYS - 1), ("entra", 1)]:
        _event(*args)
    _event("okta", 0, hour=23)  # late in the day is still that day
    _event("okta", DAYS)  # a day too old
    _event("okta", 0, "scim.user_create", "created")  # not a sign-in
    _event("okta", 0, "sso.provider_update", None, category="config")
    db.session.commit()
    activity = sso_activity(["okta", "entra", "adfs"], today=TODAY)
    okta = activity["okta"]
    assert len(okta.days) == DAYS and okta.days[0].day == TODAY - timedelta(days=DAYS - 1)
    by_day = {d.day: (d.signed_in, d.refused) for d in okta.days}
    assert by_day[TODAY] == (4, 1)
    assert by_day[TODAY - timedelta(days=1)] == (0, 1)
    assert by_day[TODAY - timedelta(days=2)] == (0, 7)
    assert by_day[TODAY - timedelta(days=3)] == (0, 1)
    assert by_day[TODAY - timedelta(days=DAYS - 1)] == (1, 0)
    assert (okta.signed_in, okta.refused, okta.peak) == (5, 10, 7)
    assert okta.causes == (("signature", 5), ("replay", 2), ("domain", 1))  # the top three, most frequent first
    assert (activity["entra"].signed_in, activity["entra"].refused, activity["entra"].causes) == (1, 0, ())
    assert activity["adfs"].refused == 0 and activity["adfs"].peak == 1


def test_the_page_shows_real_sign_ins_and_refusals_with_their_tables(app, entra, admin_client):  # noqa: F811
    client = app.test_client()  # the visitor's browser; admin_client is the administrator's
    visitor = Browser(client)
    assert visitor.sign_in(attributes=nina()).status_code == 302
    providers.save_provider(entra, providers.provider_values(entra) | {"jit_enabled": False})
    db.session.commit()
    assert visitor.sign_in(name_id="someone.new@example.com", attributes=nina()).status_code == 403  # jit_off
    unasked = client.post("http://localhost/sso/entra/acs", data={"SAMLResponse": signed_response(
        Spec(attributes=nina()))})  # IdP-initiated, which the provider does not allow
    assert unasked.status_code >= 400
    page = admin_client.get("/designer/sso").get_data(as_text=True)
    section = page[page.index('id="activity"'):]
    assert "Contoso Entra ID</a>:\n    1 sign-in and 2 refusals in the last 30 days" in section
    assert "<code>jit_off</code> 1" in section
    assert '<svg class="chart-svg"' in section and 'role="img"' in section
    today = date.today().isoformat()
    assert f'<th scope="row">{today}</th><td class="num">1</td><td class="num">2</td>' in section


def test_the_provider_page_draws_its_certificates_validity(app, admin_client):
    provider = factories.provider("okta")
    timeline = certificate_timeline(provider.certificates)
    assert len(timeline.spans) == 1 and timeline.spans[0].start == 0 and timeline.spans[0].end == 1
    assert 0 <= timeline.today <= 1 and not timeline.spans[0].expired
    page = admin_client.get("/designer/sso/okta").get_data(as_text=True)
    cert = provider.certificates[0]
    assert "Validity of the signing certificates" in page and 'class="bar-valid"' in page
    assert (f"<td>{cert.not_before:%Y-%m-%d}</td><td>{cert.not_after:%Y-%m-%d}</td><td>Valid</td>") in page
    assert certificate_timeline([]) is None


def test_past_days_are_counted_once_and_today_at_every_page(app):
    _event("okta", 1)
    db.session.commit()
    assert sso_activity(["okta"], today=TODAY)["okta"].signed_in == 1
    _event("okta", 0, "sso.rejected", "rejected", "signature", 3)
    db.session.commit()
    again = sso_activity(["okta"], today=TODAY)["okta"]
    assert (again.signed_in, again.refused, again.causes) == (1, 3, (("signature", 3),))
    tomorrow = sso_activity(["okta"], today=TODAY + timedelta(days=1))["okta"]  # yesterday's count is made anew
    assert (tomorrow.signed_in, tomorrow.refused) == (1, 3)
