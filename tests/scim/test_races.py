"""A SAML first login and a SCIM POST for the same person at the same moment, on PostgreSQL under a real
multi-threaded server: one user each, never two."""
import http.client
import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

from crm.auth.models import User
from crm.extensions import db
from crm.users.models import UserIdentity
from tests.live_server import post_form, serve
from tests.saml_signer import Spec, signed_response
from tests.scim.conftest import SCIM_JSON, user_body
from tests.sso.conftest import CLAIMS, nina

pytestmark = pytest.mark.postgres_only


def _scim_post(base_url: str, token: str, body: dict) -> tuple[int, str]:
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", "/scim/v2/Users", json.dumps(body),
                           {"Content-Type": SCIM_JSON, "Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def test_twenty_pairs_of_saml_first_login_and_scim_post_make_twenty_users(app, directory, scim_provider):
    scim_provider.allow_idp_initiated = True
    db.session.commit()
    people = [f"hire{i}@example.com" for i in range(20)]
    with serve(app) as base_url:
        app.config["BASE_URL"] = base_url
        saml = [signed_response(Spec(name_id=p, base_url=base_url,
                                     attributes=nina(**{CLAIMS + "emailaddress": p}))) for p in people]
        calls = [lambda r=r: post_form(base_url, "/sso/entra/acs", {"SAMLResponse": r, "_same_site": "1"})
                 for r in saml]
        calls += [lambda p=p: _scim_post(base_url, directory.token, user_body(p, f"ext-{p}")) for p in people]
        order = [c for pair in zip(calls[:20], calls[20:], strict=True) for c in pair]
        with ThreadPoolExecutor(max_workers=len(order)) as pool:
            results = list(pool.map(lambda call: call(), order))
    db.session.expire_all()
    statuses = [status for status, _ in results]
    assert all(s in (302, 201, 409) for s in statuses), results
    assert statuses[0::2] == [302] * 20  # every sign-in went through (as the new user, or the one SCIM made)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 20
    assert db.session.scalar(db.select(db.func.count(UserIdentity.id))) == 20
