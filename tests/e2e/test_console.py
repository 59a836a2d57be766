"""The console in a real browser: what a user sees and does, plus axe-core checks on every main page."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from crm.extensions import db
from tests import factories
from tests.e2e.conftest import (
    PASSWORD,
    PHONE,
    check_accessibility,
    no_horizontal_overflow,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e


def rows(page: Page, container: str = "#contact-results"):
    return page.locator(f"{container} tbody tr")


def names(page: Page):
    """The Full name column of the contact list."""
    return page.locator("#contact-results tbody tr td:first-child")


def prop(page: Page, label: str):
    """The <dd> next to the <dt> with this text on a detail page."""
    term = page.locator("dl.props > dt", has_text=re.compile(f"^{re.escape(label)}$"))
    return term.locator("xpath=following-sibling::dd[1]")


# --- signing in ---------------------------------------------------------------------------------------------

def test_admin_signs_in_through_the_form_and_lands_on_contacts(page: Page, live_server):
    page.goto("/contacts")
    expect(page).to_have_url(re.compile(r"/login\?next="))  # signed out: sent to the login page
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Sign in to continue.")).to_be_visible()
    expect(page.get_by_label("Email or username")).to_be_focused()
    check_accessibility(page, label="login page")

    page.get_by_label("Email or username").fill("admin")  # no provider owns it: the password form
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_label("Password")).to_be_focused()
    expect(page.get_by_label("Username")).to_have_value("admin")
    check_accessibility(page, label="password form")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The username or password is not correct.")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/contacts$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    header = page.locator("header.topbar")
    expect(header).to_contain_text("Signed in as Ada Admin")
    expect(header.get_by_text("Administrator")).to_be_visible()
    expect(header.get_by_role("button", name="Sign out")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Contacts")).to_have_attribute("aria-current", "page")
    expect(rows(page)).to_have_count(8)  # 5 contacts + the contacts of admin, sam and lee
    check_accessibility(page, label="contacts page")

    header.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()


# --- contacts -----------------------------------------------------------------------------------------------

def test_contact_search_narrows_the_table_as_you_type(page: Page, live_server):
    sign_in(page, "admin")
    expect(rows(page)).to_have_count(8)
    documents = []
    page.on("request", lambda r: r.resource_type == "document" and documents.append(r.url))
    page.evaluate("() => { window.__noReload = true; }")

    search = page.locator("#contact-search")
    with page.expect_request(lambda r: "q=Al" in r.url and r.headers.get("hx-request") == "true") as request:
        search.press_sequentially("Al", delay=50)
    assert request.value.headers.get("hx-target") == "contact-results"
    expect(names(page)).to_have_text(["Albert Alvarez", "Alice Anderson"])
    expect(page).to_have_url(re.compile(r"/contacts\?(.*&)?q=Al(&|$)"))
    expect(page.locator("#contact-results")).to_contain_text("1–2 of 2 contacts")

    search.press_sequentially("i", delay=50)  # "Ali"
    expect(names(page)).to_have_text(["Alice Anderson"])
    expect(page).to_have_url(re.compile(r"q=Ali(&|$)"))

    search.fill("Northwind")  # account names are searched too
    expect(names(page)).to_have_text(["Alice Anderson", "Bob Brown"])

    search.fill("zzz")
    expect(page.locator("#contact-results")).to_contain_text("No contacts match “zzz”")

    assert page.evaluate("() => window.__noReload") is True, "the page was reloaded"
    assert documents == [], f"full page loads during search: {documents}"
    expect(search).to_be_focused()

    # The pushed URL is a real page: opening it shows the same search.
    page.goto("/contacts?q=Al")
    expect(page.locator("#contact-search")).to_have_value("Al")
    expect(rows(page)).to_have_count(2)


def test_the_pager_pages_in_place_and_every_page_it_shows_has_a_url(page: Page, live_server):
    with live_server.app.app_context():
        for i in range(60):  # 68 contacts in all: three pages
            factories.contact(given_name="Pager", surname=f"{i:02d}")
        db.session.remove()
    sign_in(page, "admin")
    documents = []
    page.on("request", lambda r: r.resource_type == "document" and documents.append(r.url))
    results, pager = page.locator("#contact-results"), page.get_by_role("navigation", name="Pages")
    expect(results).to_contain_text("1–25 of 68 contacts")
    expect(pager).to_contain_text("Page 1 of 3")

    pager.get_by_role("link", name="Next").click()  # the 25 after the last row shown, by its id
    expect(results).to_contain_text("26–50 of 68 contacts")
    expect(page).to_have_url(re.compile(r"/contacts\?after=\d+&page=2$"))
    expect(names(page).first).to_have_text("Pager 18")
    second = page.url

    pager.get_by_role("link", name="Last").click()
    expect(pager).to_contain_text("Page 3 of 3")
    expect(results).to_contain_text("51–68 of 68 contacts")
    expect(names(page).last).to_have_text("Sam Seller")
    expect(pager.get_by_role("link", name="Next")).to_have_count(0)

    pager.get_by_role("link", name="Previous").click()
    expect(results).to_contain_text("26–50 of 68 contacts")
    expect(names(page).first).to_have_text("Pager 18")
    pager.get_by_role("link", name="First").click()
    expect(results).to_contain_text("1–25 of 68 contacts")
    expect(page).to_have_url(re.compile(r"/contacts$"))
    assert documents == [], f"full page loads while paging: {documents}"

    page.goto(second)  # a page's URL opens that page
    expect(results).to_contain_text("26–50 of 68 contacts")
    expect(names(page).first).to_have_text("Pager 18")


def test_edit_a_contact_and_see_it_in_the_audit_trail(page: Page, live_server):
    bob = live_server.data.contacts["Bob Brown"]
    sign_in(page, "admin")
    page.get_by_role("link", name="Bob Brown").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bob Brown")
    expect(prop(page, "Job title")).to_have_text("Account Manager")
    expect(prop(page, "Department")).to_have_text("Sales")

    page.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(re.compile(rf"/contacts/{bob}/edit$"))
    expect(page.get_by_label("Job title")).to_have_value("Account Manager")
    expect(page.get_by_label("Department")).to_have_value("Sales")
    page.get_by_label("Job title").fill("Head of Purchasing")
    page.get_by_label("Department").select_option(label="Finance")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(rf"/contacts/{bob}$"))
    expect(page.get_by_role("status")).to_have_text("Contact saved.")
    expect(prop(page, "Job title")).to_have_text("Head of Purchasing")
    expect(prop(page, "Department")).to_have_text("Finance")
    expect(page.locator(".subtitle")).to_have_text("Head of Purchasing")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    event = page.locator("#audit-results tbody tr").first
    expect(event).to_contain_text("Changed contact Bob Brown")
    expect(event).to_contain_text("2 fields")
    expect(event).to_contain_text("admin")
    event.get_by_role("link", name="Changed contact Bob Brown").click()
    changes = page.locator("table.diff tbody")
    expect(changes.locator("tr", has_text="Job title").locator("td.before")).to_have_text("Account Manager")
    expect(changes.locator("tr", has_text="Job title").locator("td.after")).to_have_text("Head of Purchasing")
    expect(changes.locator("tr", has_text="Department").locator("td.before")).to_have_text("Sales")
    expect(changes.locator("tr", has_text="Department").locator("td.after")).to_have_text("Finance")


# --- users and licenses -------------------------------------------------------------------------------------

def test_grant_a_license_and_be_refused_when_no_seat_is_free(page: Page, live_server):
    data = live_server.data
    sign_in(page, "admin")
    page.goto(f"/users/{data.lee_id}")
    licenses = page.locator("section[aria-labelledby=user-licenses]")
    expect(licenses).to_contain_text("No license seat.")

    grant = page.get_by_label("Grant a license")
    grant.select_option(str(data.packages["Sales Creatio"]))
    page.get_by_role("button", name="Grant").click()
    expect(page.get_by_role("status")).to_have_text("Sales Creatio granted to lee@example.com.")
    expect(licenses.locator(".chip > span")).to_have_text(["Sales Creatio"])
    expect(licenses.get_by_role("button", name="Revoke Sales Creatio")).to_be_visible()
    expect(grant.locator("option", has_text="Sales Creatio")).to_have_count(0)  # no longer offered

    expect(grant.locator("option", has_text="Service Creatio")).to_have_text("Service Creatio — 0 of 1 free")
    grant.select_option(str(data.packages["Service Creatio"]))
    page.get_by_role("button", name="Grant").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("No free seat is left")
    expect(alert).to_contain_text('"Service Creatio" (1 of 1 used)')
    expect(licenses.locator(".chip > span")).to_have_text(["Sales Creatio"])

    page.goto("/licenses")
    expect(page.locator("tr", has_text="Sales Creatio").locator("td.num").first).to_have_text("1")


def test_non_admin_gets_the_403_page_on_admin_pages_but_can_use_contacts(page: Page, live_server,
                                                                          console_errors):
    console_errors.allow(r"status of 403")  # Chromium logs every 403 response it loads
    sign_in(page, "sam@example.com")
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    expect(page.locator("header.topbar")).to_contain_text("Signed in as Sam Seller")
    expect(page.locator("header.topbar").get_by_text("Administrator")).to_have_count(0)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Contacts", "Accounts"])
    expect(rows(page)).to_have_count(8)

    response = page.goto("/users")
    assert response.status == 403
    expect(page).to_have_title(re.compile("You do not have access to this page"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You do not have access to this page")
    expect(page.get_by_text("Ask an administrator if you need it.")).to_be_visible()
    page.get_by_role("link", name="Go to the start page").click()
    expect(page).to_have_url(re.compile(r"/contacts$"))

    for path in ("/roles", "/licenses", "/audit", "/designer", f"/users/{live_server.data.lee_id}"):
        assert page.goto(path).status == 403, path


# --- phone width --------------------------------------------------------------------------------------------

def test_phone_width_has_no_sideways_scrolling_and_the_navigation_is_reachable(page: Page, live_server):
    data = live_server.data
    page.set_viewport_size(PHONE)
    sign_in(page, "admin")
    for path in ("/contacts", f"/users/{data.sam_id}", f"/contacts/{data.contacts['Bob Brown']}"):
        page.goto(path)
        sizes = no_horizontal_overflow(page)
        assert sizes["scrollWidth"] <= sizes["innerWidth"], f"{path} scrolls sideways at 390px: {sizes}"

    page.goto("/contacts")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_in_viewport()
    for label in ("Contacts", "Accounts", "Users", "Roles", "Licenses", "Audit", "System Designer"):
        link = nav.get_by_role("link", name=label)
        link.scroll_into_view_if_needed()
        expect(link).to_be_in_viewport()
    nav.get_by_role("link", name="System Designer").click()
    expect(page).to_have_url(re.compile(r"/designer$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("System Designer")
    expect(page.locator("header.topbar").get_by_role("button", name="Sign out")).to_be_in_viewport()


# --- accessibility on every main page -----------------------------------------------------------------------

ADMIN_PAGES = {
    "contacts": lambda d: "/contacts",
    "contact-detail": lambda d: f"/contacts/{d.contacts['Bob Brown']}",
    "contact-edit": lambda d: f"/contacts/{d.contacts['Bob Brown']}/edit",
    "accounts": lambda d: "/accounts",
    "users": lambda d: "/users",
    "user-detail": lambda d: f"/users/{d.sam_id}",
    "roles": lambda d: "/roles",
    "licenses": lambda d: "/licenses",
    "audit": lambda d: "/audit",
    "designer": lambda d: "/designer",
    "designer-contact-types": lambda d: "/designer/lookups/contact-types",
    "404": lambda d: "/contacts/999999",
}


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_accessibility_of_admin_pages(page: Page, live_server, console_errors, name):
    console_errors.allow(r"status of 404")
    sign_in(page, "admin")
    if name == "audit":  # a page with events in it
        page.goto(f"/contacts/{live_server.data.contacts['Bob Brown']}/edit")
        page.get_by_label("City").fill("Tacoma")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Contact saved.")
    response = page.goto(ADMIN_PAGES[name](live_server.data))
    assert response.status == (404 if name == "404" else 200)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check_accessibility(page, label=name)


def test_accessibility_of_the_403_page(page: Page, live_server, console_errors):
    console_errors.allow(r"status of 403")
    sign_in(page, "sam@example.com")
    assert page.goto("/users").status == 403
    check_accessibility(page, label="403 page")


# --- screenshots for a human to look at ---------------------------------------------------------------------

def test_screenshots(page: Page, live_server, console_errors, new_context, screens_dir):
    console_errors.allow(r"status of 403")
    d = live_server.data
    bob = d.contacts["Bob Brown"]
    page.goto("/login")
    shots = screenshot(page, "login", screens_dir)
    sign_in(page, "admin")
    # An edit first, so that the audit trail and the flash area have something to show.
    page.goto(f"/contacts/{bob}/edit")
    page.get_by_label("Job title").fill("Head of Purchasing")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_be_visible()
    shots += screenshot(page, "contact-detail", screens_dir)
    for name, path in (("contacts", "/contacts"), ("contact-edit", f"/contacts/{bob}/edit"),
                       ("users", "/users"), ("user-detail", f"/users/{d.sam_id}"),
                       ("licenses", "/licenses"), ("audit", "/audit"), ("designer", "/designer")):
        page.goto(path)
        shots += screenshot(page, name, screens_dir)

    other = new_context().new_page()  # a second browser profile for the non-admin
    console_errors.watch(other)
    sign_in(other, "sam@example.com")
    other.goto("/users")
    shots += screenshot(other, "403", screens_dir)
    assert len(shots) == 20 and all(shot.stat().st_size > 0 for shot in shots)


# --- regressions found by the first browser run --------------------------------------------------------------

def test_search_keeps_the_sort_order_chosen_in_the_table(page: Page, live_server):
    sign_in(page, "admin")
    page.locator("#contact-results").get_by_role("link", name="Full name").click()  # now descending
    expect(page).to_have_url(re.compile(r"dir=desc"))
    expect(names(page).first).to_have_text("Sam Seller")
    page.locator("#contact-search").press_sequentially("Al", delay=50)
    expect(names(page)).to_have_count(2, timeout=2_000)
    expect(page).to_have_url(re.compile(r"dir=desc"), timeout=1_000)
    expect(names(page)).to_have_text(["Alice Anderson", "Albert Alvarez"], timeout=1_000)


def test_back_and_forward_keep_the_search_box_in_step_with_the_results(page: Page, live_server):
    sign_in(page, "admin")
    # One input event, so exactly one history entry (typing key by key under load may push one per key).
    page.locator("#contact-search").fill("Al")
    expect(names(page)).to_have_count(2)
    expect(page).to_have_url(re.compile(r"q=Al"))  # htmx pushes the URL after the swap: wait for it
    page.go_back()
    expect(names(page)).to_have_count(8)
    page.go_forward()
    expect(page).to_have_url(re.compile(r"q=Al"))
    expect(names(page)).to_have_count(2)
    expect(page.locator("#contact-search")).to_have_value("Al", timeout=1_000)


def test_search_after_the_session_ended_goes_to_the_login_page(page: Page, context, live_server):
    sign_in(page, "admin")
    context.clear_cookies()  # the session cookie is gone, as after a server-side sign-out or expiry
    page.locator("#contact-search").press_sequentially("Al", delay=50)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login\?next="), timeout=1_000)
    expect(page.locator("h1")).to_have_count(1, timeout=1_000)
    expect(page.locator("#contact-results")).to_have_count(0, timeout=1_000)
