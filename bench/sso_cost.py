"""Cost of one SSO sign-in, in process: bare python3-saml beside our full ACS (returning user, first login).

Responses are signed before timing. The reference builds a new OneLogin_Saml2_Auth per response with the
same settings dict and calls process_response(), nothing else. Our sign-in is timed as a browser makes it: the
IdP's cross-site POST (no session cookie comes with it) and, when the ACS answers with the page that posts the
form again from our own site, that re-post. These responses are IdP-initiated, which needs no re-post.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from crm import create_app
from crm.demo.lookups import load_lookups
from crm.extensions import db
from tests import factories
from tests.saml_signer import Spec, signed_response
from tests.sso.conftest import CLAIMS, GROUPS, SALES_GROUP

FORM = "application/x-www-form-urlencoded"


def _people(prefix: str, count: int) -> list[Spec]:
    return [Spec(slug="bench", name_id=f"{prefix}{i}@example.com", attributes={
        CLAIMS + "emailaddress": f"{prefix}{i}@example.com", CLAIMS + "givenname": f"Given{i}",
        CLAIMS + "surname": f"Surname{i}", CLAIMS + "department": "Sales", GROUPS: [SALES_GROUP, "all-staff"]})
        for i in range(count)]


def _setup(database_url: str):
    from crm.identity_providers import mappings

    # The refusal limiter off: the hostile responses' benchmark times refusing each one, not the 429 that a client
    # sending thousands a minute would soon get (valid sign-ins never count towards it).
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": database_url,
                      "INSTANCE_PATH": tempfile.mkdtemp(), "BASE_URL": "http://localhost", "RATELIMIT_ENABLED": False})
    with app.app_context():
        db.drop_all()
        db.create_all()
        load_lookups()
        factories.package("Sales Creatio", None)
        factories.role("Sales")
        factories.role("All employees")
        provider = factories.provider("bench", allow_idp_initiated=True)
        mappings.apply_preset(provider, "entra")
        mappings.save_attribute_mapping(provider, None, CLAIMS + "department", "department", None)
        mappings.add_role_mapping(provider, GROUPS, SALES_GROUP, "Sales")
        mappings.add_role_mapping(provider, GROUPS, "all-staff", "All employees")
        db.session.commit()
    return app


def form_body(saml_response: str) -> tuple[bytes, bytes]:
    """The browser's two POST bodies (from the IdP's page, then our re-post page), encoded before timing
    (encoding is the client's work, not the server's)."""
    return (urlencode({"SAMLResponse": saml_response}).encode(),
            urlencode({"SAMLResponse": saml_response, "_same_site": "1"}).encode())


def post_as_browser(app, client, bodies: tuple[bytes, bytes], expect: int = 302):
    """The IdP's cross-site POST and, when the answer is the re-post page, the re-post, as a browser does; the
    session cookie is dropped afterwards so that the next sign-in starts as a new browser would."""
    response = client.post("http://localhost/sso/bench/acs", data=bodies[0], content_type=FORM)
    if response.status_code == 200 and b'name="_same_site"' in response.data:
        response = client.post("http://localhost/sso/bench/acs", data=bodies[1], content_type=FORM)
    assert response.status_code == expect, (response.status_code, response.get_data(as_text=True)[:300])
    client.delete_cookie(app.config["SESSION_COOKIE_NAME"])
    return response


def _time(fn, payloads) -> list[float]:
    samples = []
    for payload in payloads:
        started = time.perf_counter()
        fn(payload)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _interleaved(series: dict[str, tuple]) -> dict[str, list[float]]:
    """Time the series in turn, one call of each per round (reference, ours, ours...), so that whatever else the
    machine does at a moment weighs on all of them alike: only ratios taken side by side hold on a noisy machine."""
    samples: dict[str, list[float]] = {name: [] for name in series}
    for i in range(min(len(payloads) for _fn, payloads in series.values())):
        for name, (fn, payloads) in series.items():
            started = time.perf_counter()
            fn(payloads[i])
            samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict:
    """Median and p95 in milliseconds."""
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[max(int(len(ordered) * 0.95) - 1, 0)], 3), "n": len(ordered)}


def run(database_url: str, count: int = 100) -> dict:
    """Time the reference, a returning user and a first login on the same kind of responses."""
    from onelogin.saml2.auth import OneLogin_Saml2_Auth

    from crm.identity_providers.config import provider_config
    from crm.sso.settings import saml_settings

    app = _setup(database_url)
    client = app.test_client()
    returning = _people("returning", count)
    with app.app_context():
        settings = saml_settings(provider_config("bench"))
    request_data = {"https": "off", "http_host": "localhost", "script_name": "/sso/bench/acs", "get_data": {},
                    "post_data": {}}

    def reference(payload):
        data = dict(request_data, post_data={"SAMLResponse": payload})
        auth = OneLogin_Saml2_Auth(data, old_settings=settings)
        auth.process_response()
        assert not auth.get_errors(), auth.get_last_error_reason()

    def bare_library(fn):
        """Time the reference with python3-saml exactly as shipped (our schema cache switched off)."""
        from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

        from crm.sso import schema_cache

        def timed(payload):
            OneLogin_Saml2_XML.validate_xml = staticmethod(schema_cache.LIBRARY_VALIDATE_XML)
            try:
                fn(payload)
            finally:
                schema_cache.install()
        return timed

    def acs(bodies: tuple[bytes, bytes]):
        post_as_browser(app, client, bodies)

    for spec in returning:  # the returning users' first logins, before timing
        acs(form_body(signed_response(spec)))
    reference_payloads = [signed_response(s) for s in returning]
    returning_payloads = [form_body(signed_response(s)) for s in returning]
    first_payloads = [form_body(signed_response(s)) for s in _people("new", count)]
    reference(reference_payloads[0])  # warm-up
    timed = _interleaved({"reference": (bare_library(reference), reference_payloads),
                          "returning_user": (acs, returning_payloads), "first_login": (acs, first_payloads)})
    results = {name: summary(samples) for name, samples in timed.items()}
    results["returning_ratio"] = round(results["returning_user"]["median_ms"] / results["reference"]["median_ms"], 2)
    results["first_login_ratio"] = round(results["first_login"]["median_ms"] / results["reference"]["median_ms"], 2)
    return results


if __name__ == "__main__":
    import json

    path = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    print(json.dumps(run(f"sqlite:///{path}", 60), indent=2))
