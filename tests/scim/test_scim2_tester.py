"""scim2-tester's checks against /scim/v2, in process (WSGI): discovery, create, read, replace, PATCH add/replace/
remove of every published attribute of users and groups, search, delete: every one a SUCCESS."""
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import check_server


def test_scim2_tester_finds_nothing_else_wrong(directory, app):
    app.config["SCIM_RATE_LIMIT"] = "10000 per second"  # in process, it runs faster than any directory
    client = WSGISCIMClient(app, base_url="http://localhost/scim/v2",
                            headers={"Authorization": f"Bearer {directory.token}"})
    results = check_server(client)
    failed = [(r.status.name, r.title, r.reason) for r in results if r.status.name != "SUCCESS"]
    assert failed == []
    assert len(results) > 70 and {r.resource_type for r in results} >= {"User", "Group"}
