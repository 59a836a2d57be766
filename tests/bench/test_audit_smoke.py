"""Benchmark 5, the audit trail at 1,000,000 events, on a tiny size so it never rots: structure and correctness
only, never a time."""
import json
import os

from sqlalchemy.engine import make_url

from bench import audit
from bench.databases import ensure_database


def _own_postgres_database() -> str:
    """A database of its own on the suite's PostgreSQL server, named after the suite's (two worktrees' suites may
    share a server): the benchmark drops and rebuilds its schema."""
    suite = make_url(os.environ["CRM_TEST_DATABASE_URL"])
    url = suite.set(database=f"{suite.database}_audit_smoke")
    rendered = url.render_as_string(hide_password=False)
    ensure_database(rendered)
    return rendered


def test_audit_benchmark_serves_the_rows_plain_sql_finds_for_every_filter_on_both_engines():
    result = audit.run(events_count=3_000, repeats=2, databases={"sqlite": None,
                                                                  "postgresql": _own_postgres_database()})

    assert set(result["engines"]) == {"sqlite", "postgresql"}
    for engine, e in result["engines"].items():
        assert e["events"] == 3_000 and e["seed_s"] > 0
        assert set(e["requests"]) == {"all", "category_admin", "category_config", "outcome_denied", "outcome_rejected",
                                      "rejected_next", "provider_small", "provider_large", "provider_outcome",
                                      "user_few", "user_admin", "user_sso", "reference", "one_day", "month_denied",
                                      "config_provider", "never_meet"}
        for name, r in e["requests"].items():
            assert r["same_rows_as_sql"] and r["n"] == 2 and r["before_ms"] >= 0, (engine, name)
        assert e["requests"]["reference"]["rows"] == 1 and e["requests"]["never_meet"]["rows"] == 0
        assert e["requests"]["all"]["rows"] == e["requests"]["outcome_rejected"]["rows"] == 25
    lines = audit.report_lines(result)
    assert lines[0] == "## 5. The audit trail at 3,000 events"
    assert sum(line.startswith("| ") for line in lines) == 1 + 17
    json.dumps(result)


def test_seeded_events_follow_the_trail_mix_and_time_order():
    rows = list(audit.events(2_000, audit.datetime(2026, 12, 1)))
    assert len(rows) == 2_000 and all(len(r) == len(audit.COLUMNS) for r in rows)
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    kinds = {r[3] for r in rows}
    assert kinds == {"sso.sign_in", "sso.rejected", "contact.update", "sso.provider_update"}
