"""The login storm on a tiny size, so it never rots: structure and correctness only, never a time."""
import os

import pytest

from bench import storm

POSTGRES_URL = os.environ.get("CRM_TEST_DATABASE_URL", "")


@pytest.mark.postgres_only
def test_login_storm_runs_over_http():
    # Its own database on the suite's server: the suite's `test` database is never touched.
    result = storm.run(POSTGRES_URL, people=6, clients=3, database="crm_bench_smoke", threads=2)

    assert set(result["rounds"]) == {"first", "again"}
    for name, r in result["rounds"].items():
        assert r["errors"] == 0, (name, r["error_samples"], result.get("server_log_tail"))
        assert r["sign_ins"] == r["requests"] == 6
        assert r["users_after"] == 6
        assert {"sign_ins_per_s", "p50_ms", "p95_ms", "p99_ms", "wall_s"} <= set(r)
    after = result["after"]
    assert after["users"] == after["contacts"] == after["sso_bindings"] == 6
    assert {p["package"]: (p["limit"], p["seats"]) for p in after["packages"]} == {
        storm.UNLIMITED: (None, 6), storm.LIMITED: (1, 1)}  # 6 people race for 6 // 4 = 1 limited seat
    assert after["hold"] is True
    assert result["errors"] == 0
    # The reference runs before and after our rounds, which are compared with the mean of the two.
    before, after_ours = result["reference"], result["reference_after"]
    assert before["errors"] == after_ours["errors"] == 0 and before["sign_ins"] == after_ours["sign_ins"] == 6
    assert result["reference_rate"] == round((before["sign_ins_per_s"] + after_ours["sign_ins_per_s"]) / 2, 1)
    assert result["cores"] == os.cpu_count() and set(result["per_core"]) == {"first", "again"}
    assert result["keycloak"]["password_logins_per_s_per_vcpu"] == 15
    assert result["server"]["workers"] == 2 and result["server"]["worker_class"] == "gthread"
    lines = storm.report_lines(result)
    assert lines[0] == "## Login storm over HTTP" and any(line.startswith("| first sign-in") for line in lines)
    assert sum(line.startswith("| bare python3-saml") for line in lines) == 2
