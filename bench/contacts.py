"""Benchmark 4, contacts at 1,000,000: the list page, deep pages and search as you type, on SQLite and PostgreSQL.

For each engine and size the contacts are seeded in one subprocess, by `crm seed-demo --contacts N` itself (through
Click's test runner: the same code, its progress lines captured), after an administrator of its own. A fresh
subprocess then only serves requests: a signed-in administrator asks the Flask app, through its test client, for
what the browser asks for (bench/contacts_views.py: first page, a deep page, the last page, searches for "smi", "a"
and a search that matches nothing). Every answer is checked first against plain SQL, untimed; then the requests run
round robin, `repeats` times each, and their median and p95 are reported against the target, p95 under 50 ms.

Memory is measured in the serving process only, never during seeding: the peak resident set over its whole life
(VmHWM), the peak while the timed requests ran (VmHWM reset after warm-up, where Linux allows it) and, in a separate
untimed pass, tracemalloc's peak of Python allocations during one request. A benchmark, not a test: nothing here
asserts a time.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import contacts_views as views_

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0
TARGET_SEED_S = 120.0  # `crm seed-demo --contacts 1000000` in under 2 minutes
MEMORY_TOLERANCE = 0.10  # "flat": the largest size's peak within 10 % of the smallest size's
WARM_UP = 5
TRACED_REQUESTS = 3
STATEMENT_ROUNDS = 15
URL_VARIABLE = "CRM_BENCH_CONTACTS_DATABASE_URL"  # how the subprocesses learn the database


# --- statistics and memory -----------------------------------------------------------------------------------


def summary(samples: list[float]) -> dict:
    """Median and p95 (nearest rank) in milliseconds."""
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[max(math.ceil(len(ordered) * 0.95) - 1, 0)], 3), "n": len(ordered)}


def _memory() -> dict:
    """This process's resident set now and at its peak (Linux /proc), in MB, plus getrusage's ru_maxrss."""
    status = {}
    if Path("/proc/self/status").exists():
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                status[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": status.get("VmRSS"), "peak_rss_mb": status.get("VmHWM"),
            "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _reset_peak_rss() -> bool:
    """Start VmHWM again from the current resident set (Linux ≥ 4.0: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- the subprocesses: seed, then serve ---------------------------------------------------------------------


def _app(database_url: str, instance: str):
    from crm import create_app

    return create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": instance,
                       "BASE_URL": "http://localhost"})


def seed(database_url: str, contacts: int, instance: str) -> dict:
    """A fresh schema with exactly `contacts` contacts: an admin, then `crm seed-demo` for the rest, timed."""
    from crm.demo.lookups import load_lookups
    from crm.demo.seed import contact_count
    from crm.extensions import db
    from tests import factories

    app = _app(database_url, instance)
    with app.app_context():
        db.drop_all()
        db.create_all()
        load_lookups()
        factories.admin_user()  # the admin and the three demo users have contacts of their own
        db.session.commit()
        started = time.perf_counter()
        done = app.test_cli_runner().invoke(args=["crm", "seed-demo", "--contacts", str(max(contacts - 4, 0))])
        seconds = time.perf_counter() - started
        if done.exit_code:
            raise RuntimeError(f"seed-demo failed: {done.output}{done.stderr}")
        return {"contacts": contact_count(), "seed_s": round(seconds, 2), "seed_stderr_lines": len(
            done.stderr.splitlines())}


def _login(client) -> None:
    from tests.factories import PASSWORD

    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code


def serve(database_url: str, instance: str, repeats: int) -> dict:
    """Check each request against plain SQL, time them round robin, and measure this process's memory."""
    from crm.contacts.search import COUNT_CAP

    app = _app(database_url, instance)
    per_page = app.config["PAGE_SIZE"]
    client = app.test_client()
    _login(client)
    views, checks, database = _checked_views(app, client, database_url, per_page, COUNT_CAP)

    def get(view: dict):
        response = client.get(view["url"], headers=view["headers"])
        assert response.status_code == 200, (view["url"], response.status_code)
        return response

    for _ in range(min(WARM_UP, repeats)):  # the smoke test's few repeats need no more
        for view in views.values():
            get(view)
    before = _memory()
    peak_reset = _reset_peak_rss()
    samples: dict[str, list[float]] = {name: [] for name in views}
    clock = time.perf_counter
    for _ in range(repeats):  # round robin, so drift on a noisy machine hits every request alike
        for name, view in views.items():
            started = clock()
            get(view)
            samples[name].append((clock() - started) * 1000)
    during = _memory()
    statements = _statements(app, views, get, min(STATEMENT_ROUNDS, repeats))
    traced = _traced(views, get)
    results = {name: {"label": view["label"], "url": view["url"], "htmx": bool(view["headers"]), **checks[name],
                      "server": summary(samples[name]), "app_sql": statements[name],
                      "p95_within_target": summary(samples[name])["p95_ms"] < TARGET_P95_MS,
                      "traced_peak_kb": traced[name]} for name, view in views.items()}
    return {"contacts": checks["first_page"]["counted"], "per_page": per_page, "database": database,
            "requests": results,
            "memory": {"before_requests": before, "after_requests": during, "peak_reset_before_requests": peak_reset,
                       "peak_rss_mb": max(before["peak_rss_mb"] or 0, during["peak_rss_mb"] or 0) or None,
                       "peak_rss_during_requests_mb": during["peak_rss_mb"] if peak_reset else None,
                       "traced_peak_per_request_kb": max(traced.values())}}


def _checked_views(app, client, database_url: str, per_page: int, cap: int) -> tuple[dict, dict, str]:
    """The views, each answered once and checked against its reference statement on a DBAPI connection."""
    from sqlalchemy import create_engine

    from crm.extensions import db
    from crm.pagination import estimated_rows

    engine = create_engine(database_url)
    connection = engine.raw_connection()
    cursor = connection.cursor()
    style = engine.dialect.dbapi.paramstyle
    cursor.execute("SELECT count(*) FROM contact")
    total = cursor.fetchone()[0]
    middle = max(total // 2 // per_page * per_page - 1, 0)
    cursor.execute(views_.dbapi(views_.reference_sql("")[0], style), {"limit": 1, "offset": middle})
    views = views_.views(total, (middle, cursor.fetchone()[0]), per_page, cap)
    with app.app_context():
        estimate = estimated_rows("contact")
    checks = {}
    for name, view in views.items():
        rows_sql, count_sql, params = views_.reference_sql(view["q"])
        cursor.execute(views_.dbapi(rows_sql, style), params | {"limit": per_page, "offset": view["offset"]})
        expected = [row[0] for row in cursor.fetchall()]
        cursor.execute(views_.dbapi(count_sql, style), params)
        counted = cursor.fetchone()[0]
        response = client.get(view["url"], headers=view["headers"])
        assert response.status_code == 200, (view["url"], response.status_code)
        checked = views_.check(response.get_data(as_text=True), expected,
                               views_.expected_total(counted, view["q"], cap, estimate), counted)
        assert checked["same_rows_as_sql"] and checked["total_as_expected"] and checked["says_no_match"], (
            name, checked)
        assert checked["partial"] == bool(view["headers"]), name
        checks[name] = {"status": 200, **checked}
    cursor.close()
    connection.close()
    engine.dispose()
    with app.app_context():
        db.engine.dispose()  # the check's connections are not the timed requests' business
    return views, checks, engine.dialect.name


def _statements(app, views: dict, get, rounds: int) -> dict:
    """Untimed: how many statements each request runs and the median time the app spends in the database."""
    from sqlalchemy import event

    from crm.extensions import db

    with app.app_context():
        engine = db.engine
    spent: list[float] = []

    def before(connection, *_):
        connection.info["bench_started"] = time.perf_counter()

    def after(connection, *_):
        spent.append((time.perf_counter() - connection.info.pop("bench_started")) * 1000)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        runs: dict[str, list[tuple[int, float]]] = {name: [] for name in views}
        for _ in range(rounds):  # round robin, as in the timed loop
            for name, view in views.items():
                spent.clear()
                get(view)
                runs[name].append((len(spent), sum(spent)))
        return {name: {"statements": max(n for n, _ in samples),
                       "median_ms": round(statistics.median(ms for _, ms in samples), 3)}
                for name, samples in runs.items()}
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def _traced(views: dict, get) -> dict:
    """Untimed: tracemalloc's peak of Python allocations over a few requests of each view, in KB."""
    import tracemalloc

    traced = {}
    for name, view in views.items():  # tracemalloc slows Python down several times
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(TRACED_REQUESTS):
            get(view)
        traced[name] = round((tracemalloc.get_traced_memory()[1] - baseline) / 1024, 1)
        tracemalloc.stop()
    return traced


def _subprocess(database_url: str, *arguments: str) -> dict:
    """Run this module in a fresh interpreter; its last line of output is the JSON answer. The database URL goes
    in the environment, not the command line, where `ps` would show a password."""
    done = subprocess.run([sys.executable, "-m", "bench.contacts", *arguments], cwd=ROOT, capture_output=True,
                          text=True, check=False, env=os.environ | {URL_VARIABLE: database_url})
    if done.returncode:
        raise RuntimeError(f"bench.contacts {arguments[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the benchmark ------------------------------------------------------------------------------------------


def run(sizes: tuple[int, ...] = (100_000, 1_000_000), repeats: int = 200,
        databases: dict[str, str | None] | None = None) -> dict:
    """Seed and measure each engine and size in its own subprocesses; return JSON-serialisable results.

    `databases` maps an engine's name to a URL whose schema is DROPPED and rebuilt for every size, or to None for
    a new SQLite file in a temporary directory (the product's embedded default), removed afterwards.
    """
    started = time.perf_counter()
    engines = {}
    for engine, database_url in (databases or {"sqlite": None}).items():
        runs = []
        for size in sorted(sizes):
            with tempfile.TemporaryDirectory(prefix="bench-contacts-") as directory:
                url = database_url or f"sqlite:///{Path(directory) / 'contacts.sqlite3'}"
                instance = str(Path(directory) / "instance")
                seeded = _subprocess(url, "seed", str(size), instance)
                served = _subprocess(url, "serve", instance, str(repeats))
            runs.append({"size": size, "seed_s": seeded["seed_s"], **served})
        engines[engine] = _judged(runs)
    met = {target: all(e["targets_met"][target] for e in engines.values()) for target in ("p95", "memory_flat",
                                                                                          "seed")}
    largest = max(sizes)
    return {"repeats": repeats, "per_page": next(iter(engines.values()))["runs"][-1]["per_page"],
            "targets": {"p95_ms_under": TARGET_P95_MS, "seed_s_under": TARGET_SEED_S,
                        "memory_tolerance": MEMORY_TOLERANCE, "judged_at": largest},
            "targets_met": met, "engines": engines, "chart": _chart(engines),
            "seconds": round(time.perf_counter() - started, 1)}


def _judged(runs: list[dict]) -> dict:
    smallest, largest = runs[0], runs[-1]
    peaks = [r["memory"]["peak_rss_during_requests_mb"] or r["memory"]["peak_rss_mb"] for r in (smallest, largest)]
    met = {"p95": all(q["p95_within_target"] for q in largest["requests"].values()),
           "memory_flat": peaks[1] <= peaks[0] * (1 + MEMORY_TOLERANCE), "seed": largest["seed_s"] < TARGET_SEED_S}
    return {"runs": runs, "targets_met": met, "memory_peaks_mb": dict(zip(("smallest", "largest"), peaks, strict=True))}


def _chart(engines: dict) -> list[dict]:
    """p95 per request at the largest size, one bar per engine."""
    names = list(next(iter(engines.values()))["runs"][-1]["requests"])
    return [{"label": next(iter(engines.values()))["runs"][-1]["requests"][name]["label"].split(" (")[0],
             "p95_ms": {engine: e["runs"][-1]["requests"][name]["server"]["p95_ms"] for engine, e in engines.items()}}
            for name in names]


def report_lines(results: dict) -> list[str]:
    """The Markdown section for bench/results/report.md."""
    targets, met = results["targets"], results["targets_met"]
    lines = [f"## Contacts at {targets['judged_at']:,}", "",
             f"{results['per_page']} rows a page. Median (p95) in ms over {results['repeats']} requests each by a "
             "signed-in admin, through the app's test client, with the URL and htmx headers the browser sends, each "
             "answer first checked against plain SQL (rows, order, total). In the database: the app's own "
             "statements, median ms (count), untimed pass.", "",
             "| engine | contacts | request | rows of total | through Flask | in the database | p95 < 50 ms |",
             "|---|---|---|---|---|---|---|"]
    for engine, e in results["engines"].items():
        for r in e["runs"]:
            for q in r["requests"].values():
                server, app_sql = q["server"], q["app_sql"]
                shown = f"{q['rows']} of {q['total']}" if q["total"] != "none" else "none match"
                lines.append(f"| {engine} | {r['contacts']:,} | {q['label']} | {shown} | "
                             f"{server['median_ms']:.1f} ({server['p95_ms']:.1f}) | "
                             f"{app_sql['median_ms']:.1f} ({app_sql['statements']}) | "
                             f"{'yes' if q['p95_within_target'] else '**no**'} |")
    lines += ["", "Seeding (`crm seed-demo --contacts N`, in its own process) and the memory of the process that "
                  "served the requests:", "",
              "| engine | contacts | seeding (s) | peak RSS of the process (MB) | peak RSS while the timed requests "
              "ran (MB) | largest tracemalloc peak of one request (KB) |", "|---|---|---|---|---|---|"]
    for engine, e in results["engines"].items():
        for r in e["runs"]:
            memory = r["memory"]
            during = memory["peak_rss_during_requests_mb"]
            lines.append(f"| {engine} | {r['contacts']:,} | {r['seed_s']} | {memory['peak_rss_mb']} | "
                         f"{during if during is not None else 'n/a'} | {memory['traced_peak_per_request_kb']} |")
    verdict = {True: "met", False: "NOT met"}
    lines += ["", f"Targets at {targets['judged_at']:,} contacts, on every engine: p95 under "
                  f"{targets['p95_ms_under']:g} ms ({verdict[met['p95']]}); seeding under "
                  f"{targets['seed_s_under']:g} s ({verdict[met['seed']]}); peak memory flat from the smallest size "
                  f"to the largest, within {targets['memory_tolerance']:.0%} ({verdict[met['memory_flat']]})."]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    seeding = commands.add_parser("seed", help=f"(internal) seed the database ${URL_VARIABLE} names")
    seeding.add_argument("contacts", type=int)
    seeding.add_argument("instance")
    serving = commands.add_parser("serve", help=f"(internal) time the requests on the database ${URL_VARIABLE} names")
    serving.add_argument("instance")
    serving.add_argument("repeats", type=int)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--postgresql", help="a database to DROP and rebuild per size (default: CRM_BENCH_DATABASE_URL "
                                             "or the local crm_bench); 'no' leaves PostgreSQL out")
    arguments = parser.parse_args(argv)
    if arguments.command == "seed":
        result = seed(os.environ[URL_VARIABLE], arguments.contacts, arguments.instance)
    elif arguments.command == "serve":
        result = serve(os.environ[URL_VARIABLE], arguments.instance, arguments.repeats)
    else:
        result = run(tuple(arguments.sizes), arguments.repeats, _databases(arguments.sqlite, arguments.postgresql))
    print(json.dumps(result, indent=None if arguments.command else 2))


def _databases(sqlite: bool, postgresql: str | None) -> dict[str, str | None]:
    from bench.databases import postgres_url

    databases: dict[str, str | None] = {"sqlite": None} if sqlite else {}
    if postgresql != "no":
        url, why_not = postgres_url(postgresql)
        if url is None:
            print(f"PostgreSQL left out: {why_not}", file=sys.stderr)
        else:
            databases["postgresql"] = url
    return databases


if __name__ == "__main__":
    main()
