"""SimpleSAMLphp as a real third-party IdP: Debian's package, configured in a folder of the test's own and served by
PHP's built-in server on a free port of 127.0.0.1 (`make simplesamlphp` installs it).

The SP entry is SimpleSAMLphp's own reading of our SP metadata (its SAMLParser, each time it loads the entry), with
the few options an IdP admin sets on top (`validate.authnrequest`, `assertion.encryption`, ...). A test drives a
sign-in as a browser would: the AuthnRequest URL our login answered with, SimpleSAMLphp's login form, and the form
it answers with, whose SAMLResponse the test then posts to our ACS.
"""
from __future__ import annotations

import contextlib
import html
import http.client
import http.cookiejar
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lxml import html as lxml_html

from tests.debian import install_command
from tests.saml_keys import key_pair

ROOT = Path("/usr/share/simplesamlphp")
PHP = Path("/usr/bin/php")
PACKAGES = "simplesamlphp php-cli php-xml php-mbstring"
PASSWORD = "nina-password"
USERS = {"nina": {"mail": "nina.novak@example.com", "givenName": "Nina", "sn": "Novak"}}


@dataclass(frozen=True)
class Answer:
    """What SimpleSAMLphp answered a browser with: the form it posts to the SP, or an error page."""

    action: str | None
    saml_response: str | None
    relay_state: str | None
    page: str

    @property
    def error(self) -> str:
        """The error page's text (whitespace squeezed), for asserting on SimpleSAMLphp's own words."""
        return " ".join(lxml_html.fromstring(self.page).text_content().split()) if self.page else ""


def missing() -> str | None:
    """Why SimpleSAMLphp cannot run here, naming the command that fixes it; None when it can (what `make
    simplesamlphp` checks: the package, PHP's command line and the dom and mbstring extensions)."""
    if (ROOT / "www" / "saml2" / "idp" / "SSOService.php").is_file() and PHP.is_file() and subprocess.run(
            [str(PHP), "-r", 'exit(extension_loaded("dom") && extension_loaded("mbstring") ? 0 : 1);'],
            capture_output=True, check=False).returncode == 0:
        return None
    return (f"SimpleSAMLphp is missing: run `make simplesamlphp` (or "
            f"{install_command('--no-install-recommends ' + PACKAGES)})")


class SimpleSamlPhp:
    """One SimpleSAMLphp IdP: its config folder, its PHP server, and the files a test rewrites between sign-ins."""

    def __init__(self, folder: Path):
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.php_log = None

    @property
    def entity_id(self) -> str:
        """The hosted IdP's entity ID (SimpleSAMLphp's own default: its metadata URL)."""
        return self.metadata_url

    @property
    def metadata_url(self) -> str:
        """Where SimpleSAMLphp publishes the IdP's metadata."""
        return f"{self.base_url}/saml2/idp/metadata.php"

    def configure(self) -> None:
        """Write config.php, authsources.php, the hosted IdP with the suite's key and an SP entry with no SP yet."""
        for sub in ("metadata", "cert", "log", "data", "tmp", "sessions"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        (self.folder / "config.php").write_text(_CONFIG_PHP % {"base": self.base_url + "/", "folder": self.folder})
        self.set_users(USERS)
        self.set_idp_key(*key_pair("simplesamlphp-idp"))
        (self.folder / "metadata" / "saml20-sp-remote.php").write_text(_SP_REMOTE_PHP)
        self.trust_sp(None)

    def set_users(self, users: dict[str, dict[str, str]]) -> None:
        """The exampleauth:UserPass users (every one with PASSWORD) and the attributes SimpleSAMLphp releases."""
        entries = {f"{name}:{PASSWORD}": {k: [v] for k, v in attributes.items()} for name, attributes in users.items()}
        (self.folder / "authsources.php").write_text(
            "<?php\n$config = [\n  'admin' => ['core:AdminPassword'],\n"
            f"  'example-userpass' => array_merge(['exampleauth:UserPass'], {_php(entries)}),\n];\n")

    def set_idp_key(self, key_pem: str, cert_pem: str, next_cert_pem: str | None = None) -> None:
        """The hosted IdP signs with this key; `next_cert_pem` is published beside it (SimpleSAMLphp's rollover)."""
        (self.folder / "cert" / "idp.key").write_text(key_pem)
        (self.folder / "cert" / "idp.crt").write_text(cert_pem)
        hosted = {"host": "__DEFAULT__", "privatekey": "idp.key", "certificate": "idp.crt",
                  "auth": "example-userpass", "signature.algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}
        if next_cert_pem:
            (self.folder / "cert" / "idp-next.crt").write_text(next_cert_pem)
            hosted["new_certificate"] = "idp-next.crt"
        (self.folder / "metadata" / "saml20-idp-hosted.php").write_text(
            f"<?php\n$metadata['__DYNAMIC:1__'] = {_php(hosted)};\n")

    def trust_sp(self, sp_metadata: str | None, **options) -> None:
        """The SP entry: SimpleSAMLphp reads our SP metadata itself; `options` are set on top (e.g.
        `**{"validate.authnrequest": True}`). None removes the SP."""
        sp_file = self.folder / "metadata" / "sp.xml"
        if sp_metadata is None:
            sp_file.unlink(missing_ok=True)
        else:
            sp_file.write_text(sp_metadata)
        (self.folder / "metadata" / "sp-options.json").write_text(json.dumps(options))

    def start(self) -> None:
        """Serve SimpleSAMLphp; return once it answers its metadata URL."""
        environment = {**os.environ, "SIMPLESAMLPHP_CONFIG_DIR": str(self.folder)}
        self.php_log = (self.folder / "log" / "php-server.log").open("wb")
        # Without opcache.enable=0 PHP's server keeps serving the config files as they were for seconds.
        self.process = subprocess.Popen(
            [str(PHP), "-d", "opcache.enable=0", "-S", f"127.0.0.1:{self.port}", "-t", str(ROOT / "www")],
            env=environment, stdout=subprocess.DEVNULL, stderr=self.php_log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/saml2/idp/metadata.php")
                if connection.getresponse().status == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"SimpleSAMLphp did not answer on port {self.port}:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the PHP server."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.php_log is not None:
            self.php_log.close()

    def log_tail(self, size: int = 3000) -> str:
        """The end of SimpleSAMLphp's log and PHP's, for a failure message."""
        text = ""
        for log in sorted((self.folder / "log").glob("*.log")):
            text += f"--- {log.name}\n" + log.read_text(errors="replace")[-size:]
        return text

    def answer(self, url: str, username: str = "nina", password: str = PASSWORD) -> Answer:
        """Open `url` (the AuthnRequest our login redirected to, or an IdP-initiated one) in a fresh browser, sign in
        on SimpleSAMLphp's login form and return what it answers with."""
        browser = IdpBrowser()
        page, final_url = browser.get(url)
        if login := _form(page, "username"):
            fields = login[1] | {"username": username, "password": password}
            page, final_url = browser.post(urllib.parse.urljoin(final_url, login[0]), fields)
        if posted := _form(page, "SAMLResponse"):
            return Answer(posted[0], posted[1]["SAMLResponse"], posted[1].get("RelayState"), page)
        return Answer(None, None, None, page)

    def idp_initiated_url(self, sp_entity_id: str, relay_state: str | None = None) -> str:
        """SimpleSAMLphp's unsolicited sign-in URL for the SP."""
        query = {"spentityid": sp_entity_id} | ({"RelayState": relay_state} if relay_state else {})
        return f"{self.base_url}/saml2/idp/SSOService.php?{urllib.parse.urlencode(query)}"


class IdpBrowser:
    """A browser as far as SimpleSAMLphp sees one: cookies kept, redirects followed, error pages read."""

    def __init__(self):
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, url: str) -> tuple[str, str]:
        """GET and follow redirects: (page, final URL)."""
        return self._open(urllib.request.Request(url))

    def post(self, url: str, fields: dict[str, str]) -> tuple[str, str]:
        """POST a form and follow redirects: (page, final URL)."""
        return self._open(urllib.request.Request(url, urllib.parse.urlencode(fields).encode()))

    def _open(self, request: urllib.request.Request) -> tuple[str, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.read().decode(errors="replace"), response.url
        except urllib.error.HTTPError as error:  # SimpleSAMLphp's error pages come with a 500 or 403
            return error.read().decode(errors="replace"), error.url


def _form(page: str, field: str) -> tuple[str, dict[str, str]] | None:
    """(action, fields) of the page's first form with the field, or None."""
    if "<form" not in page:
        return None
    for form in lxml_html.fromstring(page).forms:
        fields = dict(form.form_values())
        if field in fields:
            return html.unescape(form.action or ""), fields
    return None


def _php(value) -> str:
    """A Python value as a PHP literal (strings, booleans, lists and dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{_php(k)} => {_php(v)}" for k, v in value.items()) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_php(v) for v in value) + "]"
    raise TypeError(f"no PHP literal for {value!r}")


@contextlib.contextmanager
def simplesamlphp():
    """A configured SimpleSAMLphp, serving until the block ends; its folder is removed afterwards."""
    if reason := missing():
        raise RuntimeError(reason)
    folder = Path(tempfile.mkdtemp(prefix="simplesamlphp-"))
    idp = SimpleSamlPhp(folder)
    try:
        idp.configure()
        idp.start()
        yield idp
    finally:
        idp.stop()
        shutil.rmtree(folder, ignore_errors=True)


_CONFIG_PHP = """<?php
$config = [
    'baseurlpath' => '%(base)s',
    'certdir' => '%(folder)s/cert/',
    'loggingdir' => '%(folder)s/log/',
    'datadir' => '%(folder)s/data/',
    'tempdir' => '%(folder)s/tmp/',
    'metadatadir' => '%(folder)s/metadata/',
    'attributenamemapdir' => '/etc/simplesamlphp/attributemap/',
    'secretsalt' => 'simplesamlphp-test-salt',
    'auth.adminpassword' => 'simplesamlphp-test-admin',
    'technicalcontact_name' => 'Tests',
    'technicalcontact_email' => 'na@example.org',
    'timezone' => 'UTC',
    'enable.saml20-idp' => true,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => '%(folder)s/sessions',
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'language.cookie.secure' => false,
    'language.cookie.samesite' => null,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'logging.level' => SimpleSAML\\Logger::INFO,
    'showerrors' => true,
    'errorreporting' => false,
    'production' => false,
];
"""

# The SP entry, as SimpleSAMLphp's metadata converter would make it from sp.xml (our SP metadata), read each time
# the entry is loaded, with sp-options.json's options on top.
_SP_REMOTE_PHP = """<?php
if (is_file(__DIR__ . '/sp.xml')) {
    $options = json_decode(file_get_contents(__DIR__ . '/sp-options.json'), true);
    foreach (\\SimpleSAML\\Metadata\\SAMLParser::parseDescriptorsFile(__DIR__ . '/sp.xml') as $entityId => $entity) {
        $metadata[$entityId] = array_merge($entity->getMetadata20SP(), $options);
    }
}
"""
