"""`sso set --scim/--users-from` and `sso scim-token`: a directory connected from the command line."""
import json

from crm.extensions import db
from crm.identity_providers.models import IdentityProvider
from crm.identity_providers.scim_tokens import ScimToken
from tests import factories
from tests.conftest import cli_ok as _ok
from tests.scim.conftest import Directory


def test_switch_scim_on_get_a_token_use_it_and_revoke_it(runner, app, client):
    factories.provider("okta")
    _ok(runner, "sso", "set", "okta", "--scim", "on", "--users-from", "both")
    db.session.expire_all()
    provider = db.session.scalar(db.select(IdentityProvider).where(IdentityProvider.slug == "okta"))
    assert provider.scim_enabled and provider.users_from == "both"

    printed = json.loads(_ok(runner, "sso", "scim-token", "okta", "--json"))
    assert set(printed) == {"token", "scim_url", "token_id"} and printed["scim_url"] == "http://localhost/scim/v2"
    assert len(printed["token"]) >= 43  # 256 bits, URL-safe base64
    row = db.session.get(ScimToken, printed["token_id"])
    assert printed["token"] not in row.token_hash and len(row.token_hash) == 64  # only the SHA-256 is kept

    directory = Directory(client, printed["token"])
    assert directory.get("/ServiceProviderConfig").status_code == 200
    db.session.expire_all()
    assert db.session.get(ScimToken, printed["token_id"]).last_used_at is not None

    assert "revoked" in _ok(runner, "sso", "scim-token", "okta", "--revoke", str(printed["token_id"]))
    assert directory.get("/ServiceProviderConfig").status_code == 401
    wrong = runner.invoke(args=["sso", "set", "okta", "--users-from", "ldap"])
    assert wrong.exit_code != 0
    missing = runner.invoke(args=["sso", "scim-token", "okta", "--revoke", "999"])
    assert missing.exit_code == 1 and "no SCIM token 999" in missing.stderr
