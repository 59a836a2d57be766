"""The benchmarks run on tiny sizes so they never rot (no time is asserted: benchmarks are not tests)."""
from bench import sso_cost


def test_sso_cost_benchmark_runs(tmp_path):
    result = sso_cost.run(f"sqlite:///{tmp_path / 'bench.sqlite3'}", count=3)
    assert set(result) >= {"reference", "returning_user", "first_login", "returning_ratio", "first_login_ratio"}
    assert result["returning_user"]["n"] == 3
