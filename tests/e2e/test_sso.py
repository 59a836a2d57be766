"""Sign in with SSO in Chromium: the login page's button, the demo IdP, JIT, and what the admin sees after."""
import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, check_accessibility, no_horizontal_overflow, screenshot, sign_in


def _sign_in_through_demo_idp(page: Page, person: str, attributes_edit=None) -> None:
    page.goto("/login")
    check_accessibility(page, label="login with SSO button")
    page.get_by_role("link", name="Login via SSO (Demo IdP)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in as…")
    page.get_by_role("link", name=person).click()
    if attributes_edit:
        box = page.get_by_label("Attributes")
        box.fill(attributes_edit(box.input_value()))
    check_accessibility(page, label="demo IdP")
    page.get_by_role("button", name=re.compile(r"^Sign in as ")).click()


def test_new_hire_signs_in_with_sso_and_the_admin_sees_user_contact_and_event(page: Page, live_server, demo_provider):
    _sign_in_through_demo_idp(page, "New hire in Sales")
    expect(page).to_have_url(re.compile(r"/contacts$"))
    expect(page.locator(".topbar-name")).to_contain_text("Nina Novak")
    screenshot(page, "sso-signed-in")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "admin")
    page.goto("/users?q=nina")
    page.get_by_role("link", name="nina.novak@example.com").click()
    expect(page.locator("#user-contact").locator("..")).to_contain_text("Nina Novak")
    expect(page.get_by_text("Single sign-on (Demo IdP)")).to_be_visible()
    roles = page.locator("section", has=page.get_by_role("heading", name="Roles"))
    expect(roles).to_contain_text("Sales")
    expect(roles.get_by_text("Managed by SSO").first).to_be_visible()
    expect(page.locator("section", has=page.get_by_role("heading", name="Licenses"))).to_contain_text("Sales Creatio")
    check_accessibility(page, label="user created by SSO")

    page.goto("/audit?idp_slug=demo")
    page.get_by_role("link", name="Created nina.novak@example.com through demo").click()
    expect(page.get_by_role("rowheader", name="Department")).to_be_visible()
    expect(page.get_by_text("Account Executive").first).to_be_visible()
    check_accessibility(page, label="provisioning event")
    screenshot(page, "sso-audit-event")


def test_attributes_edited_at_the_idp_reach_the_contact(page: Page, live_server, demo_provider):
    _sign_in_through_demo_idp(page, "New hire in Sales",
                              lambda text: text.replace("department = Sales", "department = Marketing"))
    expect(page).to_have_url(re.compile(r"/contacts$"))
    page.get_by_role("searchbox", name="Search contacts").fill("nina")
    page.get_by_role("link", name="Nina Novak").click()
    expect(page.locator("section", has=page.get_by_role("heading", name="Job"))).to_contain_text("Marketing")


def test_a_refused_sign_in_shows_a_plain_page_with_a_reference(page: Page, live_server, demo_provider,
                                                               console_errors):
    console_errors.allow("status of 403")  # the refusal page is a 403 response, as it should be
    _sign_in_through_demo_idp(page, "User of a domain that is not allowed")
    expect(page.get_by_role("heading", level=1)).to_have_text("You could not be signed in")
    expect(page.get_by_text("Your email domain is not allowed")).to_be_visible()
    reference = page.locator("code.reference").inner_text()
    assert re.fullmatch(r"EV-[A-Z0-9]{8}", reference)
    check_accessibility(page, label="refusal page")
    screenshot(page, "sso-refused")
    sign_in(page, "admin")
    page.goto(f"/audit?reference={reference}")
    expect(page.get_by_role("link", name=re.compile("Refused eve@elsewhere.example"))).to_be_visible()


def test_test_sign_in_against_the_demo_idp_shows_the_report(page: Page, live_server, demo_provider):
    sign_in(page, "admin")
    page.goto("/designer/sso/demo")
    page.get_by_role("link", name="Test Sign In").click()
    page.get_by_role("link", name="Returning user who moved to Marketing").click()
    box = page.get_by_label("Attributes")
    box.fill(box.input_value().replace("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                                       "emailaddress"))
    page.get_by_role("button", name=re.compile(r"^Sign in as ")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in report")
    expect(page.get_by_role("heading", name="This response would sign the user in.")).to_be_visible()
    expect(page.locator(".checks .check-pass")).to_have_count(12)
    expect(page.get_by_text("a claim URI is not its short name")).to_be_visible()
    expect(page.locator(".topbar-name")).to_contain_text("Ada Admin")  # still signed in as themselves
    check_accessibility(page, label="sign-in report")
    screenshot(page, "sso-test-report")
    page.goto("/users?q=maria")
    expect(page.get_by_text("No users match these filters")).to_be_visible()  # nothing was provisioned


def test_the_re_post_page_looks_right_and_is_accessible(page: Page, live_server, make_provider, console_errors):
    """The page every SP-initiated sign-in passes through (shown here without its auto-submit)."""
    from tests.saml_signer import Spec, signed_response

    console_errors.allow("status of 400")  # posted on, this unsolicited response is refused, as it should be
    make_provider("okta")
    payload = signed_response(Spec(slug="okta", base_url=live_server.url, in_response_to="_not-from-this-browser"))
    page.route("**/static/js/app.js", lambda route: route.fulfill(status=200, body=""))  # keep the page on screen
    page.set_content(f'<form method="post" action="{live_server.url}/sso/okta/acs"><input type="hidden" '
                     f'name="SAMLResponse" value="{payload}"><button>Post</button></form>')
    page.get_by_role("button", name="Post").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Signing in…")
    expect(page.get_by_role("button", name="Continue")).to_be_visible()
    check_accessibility(page, label="re-post page")
    screenshot(page, "sso-re-post")
    page.set_viewport_size(PHONE)
    overflow = no_horizontal_overflow(page)
    assert overflow["scrollWidth"] <= overflow["innerWidth"], overflow


def test_the_database_unavailable_page_looks_right_and_is_accessible(page: Page, tmp_path, console_errors):
    """What every page shows while the database cannot be reached (a console of its own, pointed nowhere)."""
    from crm import create_app
    from tests.live_server import serve

    console_errors.allow("status of 503")
    app = create_app({"SECRET_KEY": "e2e", "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none",
                      "INSTANCE_PATH": str(tmp_path)})
    with serve(app) as url:
        response = page.goto(f"{url}/login")
        assert response.status == 503 and response.headers["retry-after"] == "30"
        expect(page.get_by_role("heading", level=1)).to_have_text("The CRM is briefly unavailable")
        check_accessibility(page, label="503 page")
        screenshot(page, "database-unavailable")
        page.set_viewport_size(PHONE)
        overflow = no_horizontal_overflow(page)
        assert overflow["scrollWidth"] <= overflow["innerWidth"], overflow


def test_home_realm_discovery_and_the_enforced_sso_form(page: Page, live_server, demo_provider, console_errors):
    """The login page asks who you are first: an email of the demo IdP's domain goes straight to it; where single
    sign-on is required, the password form says so and offers only the provider's button, at phone width too."""
    from crm.extensions import db
    from crm.identity_providers.models import IdentityProvider
    from tests.e2e.conftest import PASSWORD, _user

    page.goto("/login")
    page.get_by_label("Email or username").fill("nina.novak@example.com")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in as…")  # at the demo IdP, no button to find

    with live_server.app.app_context():
        _user("kim@example.com", given_name="Kim", surname="Local")  # a local user with a password, in its domain
        provider = db.session.scalar(db.select(IdentityProvider).filter_by(slug="demo"))
        provider.enforce_sso = True  # (the lock-out guard is tested without a browser)
        db.session.commit()
        db.session.remove()
    console_errors.allow("status of 403")
    page.set_viewport_size(PHONE)
    page.goto("/login?step=password")
    page.get_by_label("Username").fill("kim@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Your organization signs in with Demo IdP")
    expect(page.get_by_role("link", name="Sign in with a password")).to_have_count(0)
    check_accessibility(page, label="enforced single sign-on")
    sizes = no_horizontal_overflow(page)
    assert sizes["scrollWidth"] <= sizes["innerWidth"], sizes
    screenshot(page, "login-enforced-sso")
    page.get_by_role("link", name="Login via SSO (Demo IdP)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in as…")
