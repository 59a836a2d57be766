"""scim2-tester's checks against /scim/v2 served by gunicorn as in production (2 worker processes, threads, the
default per-token rate limit), over real HTTP with a real bearer token: what the in-process run cannot see (the
server's own request parsing, headers on the wire, keep-alive, the workers' separate memory) is seen here."""
from scim2_tester import check_server
from sqlalchemy import select

from crm.audit.models import AuditEvent
from crm.extensions import db
from crm.identity_providers.scim_tokens import ScimToken
from tests.live_server import gunicorn
from tests.scim.http_engine import HTTPSCIMClient


def test_scim2_tester_over_http_finds_nothing_wrong_either(directory, app):
    db.session.commit()  # nothing of the test's own held open while another process writes (SQLite)
    with gunicorn(app.config["SQLALCHEMY_DATABASE_URI"]) as base_url:
        client = HTTPSCIMClient(f"{base_url}/scim/v2", headers={"Authorization": f"Bearer {directory.token}"})
        try:
            results = check_server(client)
        finally:
            client.close()

    failed = [(r.title, r.status.name, r.reason or "") for r in results if r.status.name != "SUCCESS"]
    assert failed == []
    assert len(results) > 70 and {r.resource_type for r in results} >= {"User", "Group"}
    assert client.requests > len(results)
    db.session.rollback()
    created = db.session.scalars(select(AuditEvent.actor_name).where(AuditEvent.action == "scim.user_create")).all()
    token_id = db.session.scalar(select(ScimToken.id))
    assert created and set(created) == {f"scim:entra:token {token_id}"}
