"""Benchmark 4, contacts at 1,000,000, on tiny sizes so it never rots: structure and correctness only, never a time."""
import json
import os

from sqlalchemy.engine import make_url

from bench import contacts, contacts_views
from bench.databases import ensure_database

VIEWS = {"first_page", "deep_page", "last_page", "search", "search_letter", "search_nothing"}


def _own_postgres_database() -> str:
    """A database of its own on the suite's PostgreSQL server: the benchmark drops and rebuilds its schema."""
    url = make_url(os.environ["CRM_TEST_DATABASE_URL"]).set(database="crm_bench_contacts_smoke")
    rendered = url.render_as_string(hide_password=False)
    ensure_database(rendered)
    return rendered


def test_contacts_benchmark_serves_the_expected_rows_on_both_engines_at_each_size():
    result = contacts.run(sizes=(200, 50), repeats=3, databases={"sqlite": None,
                                                                 "postgresql": _own_postgres_database()})

    assert set(result["engines"]) == {"sqlite", "postgresql"}
    for engine, e in result["engines"].items():
        assert [r["contacts"] for r in e["runs"]] == [50, 200]  # smallest first, exactly as many as asked
        for r in e["runs"]:
            assert r["database"] == engine and set(r["requests"]) == VIEWS
            for name, q in r["requests"].items():
                # The benchmark asserts these before timing: 200, the reference SQL's ids in its order, its total.
                assert q["status"] == 200 and q["same_rows_as_sql"] and q["total_as_expected"], (engine, name)
                assert q["partial"] == q["htmx"] == (name != "first_page"), name  # htmx requests get the partial
                assert q["server"]["n"] == 3 and q["app_sql"]["statements"] >= 3
            shown = r["requests"]
            assert shown["first_page"]["total"] == f"{r['contacts']:,}"  # exact below the cap
            assert shown["first_page"]["rows"] == shown["deep_page"]["rows"] == 25
            assert shown["search_letter"]["counted"] > shown["search"]["counted"] > 0
            assert shown["search_nothing"]["rows"] == 0 and shown["search_nothing"]["total"] == "none"
            assert r["seed_s"] > 0 and r["memory"]["peak_rss_mb"] > 0 and r["memory"]["traced_peak_per_request_kb"] > 0
        assert set(e["targets_met"]) == {"p95", "memory_flat", "seed"}
    assert set(result["targets_met"]) == {"p95", "memory_flat", "seed"}
    assert [row["label"] for row in result["chart"]] == [
        q["label"].split(" (")[0] for q in result["engines"]["sqlite"]["runs"][-1]["requests"].values()]
    assert set(result["chart"][0]["p95_ms"]) == {"sqlite", "postgresql"}

    lines = contacts.report_lines(result)
    assert lines[0] == "## Contacts at 200"
    rows = [line for line in lines if line.startswith(("| sqlite | 50 |", "| sqlite | 200 |", "| postgresql | 50 |",
                                                       "| postgresql | 200 |"))]
    assert len(rows) == 2 * 2 * (len(VIEWS) + 1)  # each engine and size: a row per request, one for memory
    json.dumps(result)


def test_reference_sql_asks_for_the_same_prefixes_as_the_app():
    rows, count, params = contacts_views.reference_sql("Smi")
    assert params == {"low": "smi", "high": "smj"}
    assert "MATERIALIZED" in rows and "LIMIT :limit OFFSET :offset" in rows and count.startswith("SELECT count(*)")
    assert contacts_views.reference_sql("")[2] == {} and "WHERE" not in contacts_views.reference_sql("")[1]
