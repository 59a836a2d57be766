"""The benchmarks run on tiny sizes so they never rot (no time is asserted: benchmarks are not tests)."""
import json

from bench import chart, hostile, profile, run, sso_cost


def test_sso_cost_benchmark_runs(tmp_path):
    result = sso_cost.run(f"sqlite:///{tmp_path / 'bench.sqlite3'}", count=3)
    assert set(result) >= {"reference", "returning_user", "first_login", "returning_ratio", "first_login_ratio"}
    assert result["returning_user"]["n"] == 3


def test_hostile_benchmark_refuses_every_case(tmp_path):
    """Each hostile case is answered 400 (the benchmark asserts the status of every request it times)."""
    result = hostile.run(f"sqlite:///{tmp_path / 'bench.sqlite3'}", count=2)
    assert set(result["cases"]) == set(hostile.CASES)
    assert all(case["n"] == 2 for case in result["cases"].values())
    assert result["xslt_in_bare_library_ms"] > 0
    assert any("XSLT" in line for line in hostile.report_lines(result))


def test_profile_names_the_layers_and_our_functions(tmp_path):
    result = profile.run(f"sqlite:///{tmp_path / 'bench.sqlite3'}", count=3)
    for name in ("returning_user", "first_login"):
        assert "SQLAlchemy (ORM, statements)" in result[name]["layers_percent"]
        assert any(fn.startswith("acs (sso/views.py)") for fn in result[name]["our_functions_percent"])


def test_report_and_chart_are_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    results = {"machine": {"python": "3", "cpus": 2, "system": "test"}, "when": "now",
               "sso_sign_in": {"sqlite": sso_cost.run(url, count=2)}, "hostile": hostile.run(url, count=1)}
    png = chart.draw(results, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = run.report(results, chart_name="chart.png")
    assert "![" in report and "bare python3-saml" in report
    json.dumps(results)
