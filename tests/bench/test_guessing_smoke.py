"""The password-guessing benchmark on a tiny size (3 clients, 6 s, SQLite), so it never rots: no time is asserted."""
from bench import guessing, run


def test_password_guessing_runs_over_http_across_two_processes():
    result = guessing.run(None, clients=3, seconds=6)
    assert result["errors"] == 0, (result["error_samples"], result["server_log_tail"])
    assert result["server"]["workers"] == 2 and result["engine"] == "sqlite"
    # The username's 3 tries at once go to whichever guessers ask first: one quick guesser may take two of them
    assert 1 <= result["first_tries"] <= 3 and result["guesses_checked"] >= 3 and result["refused_429"] > 0
    assert len(result["guesses_per_minute"]) == 1
    assert result["real_user_all_signed_in"] and len(result["real_user"]) == 4
    assert result["audit"] == {"events": 1, "failures_recorded": result["guesses_checked"]}
    lines = guessing.report_lines(result)
    assert lines[0] == "## 5. Password guessing over HTTP" and any("audit events" in line for line in lines)
    results = {"machine": {"python": "3", "cpus": 2, "system": "test"}, "when": "now", "sso_sign_in": {},
               "guessing": result}
    assert "## 5. Password guessing over HTTP" in run.report(results)
