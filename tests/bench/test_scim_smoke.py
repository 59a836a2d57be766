"""The SCIM benchmark on a tiny size (400 users, a few seconds of writes), so it never rots: every answer it times is
checked, the writes are found in the database; no time is asserted."""
import json
import os

from sqlalchemy.engine import make_url

from bench import chart, run, scim
from bench.databases import ensure_database


def _own_postgres_database() -> str:
    """A database of its own on the suite's server, named after the suite's: the benchmark rebuilds its schema."""
    suite = make_url(os.environ["CRM_TEST_DATABASE_URL"])
    rendered = suite.set(database=f"{suite.database}_scim_smoke").render_as_string(hide_password=False)
    ensure_database(rendered)
    return rendered


def test_scim_benchmark_reads_and_writes_over_http_on_both_engines(tmp_path):
    result = scim.run(users=400, repeats=2, rate=10, seconds=2,
                      databases={"sqlite": None, "postgresql": _own_postgres_database()})

    assert set(result["engines"]) == {"sqlite", "postgresql"}
    for name, e in result["engines"].items():
        assert e["users"] == 400 and e["other_provider_users"] == 100, name
        assert set(e["reads"]) == set(scim.LABELS) and all(r["n"] == 2 for r in e["reads"].values())
        w = e["writes"]
        assert w["planned"] == w["answered"] == w["ok"] == 20 and w["errors"] == 0, (name, w, e["server_log_tail"])
        assert e["checked"]["all_written"], (name, e["checked"])
        assert e["checked"]["found"]["deactivated"] == 5 and e["checked"]["found"]["audit_events"] == 20
    lines = scim.report_lines(result)
    assert lines[0] == "## 7. SCIM at 400 users"
    assert sum(line.startswith("| ") for line in lines) == 1 + len(scim.LABELS) + 1 + 2
    results = {"machine": {"python": "3", "cpus": 2, "system": "test"}, "when": "now", "scim": result}
    assert "## 7. SCIM at 400 users" in run.report(results)
    assert chart.draw(results, tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"
    json.dumps(result)


def test_seeded_names_and_external_ids_are_stable():
    assert scim.username(4, "entra") == "user000004@contoso.com"
    assert scim.external_id("a@b.c") == scim.external_id("a@b.c") != scim.external_id("b@b.c")


def test_only_chooses_sections_and_refuses_unknown_ones():
    assert run._sections("scim, audit") == ("scim", "audit")
    try:
        run._sections("scim,nope")
    except Exception as error:
        assert "nope" in str(error) and "scim" in str(error)
    else:
        raise AssertionError("an unknown section was accepted")
