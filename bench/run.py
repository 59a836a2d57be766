"""`make bench`: run the benchmarks and write JSON and a Markdown report under bench/results/."""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench import sso_cost

RESULTS = Path(__file__).resolve().parent / "results"


def main(count: int) -> dict:
    """Run every benchmark on SQLite (and PostgreSQL when CRM_BENCH_DATABASE_URL is set)."""
    databases = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"}
    if os.environ.get("CRM_BENCH_DATABASE_URL"):
        databases["postgresql"] = os.environ["CRM_BENCH_DATABASE_URL"]
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()},
               "when": datetime.now(UTC).isoformat(timespec="seconds"),
               "sso_sign_in": {name: sso_cost.run(url, count) for name, url in databases.items()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "report.md").write_text(report(results))
    return results


def report(results: dict) -> str:
    """The Markdown report: one table per benchmark."""
    lines = ["# Benchmarks", "", f"{results['when']} · {results['machine']['system']} · "
             f"{results['machine']['cpus']} CPUs · Python {results['machine']['python']}", "",
             "## Cost of one SSO sign-in, in process (ms)", "",
             "| database | bare python3-saml | returning user | × | first login | × |", "|---|---|---|---|---|---|"]
    for name, r in results["sso_sign_in"].items():
        lines.append(f"| {name} | {r['reference']['median_ms']} (p95 {r['reference']['p95_ms']}) | "
                     f"{r['returning_user']['median_ms']} (p95 {r['returning_user']['p95_ms']}) | "
                     f"{r['returning_ratio']} | {r['first_login']['median_ms']} (p95 {r['first_login']['p95_ms']}) | "
                     f"{r['first_login_ratio']} |")
    lines += ["", "Targets: returning user ≤ 1.0 × and first login ≤ 1.3 × the bare library (issue 6)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(report(main(count)))
