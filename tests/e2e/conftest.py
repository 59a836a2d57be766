"""Browser tests: a live server on a temporary SQLite file, driven by Debian's Chromium through Playwright.

Fixtures
  live_app, live_server   the app on a temporary SQLite file, served by werkzeug in a thread for the whole
                          session; live_server empties and seeds the database again for each test
                          (`live_server.data` holds the ids)
  make_provider           make_provider("okta") adds an identity provider (tests.factories.provider) to the
                          live app's database and returns its slug
  page                    pytest-playwright's page (base_url = the live server); console errors and uncaught
                          exceptions of every page in the context fail the test
                          (`console_errors.allow(regex)` for expected ones, such as a 403 response)
Helpers
  sign_in(page, username)      through the real login form (CSRF on); later calls reuse the session
  check_accessibility(page)    axe-core; fails on "serious" or "critical" violations
  screenshot(page, name)       desktop (1280x800) and phone (390x844) PNGs in /tmp/e2e-screens
  no_horizontal_overflow(page) the document's scroll width against the viewport's

Chromium: /usr/bin/chromium (never `playwright install`); `make test` installs it when it is missing and
may. Without it every test here fails, saying the command to run: browser tests are never skipped.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import delete
from werkzeug.serving import make_server

from crm import create_app
from crm.demo.lookups import ADMIN_ROLE, load_lookups
from crm.extensions import db
from crm.licensing.services import take_seat
from tests import factories
from tests.debian import install_command

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHROMIUM = "/usr/bin/chromium"
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENS = Path(os.environ.get("CRM_E2E_SCREENS", "/tmp/e2e-screens"))
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = factories.PASSWORD


# --- collection: every test in this folder is an e2e test -------------------------------------------------

def pytest_collection_modifyitems(config, items):
    # Conftest hooks see every collected item, so only mark the ones in this folder.
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def _require_chromium():
    """Fail, with the command that installs it, when Debian's Chromium is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing; run: {install_command('chromium')}", pytrace=False)


# --- Playwright configuration ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"],
    }


@pytest.fixture(scope="session")
def base_url(_live) -> str:
    """page.goto("/contacts") goes to the live server."""
    return _live.url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # The app's Content-Security-Policy stays enforced (no bypass_csp): a CSP violation in our pages is
    # a console error and fails the test. axe-core is injected through the DevTools protocol instead of
    # an inline <script> (see check_accessibility), which CSP does not govern.
    return {**browser_context_args, "viewport": DESKTOP, "locale": "en-GB", "timezone_id": "UTC"}


# --- the live server ------------------------------------------------------------------------------------

@dataclass
class Data:
    """Ids and names of the rows every test starts with."""

    admin_id: int = 0
    sam_id: int = 0          # non-admin user (holds the only seat of "Service Creatio")
    lee_id: int = 0          # non-admin user without licenses, the target for grants
    contacts: dict[str, int] = field(default_factory=dict)   # full name -> id
    accounts: dict[str, int] = field(default_factory=dict)
    packages: dict[str, int] = field(default_factory=dict)


@dataclass
class LiveServer:
    url: str
    app: object
    data: Data = field(default_factory=Data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    """The app on a temporary SQLite file, CSRF on, with the schema created (data: see `live_server`)."""
    tmp = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    app = create_app({
        "TESTING": True,
        "WTF_CSRF_ENABLED": True,
        "SECRET_KEY": "e2e-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'e2e.sqlite3'}",
        "INSTANCE_PATH": str(tmp / "instance"),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "DEV_IDP": "1",  # the demo identity provider, for the SSO browser tests
    })
    app.config["E2E_PORT"] = port
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def _live(live_app):
    """Serve live_app with werkzeug in a daemon thread for the whole session."""
    port = live_app.config["E2E_PORT"]
    server = make_server("127.0.0.1", port, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{port}", app=live_app)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def live_server(_live) -> LiveServer:
    """The live server, its database emptied and seeded again so each test starts from the same data."""
    with _live.app.app_context():
        db.session.remove()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(delete(table))
        db.session.commit()
        _live.data = _seed()
        db.session.remove()
    return _live


_PASSWORD_HASH: str | None = None


def _user(username: str, **kwargs):
    """factories.user with the password hash computed once per session (scrypt is slow on purpose)."""
    global _PASSWORD_HASH
    u = factories.user(username, password=None, **kwargs)
    if _PASSWORD_HASH is None:
        u.set_password(PASSWORD)
        _PASSWORD_HASH = u.password_hash
    u.password_hash = _PASSWORD_HASH
    db.session.commit()
    return u


def _seed() -> Data:
    from crm.contacts.models import Account, ContactType, Department

    load_lookups()
    data = Data()
    northwind = Account(name="Northwind Traders", industry="Wholesale", city="Seattle")
    contoso = Account(name="Contoso Ltd", industry="Manufacturing", city="Redmond")
    db.session.add_all([northwind, contoso])
    db.session.commit()
    data.accounts = {a.name: a.id for a in (northwind, contoso)}

    customer = db.session.scalar(db.select(ContactType).filter_by(name="Customer"))
    sales = db.session.scalar(db.select(Department).filter_by(name="Sales"))
    people = [
        ("Alice", "Anderson", "alice.anderson@northwind.example", northwind, "Buyer"),
        ("Albert", "Alvarez", "albert.alvarez@contoso.example", contoso, "Plant Manager"),
        ("Bob", "Brown", "bob.brown@northwind.example", northwind, "Account Manager"),
        ("Carol", "Chen", "carol.chen@contoso.example", contoso, "CFO"),
        ("Dmitri", "Dunn", "dmitri.dunn@example.org", None, None),
    ]
    for given, surname, email, account, job in people:
        c = factories.contact(given_name=given, surname=surname, email=email, account=account, job_title=job,
                              type=customer, department=sales if job else None, city="Seattle")
        data.contacts[c.full_name] = c.id

    admin = _user("admin", roles=(ADMIN_ROLE,), given_name="Ada", surname="Admin")
    sam = _user("sam@example.com", roles=("All employees",), given_name="Sam", surname="Seller",
                job_title="Sales Representative")
    lee = _user("lee@example.com", given_name="Lee", surname="Learner")
    factories.role("Sales")
    sales_pkg = factories.package("Sales Creatio", 25)
    service_pkg = factories.package("Service Creatio", 1)
    marketing_pkg = factories.package("Marketing Creatio", None)
    take_seat(sam, service_pkg, "admin")  # the only seat: "Service Creatio" now has 0 free
    take_seat(admin, marketing_pkg, "admin")
    db.session.commit()
    data.admin_id, data.sam_id, data.lee_id = admin.id, sam.id, lee.id
    data.packages = {p.name: p.id for p in (sales_pkg, service_pkg, marketing_pkg)}
    return data


@pytest.fixture
def make_provider(live_server):
    """make_provider(slug, **settings): an identity provider (tests.factories.provider) in the live app's
    database, committed inside the live app's context; returns its slug."""
    def make(slug: str = "okta", **settings) -> str:
        with live_server.app.app_context():
            saved = factories.provider(slug, **settings).slug
            db.session.remove()
        return saved
    return make


@pytest.fixture
def demo_provider(live_server):
    """Provider "demo" (the demo IdP of `make run`) registered in the live app, with the roles it maps."""
    from crm.contacts.models import Account
    from crm.dev_idp.provider import register_demo_provider

    with live_server.app.app_context():
        factories.role("Marketing")
        factories.role("All employees")
        db.session.add(Account(name="Acme Corporation"))
        register_demo_provider()
        db.session.commit()
        db.session.remove()
    return "demo"


# --- console errors ---------------------------------------------------------------------------------------

class ConsoleErrors:
    """Console messages of type "error" and uncaught page exceptions, from every page of the context."""

    def __init__(self):
        self.errors: list[str] = []
        self._allowed: list[re.Pattern] = []

    def watch(self, page: Page) -> None:
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console.error on {page.url}: {m.text} ({m.location.get('url', '')})"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught exception on {page.url}: {e}"))

    def allow(self, pattern: str) -> None:
        """Expect errors matching this regex (e.g. the browser's note about a 403 response)."""
        self._allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self._allowed)]

    def assert_none(self) -> None:
        found = self.unexpected()
        if found:
            pytest.fail("errors in the browser console:\n  " + "\n  ".join(found), pytrace=False)


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def context(context, console_errors, live_server):
    """pytest-playwright's context; every page opened in it reports its console errors."""
    context.on("page", console_errors.watch)
    context.set_default_timeout(5_000)
    yield context


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a browser test's body passed, fail it if a page logged an error or threw."""
    result = yield
    collected = getattr(item, "funcargs", {}).get("console_errors")
    if isinstance(collected, ConsoleErrors):
        collected.assert_none()
    return result


# --- signing in -------------------------------------------------------------------------------------------

def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a user would, and land on Contacts (each test signs in anew: sessions
    live in the database, which every test starts again from the seed)."""
    page.goto("/login?step=password")  # the password form itself (the first question is tested on its own)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/contacts(\?|$)"))


# --- accessibility ----------------------------------------------------------------------------------------

_AXE_SOURCE: str | None = None


def _axe_source() -> str:
    global _AXE_SOURCE
    if _AXE_SOURCE is None:
        if not AXE_JS.exists():
            pytest.fail(f"{AXE_JS.relative_to(ROOT)} is missing: run `npm install` in {ROOT} "
                        "(`make test` installs it)", pytrace=False)
        _AXE_SOURCE = AXE_JS.read_text(encoding="utf-8")
    return _AXE_SOURCE


def check_accessibility(page: Page, *, label: str | None = None) -> None:
    """Run axe-core on the page as it is; fail on any "serious" or "critical" violation.

    page.add_script_tag(path=...) would add an inline <script>, which the app's CSP (script-src 'self')
    blocks (and reports as a console error). Evaluating axe's source through the DevTools protocol is not
    subject to the page's CSP, so the CSP stays on for every test.
    """
    source = _axe_source()
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source + "\n;void 0")
    results = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200),
                                      summary: n.failureSummary}))}));
    }""")
    serious = [v for v in results if v["impact"] in ("serious", "critical")]
    if serious:
        lines = [f"axe found {len(serious)} serious/critical violation(s) on {label or page.url}:"]
        for v in serious:
            lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
            for node in v["nodes"]:
                lines.append(f"    {node['target']}  {node['html']}")
                if node["summary"]:
                    lines.append("      " + node["summary"].replace("\n", "\n      "))
        pytest.fail("\n".join(lines), pytrace=False)


# --- screenshots ------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def screens_dir() -> Path:
    shutil.rmtree(SCREENS, ignore_errors=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    return SCREENS


def screenshot(page: Page, name: str, directory: Path = SCREENS) -> list[Path]:
    """Full-page PNGs of the current page at desktop and phone width: <name>-desktop.png, <name>-phone.png."""
    directory.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    paths = []
    for suffix, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = directory / f"{name}-{suffix}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
        paths.append(path)
    page.set_viewport_size(before or DESKTOP)
    return paths


def no_horizontal_overflow(page: Page) -> dict:
    """The document's scroll width against the viewport (the page must not scroll sideways)."""
    return page.evaluate("""() => ({scrollWidth: document.documentElement.scrollWidth,
                                     innerWidth: window.innerWidth,
                                     wide: [...document.querySelectorAll('body *')]
                                       .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                                       .filter(e => !e.closest('.table-wrap, .sidebar'))
                                       .slice(0, 5).map(e => e.tagName.toLowerCase() +
                                         (e.id ? '#' + e.id : '') +
                                         (e.className && typeof e.className === 'string'
                                            ? '.' + e.className.trim().split(/\\s+/).join('.') : ''))})""")
