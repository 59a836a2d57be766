"""Benchmark 4, contacts at 100,000: the list page and search as you type, beside the bare SQL for the same rows.

For each size the contacts are seeded in one subprocess (the demo seeder's bulk inserts, so names, emails,
accounts and the folded search keys are what the app writes). A fresh subprocess then only serves requests:
a signed-in administrator asks the Flask app, through its test client, for exactly what the browser asks for

- the first page (the full HTML page, as when opening Contacts),
- the last page (the htmx request the pager's links send; the deepest OFFSET there is),
- search as you type: "smi" and the one letter "a" (the htmx request the search box sends; "a" matches the most
  contacts of any letter in the demo data, about 23 %, through the name, surname, email and account branches),

and, interleaved with those requests, runs the bare SQL for the same page on its own DBAPI connection: the page's
rows (one hand-written statement, ids from the index first, then the displayed columns) and the total the pager
shows (count). Every request is checked first: 200, the same contact ids in the same order, the same total.
On SQLite the app finds the page of a search that matches many contacts by walking the sort order
(crm/contacts/services.py), which the single hand-written statement cannot: there × falls below 1.

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

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 3.0  # server time ≤ 3 × the bare SQL for the same page
TARGET_P95_MS = 50.0
MEMORY_TOLERANCE = 0.10  # "does not grow": the largest size's peak within 10 % of the smallest size's
WARM_UP = 5
TRACED_REQUESTS = 3
STATEMENT_ROUNDS = 15
URL_VARIABLE = "CRM_BENCH_CONTACTS_DATABASE_URL"  # how the subprocesses learn the database
LETTER = "a"
SEARCH = "smi"
ROW_ID = re.compile(r'<a href="/contacts/(\d+)">')
TOTAL = re.compile(r"of ([\d,]+) contacts")


# --- the requests and their bare SQL ----------------------------------------------------------------------------


def requests_for(total: int, per_page: int) -> dict[str, dict]:
    """What the browser sends for each measured view: the URL, the htmx headers, and what the bare SQL needs."""
    last = max(math.ceil(total / per_page), 1)
    results = {"HX-Request": "true", "HX-Target": "contact-results", "HX-Current-URL": "http://localhost/contacts"}
    search = results | {"HX-Trigger": "contact-search", "HX-Trigger-Name": "q"}
    return {
        "first_page": {"label": "first page (full page)", "url": "/contacts", "headers": {}, "q": "", "page": 1},
        "last_page": {"label": f"last page, {last:,} (htmx pager)", "url": f"/contacts?page={last}",
                      "headers": results, "q": "", "page": last},
        "search": {"label": f'search "{SEARCH}" (htmx)', "url": f"/contacts?q={SEARCH}&sort=name",
                   "headers": search, "q": SEARCH, "page": 1},
        "search_letter": {"label": f'search "{LETTER}" (htmx)', "url": f"/contacts?q={LETTER}&sort=name",
                          "headers": search, "q": LETTER, "page": 1},
    }


def bare_sql(q: str) -> tuple[str, str, dict]:
    """(rows statement, count statement, parameters) for the page the app shows for search `q`, sorted by name.

    The same prefix ranges on the folded keys as the app (crm.search_keys), written by hand; the rows statement
    finds the page's ids from the index first and joins only those, the fastest single statement for a deep page.
    """
    from crm.search_keys import fold

    low = fold(q)
    where, params = "", {}
    if low:
        params = {"low": low, "high": low[:-1] + chr(ord(low[-1]) + 1)}
        where = ("WHERE (name_key >= :low AND name_key < :high) OR (surname_key >= :low AND surname_key < :high) "
                 "OR (email_key >= :low AND email_key < :high) OR account_id IN "
                 "(SELECT id FROM account WHERE name_key >= :low AND name_key < :high)")
    rows = ("SELECT c.id, c.full_name, c.email, a.name, c.job_title, t.name, c.created_at "
            f"FROM (SELECT id FROM contact {where} ORDER BY name_key, id LIMIT :limit OFFSET :offset) AS page "
            "JOIN contact AS c ON c.id = page.id LEFT JOIN account AS a ON a.id = c.account_id "
            "LEFT JOIN contact_type AS t ON t.id = c.type_id ORDER BY c.name_key, c.id")
    return rows, f"SELECT count(*) FROM contact {where}".strip(), params


def _dbapi(sql: str, paramstyle: str) -> str:
    """`:name` parameters in the driver's own style (sqlite3 takes them as they are; psycopg wants %(name)s)."""
    return re.sub(r":(\w+)", r"%(\1)s", sql) if paramstyle in ("pyformat", "format") else sql


# --- statistics ----------------------------------------------------------------------------------------------


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
    """A fresh schema with exactly `contacts` contacts: the demo data (its bulk contact inserts) and an admin."""
    from sqlalchemy import text

    from crm.demo.seed import contact_count, seed_demo
    from crm.extensions import db
    from tests import factories

    started = time.perf_counter()
    app = _app(database_url, instance)
    with app.app_context():
        db.drop_all()
        db.create_all()
        factories.admin_user()  # the admin and the demo users have contacts of their own
        seed_demo(contacts=max(contacts - 1 - 3, 0))
        count = contact_count()
        db.session.commit()
        if db.engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
    return {"contacts": count, "seed_s": round(time.perf_counter() - started, 2)}


def _login(client) -> None:
    from tests.factories import PASSWORD

    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code


def serve(database_url: str, instance: str, repeats: int) -> dict:
    """Time each request through the app beside its bare SQL, check what it answered, and measure memory."""
    import tracemalloc

    from sqlalchemy import create_engine

    app = _app(database_url, instance)
    per_page = app.config["PAGE_SIZE"]
    client = app.test_client()
    _login(client)
    engine = create_engine(database_url)
    connection = engine.raw_connection()
    cursor = connection.cursor()
    paramstyle = engine.dialect.dbapi.paramstyle
    cursor.execute("SELECT count(*) FROM contact")
    total = cursor.fetchone()[0]
    views = requests_for(total, per_page)

    def get(view: dict):
        response = client.get(view["url"], headers=view["headers"])
        assert response.status_code == 200, (view["url"], response.status_code)
        return response

    def rows(view: dict) -> list:
        cursor.execute(view["rows_sql"], view["params"] | {"limit": per_page, "offset": (view["page"] - 1) * per_page})
        return cursor.fetchall()

    def count(view: dict) -> int:
        cursor.execute(view["count_sql"], view["params"])
        return cursor.fetchone()[0]

    checks = {}
    for name, view in views.items():
        rows_sql, count_sql, params = bare_sql(view["q"])
        view.update(rows_sql=_dbapi(rows_sql, paramstyle), count_sql=_dbapi(count_sql, paramstyle), params=params)
        html = get(view).get_data(as_text=True)
        shown, expected = [int(i) for i in ROW_ID.findall(html)], [row[0] for row in rows(view)]
        shown_total, expected_total = int(TOTAL.search(html).group(1).replace(",", "")), count(view)
        is_partial = "<html" not in html
        checks[name] = {"status": 200, "rows": len(shown), "total": shown_total, "partial": is_partial,
                        "same_rows_as_sql": shown == expected, "same_total_as_sql": shown_total == expected_total}
        assert shown == expected, (name, shown[:5], expected[:5])
        assert shown_total == expected_total, (name, shown_total, expected_total)
        assert is_partial == bool(view["headers"]), name
    for _ in range(WARM_UP):
        for view in views.values():
            get(view), rows(view), count(view)

    before = _memory()
    peak_reset = _reset_peak_rss()
    samples = {name: {"server": [], "sql_rows": [], "sql_count": []} for name in views}
    clock = time.perf_counter
    for _ in range(repeats):  # interleaved, so drift on a noisy machine hits both sides alike
        for name, view in views.items():
            started = clock()
            get(view)
            served = clock()
            rows(view)
            fetched = clock()
            count(view)
            counted = clock()
            timed = samples[name]
            timed["server"].append((served - started) * 1000)
            timed["sql_rows"].append((fetched - served) * 1000)
            timed["sql_count"].append((counted - fetched) * 1000)
    during = _memory()

    statements = _statements(app, views, get)
    traced = {}
    for name, view in views.items():  # untimed: tracemalloc slows Python down several times
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(TRACED_REQUESTS):
            get(view)
        traced[name] = round((tracemalloc.get_traced_memory()[1] - baseline) / 1024, 1)
        tracemalloc.stop()
    cursor.close()
    connection.close()
    engine.dispose()

    results = {}
    for name, view in views.items():
        timed = samples[name]
        page_sql = [r + c for r, c in zip(timed["sql_rows"], timed["sql_count"], strict=True)]
        result = {"label": view["label"], "url": view["url"], "htmx": bool(view["headers"]), **checks[name],
                  "server": summary(timed["server"]), "sql": summary(page_sql),
                  "sql_rows": summary(timed["sql_rows"]), "sql_count": summary(timed["sql_count"]),
                  "app_sql": statements[name], "traced_peak_kb": traced[name]}
        result["ratio"] = round(result["server"]["median_ms"] / result["sql"]["median_ms"], 2)
        result["ratio_to_rows_only"] = round(result["server"]["median_ms"] / result["sql_rows"]["median_ms"], 2)
        result["p95_within_target"] = result["server"]["p95_ms"] < TARGET_P95_MS
        result["ratio_within_target"] = result["ratio"] <= TARGET_RATIO
        results[name] = result
    return {"contacts": total, "per_page": per_page, "database": engine.dialect.name, "requests": results,
            "memory": {"before_requests": before, "after_requests": during, "peak_reset_before_requests": peak_reset,
                       "peak_rss_mb": max(before["peak_rss_mb"] or 0, during["peak_rss_mb"] or 0) or None,
                       "peak_rss_during_requests_mb": during["peak_rss_mb"] if peak_reset else None,
                       "traced_peak_per_request_kb": max(traced.values())}}


def _statements(app, views: dict, get) -> dict:
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
        for _ in range(STATEMENT_ROUNDS):  # round robin, as in the timed loop
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


def _subprocess(database_url: str, *arguments: str) -> dict:
    """Run this module in a fresh interpreter; its last line of output is the JSON answer. The database URL goes
    in the environment, not the command line, where `ps` would show a password."""
    done = subprocess.run([sys.executable, "-m", "bench.contacts", *arguments], cwd=ROOT, capture_output=True,
                          text=True, check=False, env=os.environ | {URL_VARIABLE: database_url})
    if done.returncode:
        raise RuntimeError(f"bench.contacts {arguments[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the benchmark ------------------------------------------------------------------------------------------


def run(sizes: tuple[int, ...] = (10_000, 100_000), repeats: int = 200, database_url: str | None = None) -> dict:
    """Seed and measure each size in its own subprocesses; return JSON-serialisable results.

    Without `database_url` each size gets a new SQLite file in a temporary directory (the product's embedded
    default), removed afterwards. With one, its schema is DROPPED and rebuilt for every size.
    """
    started = time.perf_counter()
    runs = []
    for size in sorted(sizes):
        with tempfile.TemporaryDirectory(prefix="bench-contacts-") as directory:
            url = database_url or f"sqlite:///{Path(directory) / 'contacts.sqlite3'}"
            instance = str(Path(directory) / "instance")
            seeded = _subprocess(url, "seed", str(size), instance)
            served = _subprocess(url, "serve", instance, str(repeats))
        runs.append({"size": size, "seed_s": seeded["seed_s"], **served})
    smallest, largest = runs[0], runs[-1]
    peaks = [r["memory"]["peak_rss_during_requests_mb"] or r["memory"]["peak_rss_mb"] for r in (smallest, largest)]
    judged = largest["requests"].values()  # the targets are for the largest size; smaller ones show the trend
    met = {"p95": all(q["p95_within_target"] for q in judged), "ratio": all(q["ratio_within_target"] for q in judged),
           "memory_flat": peaks[1] <= peaks[0] * (1 + MEMORY_TOLERANCE)}
    return {"database": largest["database"], "repeats": repeats, "per_page": largest["per_page"],
            "targets": {"ratio_to_bare_sql": TARGET_RATIO, "p95_ms_under": TARGET_P95_MS,
                        "memory_tolerance": MEMORY_TOLERANCE, "judged_at": largest["contacts"]},
            "targets_met": met, "memory_peaks_mb": dict(zip(("smallest", "largest"), peaks, strict=True)),
            "runs": runs,
            "chart": [{"label": q["label"].split(" (")[0], "server_ms": q["server"]["median_ms"],
                       "sql_ms": q["sql"]["median_ms"]} for q in largest["requests"].values()],
            "seconds": round(time.perf_counter() - started, 1)}


def report_lines(results: dict) -> list[str]:
    """The Markdown section for bench/results/report.md."""
    targets, met = results["targets"], results["targets_met"]
    lines = ["## Contacts at 100,000", "",
             f"{results['database']}, {results['per_page']} rows a page. Median (p95) in ms over {results['repeats']} "
             "requests each by a signed-in admin, through the app's test client, with the URL and htmx headers the "
             "browser sends. Bare SQL: the page's rows (one hand-written statement) plus the total the pager shows, "
             "on a DBAPI connection, timed between the same requests. × is the median's ratio to the bare SQL "
             "(× rows: to the rows statement alone); in the database: the app's own statements, median, untimed pass.",
             "", "| contacts | request | rows | through Flask | bare SQL | × | × rows | in the database (statements) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        for q in r["requests"].values():
            server, sql, app_sql = q["server"], q["sql"], q["app_sql"]
            lines.append(f"| {r['contacts']:,} | {q['label']} | {q['rows']} of {q['total']:,} | "
                         f"{server['median_ms']:.2f} ({server['p95_ms']:.2f}) | "
                         f"{sql['median_ms']:.2f} ({sql['p95_ms']:.2f}) | {q['ratio']} | {q['ratio_to_rows_only']} | "
                         f"{app_sql['median_ms']:.2f} ({app_sql['statements']}) |")
    lines += ["", "Memory of the process that served the requests (seeding ran in another process):", "",
              "| contacts | peak RSS of the process, sign-in's password hash included (MB) | "
              "peak RSS while the timed requests ran (MB) | "
              "largest tracemalloc peak of one request (KB) | seeding (s) |", "|---|---|---|---|---|"]
    for r in results["runs"]:
        memory = r["memory"]
        during = memory["peak_rss_during_requests_mb"]
        lines.append(f"| {r['contacts']:,} | {memory['peak_rss_mb']} | {during if during is not None else 'n/a'} | "
                     f"{memory['traced_peak_per_request_kb']} | {r['seed_s']} |")
    cheaper = [q["label"].split(" (")[0] for q in results["runs"][-1]["requests"].values() if q["ratio"] < 1]
    if cheaper:
        lines += ["", f"× below 1 ({', '.join(cheaper)}): the app's own statements cost less than the bare SQL there "
                      "(see in the database), because it finds the page another way than the hand-written statement."]
    verdict = {True: "met", False: "NOT met"}
    lines += ["", f"Targets at {targets['judged_at']:,} contacts: ≤ {targets['ratio_to_bare_sql']:g} × the bare SQL "
                  f"({verdict[met['ratio']]}), p95 under {targets['p95_ms_under']:g} ms ({verdict[met['p95']]}); "
                  f"peak memory flat from the smallest size to the largest, within {targets['memory_tolerance']:.0%} "
                  f"({verdict[met['memory_flat']]})."]
    if not met["ratio"]:
        largest = results["runs"][-1]["requests"]
        over = [q for q in largest.values() if q["ratio"] > targets["ratio_to_bare_sql"]]
        lines += ["", "What stands in the way: " + "; ".join(
            f"{q['label']} spends {q['app_sql']['median_ms']} ms of its {q['server']['median_ms']} ms in the database"
            for q in over) + ". The rest is outside SQL (Flask, Jinja rendering the page, loading the signed-in "
            "user), the same at every size: a ratio to a sub-millisecond query cannot hold for a whole HTML page."]
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
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--database-url", help="a database to DROP and rebuild per size (default: SQLite, temporary)")
    arguments = parser.parse_args(argv)
    if arguments.command == "seed":
        result = seed(os.environ[URL_VARIABLE], arguments.contacts, arguments.instance)
    elif arguments.command == "serve":
        result = serve(os.environ[URL_VARIABLE], arguments.instance, arguments.repeats)
    else:
        result = run(tuple(arguments.sizes), arguments.repeats, arguments.database_url)
    print(json.dumps(result, indent=None if arguments.command else 2))


if __name__ == "__main__":
    main()
