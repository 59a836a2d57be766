"""Access in a real browser: what a user with and without each permission sees and may do, and sessions that end
(a copied cookie included)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from crm.auth.permissions import CONTACTS_DELETE, CONTACTS_EDIT, CONTACTS_VIEW
from crm.extensions import db
from tests import factories
from tests.e2e.conftest import (
    PASSWORD,
    PHONE,
    _user,
    check_accessibility,
    no_horizontal_overflow,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e


def _person(live_server, username: str, *, roles=(), seat: bool = True, permissions=None) -> int:
    """A user in the live app's database (a role with these permissions made for them when given)."""
    with live_server.app.app_context():
        if permissions is not None:
            factories.role("Custom", tuple(permissions))
            roles = ("Custom",)
        user = _user(username, roles=tuple(roles), given_name="Pat", surname="Person")
        if seat:
            from crm.licensing.models import LicensePackage
            from crm.licensing.services import take_seat

            package = db.session.scalar(db.select(LicensePackage).filter_by(name="Marketing Creatio"))
            take_seat(user, package, "tests")
            db.session.commit()
        user_id = user.id
        db.session.remove()
    return user_id


def _log_in(page: Page, username: str) -> None:
    page.goto("/login?step=password")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_user_with_no_role_sees_the_no_access_page_not_a_wall_of_403s(page: Page, live_server, console_errors):
    console_errors.allow(r"status of 403")
    _person(live_server, "contractor@example.com", seat=False)
    _log_in(page, "contractor@example.com")
    expect(page).to_have_url(re.compile(r"/no-access$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("You have no access yet")
    expect(page.get_by_text("you hold no license seat")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)
    check_accessibility(page, label="no access")
    screenshot(page, "no-access")
    page.set_viewport_size(PHONE)
    sizes = no_horizontal_overflow(page)
    assert sizes["scrollWidth"] <= sizes["innerWidth"]
    assert page.goto("/contacts").status == 403


def test_buttons_follow_the_permissions(page: Page, live_server, console_errors):
    console_errors.allow(r"status of 403")
    bob = live_server.data.contacts["Bob Brown"]
    _person(live_server, "reader@example.com", permissions=(CONTACTS_VIEW,))
    sign_in(page, "reader@example.com")
    expect(page.get_by_role("link", name="New contact")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(["Contacts"])
    page.goto(f"/contacts/{bob}")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    assert page.goto(f"/contacts/{bob}/edit").status == 403
    assert page.goto("/accounts").status == 403


def test_edit_and_delete_show_for_a_role_that_grants_them(page: Page, live_server):
    bob = live_server.data.contacts["Bob Brown"]
    _person(live_server, "editor@example.com", permissions=(CONTACTS_VIEW, CONTACTS_EDIT, CONTACTS_DELETE))
    sign_in(page, "editor@example.com")
    page.goto(f"/contacts/{bob}")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Job title").fill("Buyer")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Contact saved.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")


def test_the_role_page_edits_permissions(page: Page, live_server):
    with live_server.app.app_context():
        sales_id = factories.role("Sales").id
        db.session.remove()
    sign_in(page, "admin")
    page.goto(f"/roles/{sales_id}")
    section = page.get_by_role("region", name="Permissions")
    section.get_by_role("group", name="Contacts").get_by_label("View").check()
    section.get_by_role("group", name="Accounts").get_by_label("View").check()
    section.get_by_role("button", name="Save permissions").click()
    expect(page.get_by_role("status")).to_have_text("Permissions of Sales saved.")
    expect(page.get_by_role("group", name="Contacts").get_by_label("View")).to_be_checked()
    expect(page.get_by_role("group", name="Contacts").get_by_label("Delete")).not_to_be_checked()
    check_accessibility(page, label="role permissions")
    screenshot(page, "role-permissions")
    page.set_viewport_size(PHONE)
    sizes = no_horizontal_overflow(page)
    assert sizes["scrollWidth"] <= sizes["innerWidth"]


def test_a_copied_cookie_stops_working_after_sign_out_everywhere(page: Page, live_server, new_context):
    sam = live_server.data.sam_id
    sign_in(page, "sam@example.com")
    thief = new_context().new_page()
    thief.context.add_cookies(page.context.cookies())
    thief.goto("/contacts")
    expect(thief.get_by_role("heading", level=1)).to_have_text("Contacts")

    admin = new_context().new_page()
    sign_in(admin, "admin")
    admin.goto(f"/users/{sam}")
    sessions = admin.get_by_role("region", name="Sessions")
    expect(sessions.locator("tbody tr")).to_have_count(1)
    expect(sessions.get_by_role("cell").last).to_contain_text(re.compile(r"^\d+ h \d+ min \(ends "))  # time left
    check_accessibility(admin, label="user sessions")
    screenshot(admin, "user-sessions")
    admin.once("dialog", lambda dialog: dialog.accept())
    sessions.get_by_role("button", name="Sign out everywhere").click()
    expect(admin.get_by_role("status")).to_have_text("sam@example.com is signed out everywhere.")
    expect(admin.get_by_text("Not signed in anywhere.")).to_be_visible()

    for browser in (page, thief):
        browser.goto("/contacts")
        expect(browser).to_have_url(re.compile(r"/login"))
        expect(browser.get_by_role("status")).to_contain_text("Your session has ended")
