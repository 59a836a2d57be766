"""Benchmark 4, contacts at 100,000, on tiny sizes so it never rots: structure and correctness only, never a time."""
import json

from bench import contacts

VIEWS = {"first_page", "last_page", "search", "search_letter"}


def test_contacts_benchmark_serves_the_expected_rows_at_each_size():
    result = contacts.run(sizes=(200, 50), repeats=3)

    assert [r["contacts"] for r in result["runs"]] == [50, 200]  # smallest first, exactly as many as asked
    for r in result["runs"]:
        assert set(r["requests"]) == VIEWS
        for name, q in r["requests"].items():
            # The benchmark asserts these before timing: 200, the bare SQL's ids in its order, the same total.
            assert q["status"] == 200 and q["same_rows_as_sql"] and q["same_total_as_sql"], name
            assert q["partial"] == q["htmx"] == (name != "first_page"), name  # htmx requests get the partial
            assert 0 < q["rows"] == min(q["total"], r["per_page"]), name
            assert q["server"]["n"] == q["sql"]["n"] == q["sql_rows"]["n"] == 3
            assert q["app_sql"]["statements"] >= 3 and q["ratio"] > 0
        assert r["requests"]["first_page"]["total"] == r["requests"]["last_page"]["total"] == r["contacts"]
        assert r["requests"]["search_letter"]["total"] > r["requests"]["search"]["total"] > 0
        memory = r["memory"]
        assert memory["peak_rss_mb"] > 0 and memory["traced_peak_per_request_kb"] > 0
    assert set(result["targets_met"]) == {"p95", "ratio", "memory_flat"}
    assert [row["label"] for row in result["chart"]] == [q["label"].split(" (")[0]
                                                          for q in result["runs"][-1]["requests"].values()]

    lines = contacts.report_lines(result)
    assert lines[0] == "## Contacts at 100,000"
    assert sum(line.startswith(("| 50 |", "| 200 |")) for line in lines) == 2 * len(VIEWS) + 2  # + memory rows
    json.dumps(result)


def test_bare_sql_asks_for_the_same_prefixes_as_the_app():
    rows, count, params = contacts.bare_sql("Smi")
    assert params == {"low": "smi", "high": "smj"}
    assert "ORDER BY name_key, id LIMIT :limit OFFSET :offset" in rows and count.startswith("SELECT count(*)")
    assert contacts.bare_sql("")[2] == {} and "WHERE" not in contacts.bare_sql("")[1]
