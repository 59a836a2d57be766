"""`make bench`: run every benchmark, print the report, and write results.json, report.md and chart.png
under bench/results/. Only ratios taken in the same run hold on a noisy machine: each benchmark times its
reference beside our code.

PostgreSQL (CRM_BENCH_DATABASE_URL, default the local server's `crm_bench` database, created when missing)
adds the sign-in cost on PostgreSQL and runs the login storm; without it those parts say they were skipped (and the
password-guessing benchmark runs on a SQLite file).

`--only scim,audit` runs just those sections (names in SECTIONS); the report then has only their parts, and its files
go to bench/results/only-scim-audit/ (the whole run's stay as they are).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import audit as audit_bench
from bench import chart, guessing, hostile, profile, sso_cost, storm
from bench import contacts as contacts_bench
from bench import scim as scim_bench
from bench.databases import ensure_database, postgres_url

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("sso", "hostile", "profile", "storm", "contacts", "audit", "guessing", "scim")


def _machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "cpu": cpu, "system": platform.platform()}


def main(count: int = 200, storm_people: int = 2000, contacts: int = 1_000_000, out: Path = RESULTS,
         audit_events: int = 1_000_000, guess_seconds: float = guessing.SECONDS, scim_users: int = scim_bench.USERS,
         only: tuple[str, ...] = SECTIONS) -> dict:
    """Run everything (or the sections in `only`); sizes shrink for a quick look (the smoke tests use their own tiny
    sizes)."""
    started = time.perf_counter()
    sqlite = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    postgres, why_not = postgres_url()
    databases = {"sqlite": sqlite} | ({"postgresql": postgres} if postgres else {})
    results: dict = {"machine": _machine(), "when": datetime.now(UTC).isoformat(timespec="seconds"),
                     "sizes": {"sign_ins": count, "storm_people": storm_people, "contacts": contacts,
                               "audit_events": audit_events, "guess_seconds": guess_seconds,
                               "scim_users": scim_users}}

    def step(section: str, label: str, fn) -> None:
        if section in only:
            _step(label, fn)

    step("sso", "1. cost of one sign-in", lambda: results.setdefault(
        "sso_sign_in", {name: sso_cost.run(url, count) for name, url in databases.items()}))
    step("hostile", "2. hostile responses", lambda: results.setdefault(
        "hostile", hostile.run(sqlite, max(count // 4, 5))))
    step("profile", "   profile of a sign-in", lambda: results.setdefault(
        "profile", profile.run(sqlite, max(count // 2, 5))))
    if postgres:  # the storm recreates its own database, beside the one the sign-in cost used
        step("storm", "3. login storm", lambda: results.setdefault("storm", storm.run(
            postgres, people=storm_people, database=f"{make_url(postgres).database}_storm")))
    elif "storm" in only:
        results["storm"] = {"skipped": f"no PostgreSQL: {why_not}"}
    step("contacts", "4. contacts", lambda: results.setdefault("contacts", contacts_bench.run(
        sizes=_contact_sizes(contacts), databases={"sqlite": None} | ({"postgresql": postgres} if postgres else {}))))
    step("audit", "5. audit trail", lambda: results.setdefault("audit", audit_bench.run(
        audit_events, databases={"sqlite": None} | ({"postgresql": _audit_database(postgres)} if postgres else {}))))
    step("guessing", "6. password guessing", lambda: results.setdefault("guessing", guessing.run(
        postgres, seconds=guess_seconds, database=f"{make_url(postgres).database}_guess" if postgres else "")))
    step("scim", "7. SCIM at 100,000 users", lambda: results.setdefault("scim", scim_bench.run(
        scim_users, databases={"sqlite": None} | ({"postgresql": scim_bench.own_database(postgres)} if postgres
                                                  else {}))))
    results["seconds"] = round(time.perf_counter() - started, 1)
    if tuple(only) != SECTIONS:  # a partial run never overwrites the whole run's files
        out = out / f"only-{'-'.join(only)}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    chart.draw(results, out / "chart.png")
    (out / "report.md").write_text(report(results, chart_name="chart.png"))
    return results


def _audit_database(postgres: str) -> str:
    """The audit benchmark rebuilds its schema: a database of its own beside the others (created when missing)."""
    url = make_url(postgres)
    rendered = url.set(database=f"{url.database}_audit").render_as_string(hide_password=False)
    ensure_database(rendered)
    return rendered


def _contact_sizes(largest: int) -> tuple[int, ...]:
    return tuple(sorted({max(largest // 10, 10), largest}))


def _step(label: str, fn) -> None:
    started = time.perf_counter()
    print(f"== {label}", file=sys.stderr, flush=True)
    fn()
    print(f"   {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def report(results: dict, chart_name: str | None = None) -> str:
    """The Markdown report: the machine, the chart, then a section per benchmark with its targets."""
    machine = results["machine"]
    lines = ["# Benchmarks", "",
             f"{results['when']} · {machine.get('cpu') or machine['system']} · {machine['cpus']} CPUs · "
             f"Python {machine['python']}" + (f" · {results['seconds']} s in all" if "seconds" in results else ""), ""]
    if chart_name:
        lines += [f"![the benchmarks at a glance]({chart_name})", ""]
    if "sso_sign_in" in results:
        lines += sign_in_lines(results["sso_sign_in"])
        lines += _what_stands_in_the_way(results)
    if "hostile" in results:
        lines += ["", *hostile.report_lines(results["hostile"])]
    if "storm" in results:
        lines += [""] + (["## Login storm over HTTP", "", f"Skipped: {results['storm']['skipped']}"]
                         if results["storm"].get("skipped") else storm.report_lines(results["storm"]))
    if "contacts" in results:
        lines += ["", *contacts_bench.report_lines(results["contacts"])]
    if "audit" in results:
        lines += ["", *audit_bench.report_lines(results["audit"])]
    if "guessing" in results:
        lines += ["", *guessing.report_lines(results["guessing"])]
    if "scim" in results:
        lines += ["", *scim_bench.report_lines(results["scim"])]
    if "profile" in results:
        lines += ["", *profile.report_lines(results["profile"])]
    return "\n".join(lines) + "\n"


def _what_stands_in_the_way(results: dict) -> list[str]:
    """When a sign-in target is missed: the profile's shares that show where the time goes."""
    runs, profiled = results["sso_sign_in"], results.get("profile")
    if not profiled or all(r["returning_ratio"] <= 1.0 and r["first_login_ratio"] <= 1.3 for r in runs.values()):
        return []

    def share(name: str, layer: str) -> float:
        return profiled[name]["layers_percent"].get(layer, 0.0)

    sqlalchemy, saml = "SQLAlchemy (ORM, statements)", "python3-saml validation"
    return ["", "Where the time goes (the SQLite profile below): SQLAlchemy takes "
                f"{share('returning_user', sqlalchemy)} % of a returning user's sign-in and "
                f"{share('first_login', sqlalchemy)} % of a first login, the SAML "
                f"library's own code {share('returning_user', saml)} % and {share('first_login', saml)} %. On "
                "PostgreSQL every statement is also a round trip to the server: a returning user's sign-in makes five "
                "(the pool's pre-ping, BEGIN, the resolver's SELECT, one statement for the replay record, audit event, "
                "attempt and time of sign-in, COMMIT with its fsync), a first login about fifteen; the bare library "
                "writes nothing and makes none.", ""]


def sign_in_lines(runs: dict) -> list[str]:
    lines = ["## 1. Cost of one SSO sign-in, in process (ms)", "",
             "Median (p95) over the same pre-signed responses; × is the median's ratio to the bare library.", "",
             "| database | bare python3-saml | returning user | × | first login | × |", "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        lines.append(f"| {name} | {r['reference']['median_ms']} ({r['reference']['p95_ms']}) | "
                     f"{r['returning_user']['median_ms']} ({r['returning_user']['p95_ms']}) | "
                     f"{r['returning_ratio']} | {r['first_login']['median_ms']} ({r['first_login']['p95_ms']}) | "
                     f"{r['first_login_ratio']} |")
    verdicts = "; ".join(f"{name}: returning {'met' if r['returning_ratio'] <= 1.0 else 'not met'}, first login "
                         f"{'met' if r['first_login_ratio'] <= 1.3 else 'not met'}" for name, r in runs.items())
    lines += ["", f"Targets: returning user ≤ 1.0 ×, first login ≤ 1.3 × the bare library ({verdicts})."]
    return lines


def _sections(value: str) -> tuple[str, ...]:
    chosen = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown section {', '.join(unknown) or '(none)'}; choose from "
                                         f"{', '.join(SECTIONS)}")
    return chosen


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=200, help="sign-ins per timed series")
    parser.add_argument("--storm-people", type=int, default=2000)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--audit-events", type=int, default=1_000_000)
    parser.add_argument("--guess-seconds", type=float, default=guessing.SECONDS)
    parser.add_argument("--scim-users", type=int, default=scim_bench.USERS)
    parser.add_argument("--only", type=_sections, default=SECTIONS,
                        help=f"comma-separated sections to run: {', '.join(SECTIONS)}")
    arguments = parser.parse_args()
    print(report(main(arguments.count, arguments.storm_people, arguments.contacts,
                      audit_events=arguments.audit_events, guess_seconds=arguments.guess_seconds,
                      scim_users=arguments.scim_users, only=arguments.only)))
