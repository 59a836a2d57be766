"""A SAML first login and a SCIM POST for the same person at the same moment, on PostgreSQL under a real
multi-threaded server: one user each, never two."""
import http.client
import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

from crm.auth.models import User
from crm.extensions import db
from crm.identity_providers import mappings
from crm.roles.models import Role, RoleMembership
from crm.users.models import UserIdentity
from tests.live_server import post_form, serve
from tests.saml_signer import Spec, signed_response
from tests.scim.conftest import PATCH_OP, SCIM_JSON, user_body
from tests.scim.test_groups import GROUP
from tests.sso.conftest import CLAIMS, GROUPS, SALES_GROUP, nina

pytestmark = pytest.mark.postgres_only


def _scim_post(base_url: str, token: str, body: dict, method: str = "POST", path: str = "/scim/v2/Users"
               ) -> tuple[int, str]:
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, json.dumps(body),
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


def test_overlapping_group_patches_keep_every_member_and_every_role(app, directory, scim_provider):
    """Twenty directory requests at once, each adding one member to the same two groups (both mapped to roles) and
    moving one earlier member out of a third that gives one of the same roles: the union of the additions, each
    member with both roles (the removal, working the roles out before the addition committed, must not win)."""
    mappings.add_role_mapping(scim_provider, GROUPS, "contractors", "All employees")
    db.session.commit()
    ids = [directory.post("/Users", user_body(f"m{i}@example.com")).get_json()["id"] for i in range(20)]
    group_ids = [directory.post("/Groups", {"schemas": [GROUP], "displayName": name, "externalId": external}
                                ).get_json()["id"]
                 for name, external in (("all-staff", None), ("Sales", SALES_GROUP), ("Contractors", None))]
    directory.patch(f"/Groups/{group_ids[2]}", [{"op": "add", "path": "members", "value": [{"value": i} for i in ids]}])
    add = [{"op": "add", "path": "members", "value": [{"value": "{id}"}]}]
    out = [{"op": "remove", "path": 'members[value eq "{id}"]'}]
    calls = [call for i in ids for call in ((group_ids[2], out, i), (group_ids[0], add, i), (group_ids[1], add, i))]
    with serve(app) as base_url:
        def patch(call) -> int:
            group_id, operations, user_id = call
            body = {"schemas": [PATCH_OP], "Operations": json.loads(json.dumps(operations).replace("{id}", user_id))}
            return _scim_post(base_url, directory.token, body, "PATCH", f"/scim/v2/Groups/{group_id}")[0]
        with ThreadPoolExecutor(max_workers=20) as pool:  # each removal beside its user's additions
            statuses = list(pool.map(patch, calls))
    assert statuses == [200] * 60
    for group_id, expected in zip(group_ids, (ids, ids, []), strict=True):
        found = directory.get(f"/Groups/{group_id}").get_json()["members"]
        assert sorted(m["value"] for m in found) == sorted(expected)
    db.session.expire_all()
    held = db.session.execute(db.select(RoleMembership.user_id, Role.name).join(Role)).all()
    assert sorted(held) == sorted((int(i), r) for i in ids for r in ("All employees", "Sales"))
