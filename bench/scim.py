"""Benchmark 7, SCIM at 100,000 users: what a directory (Entra ID, Okta) asks of /scim/v2 over HTTP, on SQLite and
PostgreSQL.

The users are seeded in bulk (Core inserts of the rows SCIM itself writes: the user, the contact, the identity link
with its externalId, a license seat), as one provider's directory made them; a second provider's users are
interleaved with them (one row in five), so every answer must be scoped to the token's provider. The console then
runs as in production (gunicorn, 2 worker processes × 4 threads, the default per-token rate limit) and one client
with a keep-alive connection asks, as a directory does before each write, for `userName eq "..."` (random users,
and another provider's user: 0 results), and for pages of 100 at random startIndex (deep ones too, in the last tenth).
Every answer is checked (the one user, or the page's first id and the total) before it counts.

Then the writes: 50 requests a second for 60 seconds, open loop (each is due at its time whether or not the ones
before have answered, as a directory's workers send them), a mix of POST of new users, PATCH replace of title and
department, PATCH active "False" (Entra's dialect: deprovisioning, which ends sessions and releases seats) and PUT of
the whole user. Reported: the rate achieved, latency percentiles, errors (any answer but the expected one, 429s
included); the database is checked afterwards (every write made, every write audited). Targets (issue 13): p95 under
20 ms for the filter and 100 ms for a page, 50 writes a second for 60 s with no error. Nothing here asserts a time.
"""
from __future__ import annotations

import http.client
import json
import queue
import random
import tempfile
import threading
import time
import urllib.parse
import uuid
from datetime import datetime
from pathlib import Path

from bench import storm
from bench.audit import summary

USERS = 100_000
OTHER_EVERY = 5  # every fifth seeded row is the other provider's user
REPEATS = 200
WRITE_RATE = 50.0  # per second: twice what Microsoft asks of gallery apps (25)
WRITE_SECONDS = 60.0
READ_RATE = 50.0  # reads a second, paced like a directory's (the per-token limit is 100 a second per process)
WRITERS = 16  # client threads: enough that a slow answer never holds the next request back
THREADS = 4  # per gunicorn worker, as README's production command
TARGETS_MS = {"filter": 20.0, "page": 100.0}
SCIM = "/scim/v2"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GIVEN = ("Nina", "Oskar", "Maya", "Liam", "Sofia", "Noah", "Ella", "Lucas", "Mila", "Leon", "Ava", "Jonas")
SURNAMES = ("Novak", "Berg", "Kowalski", "Smith", "Garcia", "Müller", "Rossi", "Dubois", "Jansen", "Nieminen")
TITLES = ("Account Executive", "Engineer", "Support Specialist", "Analyst", "Manager", "Consultant")
ACCOUNTS = ("Contoso Ltd", "Fabrikam Inc", "Northwind Traders")
WRITES = ("post", "patch_replace", "patch_deactivate", "put")


def username(i: int, provider: str) -> str:
    """Seeded row i's userName (the domain tells the provider)."""
    return f"user{i:06d}@{'contoso.com' if provider == 'entra' else 'fabrikam.com'}"


def external_id(name: str) -> str:
    """The directory's immutable id for a userName (Entra's objectId: a GUID)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _setup(database_url: str) -> dict:
    """Schema, lookups, an unlimited license package, providers entra and okta with SCIM on and a token each."""
    from crm import create_app
    from crm.contacts.models import Account
    from crm.demo.lookups import load_lookups
    from crm.extensions import db
    from crm.identity_providers.scim_tokens import new_token
    from tests import factories

    with tempfile.TemporaryDirectory(prefix="crm-scim-") as instance:
        app = create_app({"SECRET_KEY": "scim", "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": instance})
        with app.app_context():
            db.create_all()
            load_lookups()
            package = factories.package("Sales Creatio", None)
            db.session.add_all(Account(name=name) for name in ACCOUNTS)
            providers, tokens = {}, {}
            for slug in ("entra", "okta"):
                provider = factories.provider(slug)
                provider.scim_enabled = True
                providers[slug] = provider.id
                tokens[slug] = new_token(provider)[1]
            db.session.commit()
            from crm.contacts.models import Department

            departments = [d.id for d in db.session.query(Department).order_by(Department.id)]
            accounts = [a.id for a in db.session.query(Account).order_by(Account.id)]
            setup = {"providers": providers, "tokens": tokens, "package": package.id, "departments": departments,
                     "accounts": accounts}
            db.engine.dispose()
    return setup


def seed(database_url: str, users: int, setup: dict) -> dict:
    """`users` SCIM users of entra and a quarter as many of okta, interleaved, in bulk; their ids and the seconds."""
    from sqlalchemy import create_engine, insert, text

    from crm.auth.models import User
    from crm.contacts.models import Contact
    from crm.licensing.models import LicenseSeat
    from crm.users.models import UserIdentity

    rng, now = random.Random(7), datetime.now().replace(microsecond=0)
    total = users + users // (OTHER_EVERY - 1)
    rows: dict[str, list[dict]] = {"contact": [], "user": [], "identity": [], "seat": []}
    entra_ids: list[int] = []
    for n in range(1, total + 1):
        provider = "okta" if n % OTHER_EVERY == 0 else "entra"
        if provider == "entra":
            entra_ids.append(n)
        name = username(n, provider)
        given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
        full = f"{given} {surname}"
        rows["contact"].append({
            "id": n, "given_name": given, "surname": surname, "full_name": full, "email": name,
            "job_title": rng.choice(TITLES), "department_id": rng.choice(setup["departments"]),
            "account_id": rng.choice(setup["accounts"]), "name_key": full.lower(), "surname_key": surname.lower(),
            "email_key": name, "created_at": now, "updated_at": now})
        rows["user"].append({"id": n, "username": name, "username_key": name, "active": True, "source": "scim",
                             "user_type": "employee", "contact_id": n, "created_at": now})
        rows["identity"].append({"id": n, "user_id": n, "provider_id": setup["providers"][provider], "name_id": name,
                                 "name_id_key": name, "immutable_id": external_id(name), "created_at": now})
        rows["seat"].append({"user_id": n, "package_id": setup["package"], "granted_at": now,
                             "granted_by": f"scim:{provider}"})
    engine = create_engine(database_url)
    started = time.perf_counter()
    with engine.begin() as connection:
        for model, key in ((Contact, "contact"), (User, "user"), (UserIdentity, "identity"), (LicenseSeat, "seat")):
            for at in range(0, len(rows[key]), 10_000):
                connection.execute(insert(model.__table__), rows[key][at:at + 10_000])
        connection.execute(text("UPDATE license_package SET seats_used = :n WHERE id = :id"),
                           {"n": total, "id": setup["package"]})
        if engine.dialect.name == "postgresql":
            for table in ("contact", "user_account", "user_identity"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {total})"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE)")
    seconds = round(time.perf_counter() - started, 1)
    engine.dispose()
    return {"entra_ids": entra_ids, "total": total, "seed_s": seconds}


class Console(storm.Server):
    """The console under gunicorn, ready when its login page answers."""

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", "/login")
            response = connection.getresponse()
            response.read()
            return response.status == 200
        except OSError:
            return False
        finally:
            connection.close()


class Directory:
    """One directory connection: keep-alive, the provider's bearer token, SCIM JSON."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None, float]:
        """(status, JSON body, milliseconds from sending to the last byte)."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/scim+json"}
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/scim+json"
        started = time.perf_counter()
        try:
            self.connection.request(method, SCIM + path, body=data, headers=headers)
            response = self.connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        elapsed = (time.perf_counter() - started) * 1000
        return response.status, json.loads(raw) if raw else None, elapsed


def _query(**params) -> str:
    return "/Users?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def reads(port: int, tokens: dict, seeded: dict, users: int, repeats: int) -> dict:
    """The filter and page requests round robin, each answer checked first; median and p95 of each."""
    rng, entra_ids = random.Random(11), seeded["entra_ids"]
    entra, okta = Directory(port, tokens["entra"]), Directory(port, tokens["okta"])
    deep_from = max(users - users // 10, 1)

    def filter_one(directory: Directory, wanted: str, found: int) -> float:
        status, body, ms = directory.call("GET", _query(filter=f'userName eq "{wanted}"'))
        assert status == 200 and body["totalResults"] == found, (wanted, status, body)
        assert found == 0 or body["Resources"][0]["userName"] == wanted
        return ms

    def page(start: int) -> float:
        status, body, ms = entra.call("GET", _query(startIndex=start, count=100))
        assert status == 200 and body["totalResults"] == users, (start, status, body and body.get("totalResults"))
        assert body["itemsPerPage"] == min(100, users - start + 1)
        assert body["Resources"][0]["id"] == str(entra_ids[start - 1]), (start, body["Resources"][0]["id"])
        return ms

    def other_provider() -> str:
        n = rng.randrange(1, seeded["total"] // OTHER_EVERY + 1) * OTHER_EVERY
        return username(n, "okta")

    series = {
        "filter": lambda: filter_one(entra, username(rng.choice(entra_ids), "entra"), 1),
        "filter_other_provider": lambda: filter_one(entra, other_provider(), 0),
        "filter_own_from_other_token": lambda: filter_one(okta, other_provider(), 1),
        "page": lambda: page(rng.randint(1, max(users - 99, 1))),
        "page_deep": lambda: page(rng.randint(deep_from, max(users - 99, deep_from))),
    }
    samples: dict[str, list[float]] = {name: [] for name in series}
    gap, last = 1 / READ_RATE, 0.0
    for round_ in range(repeats + 3):  # three rounds to warm up both workers
        for name, measure in series.items():
            time.sleep(max(0.0, last + gap - time.monotonic()))
            last = time.monotonic()
            ms = measure()
            if round_ >= 3:
                samples[name].append(ms)
    for directory in (entra, okta):
        directory.connection.close()
    results = {name: summary(values) for name, values in samples.items()}
    for name, r in results.items():
        r["target_p95_ms"] = TARGETS_MS["filter" if name.startswith("filter") else "page"]
        r["within_target"] = r["p95_ms"] < r["target_p95_ms"]
    return results


def _write_request(kind: str, n: int, target: int) -> tuple[str, str, dict, int]:
    """(method, path, body, expected status) of write n: `target` is a seeded user of entra's (none for a POST)."""
    if kind == "post":
        name = f"new{n:06d}@contoso.com"
        body = {"schemas": [USER, ENTERPRISE], "userName": name, "externalId": external_id(name), "active": True,
                "displayName": "Nina Novak", "name": {"givenName": "Nina", "familyName": "Novak"},
                "emails": [{"primary": True, "type": "work", "value": name}], "title": "Account Executive",
                ENTERPRISE: {"department": "Sales", "organization": "Contoso Ltd"}}
        return "POST", "/Users", body, 201
    if kind == "patch_replace":
        operations = [{"op": "Replace", "path": "title", "value": f"Engineer {n}"},
                      {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Marketing"}]
        return "PATCH", f"/Users/{target}", {"schemas": [PATCH_OP], "Operations": operations}, 200
    if kind == "patch_deactivate":
        operations = [{"op": "Replace", "path": "active", "value": "False"}]
        return "PATCH", f"/Users/{target}", {"schemas": [PATCH_OP], "Operations": operations}, 200
    name = username(target, "entra")
    body = {"schemas": [USER, ENTERPRISE], "userName": name, "externalId": external_id(name), "active": True,
            "displayName": f"Put {n}", "name": {"givenName": "Put", "familyName": str(n)},
            "emails": [{"primary": True, "type": "work", "value": name}], "title": "Consultant",
            ENTERPRISE: {"department": "Finance", "organization": "Fabrikam Inc"}}
    return "PUT", f"/Users/{target}", body, 200


def writes(port: int, token: str, entra_ids: list[int], rate: float, seconds: float,
           cpu: tuple[int, str] | None = None) -> dict:
    """`rate` writes a second for `seconds`, open loop, from WRITERS threads; what each answered and when, and (with
    `cpu`: the server's pid and database name) the CPU the server, PostgreSQL and everything else used meanwhile."""
    count = int(rate * seconds)
    targets = random.Random(13).sample(entra_ids, count)  # each write changes a user no other write touches
    plan: queue.Queue = queue.Queue()
    for n in range(count):
        plan.put((n / rate, n, WRITES[n % len(WRITES)], targets[n]))
    log: list[tuple[str, int, int, float, float, float]] = []  # kind, status, expected, due, sent, done (s)
    errors: list[str] = []
    start = time.monotonic() + 0.5

    def writer() -> None:
        directory = Directory(port, token)
        while True:
            try:
                due, n, kind, target = plan.get_nowait()
            except queue.Empty:
                break
            time.sleep(max(0.0, start + due - time.monotonic()))
            method, path, body, expected = _write_request(kind, n, target)
            sent = time.monotonic()
            try:
                status, answer, _ms = directory.call(method, path, body)
            except (OSError, http.client.HTTPException) as error:
                errors.append(f"{kind} {path}: {type(error).__name__}: {error}")
                directory = Directory(port, token)
                continue
            log.append((kind, status, expected, due, sent - start, time.monotonic() - start))
            if status != expected:
                errors.append(f"{kind} {path}: HTTP {status} {(answer or {}).get('detail', '')}"[:300])
        directory.connection.close()

    workers = [threading.Thread(target=writer) for _ in range(WRITERS)]
    meter = storm.CpuMeter(*cpu) if cpu else None
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    used = meter.stop(time.monotonic() - start) if meter else None
    return _write_summary(log, errors, count, rate, seconds) | {"cpu_s": used, "cpu_ms_per_write": {
        name: round(used[name] * 1000 / max(len(log), 1), 1) for name in ("server", "postgresql")} if used else None}


def _write_summary(log: list, errors: list, count: int, rate: float, seconds: float) -> dict:
    latencies = [(done - sent) * 1000 for _k, _s, _e, _due, sent, done in log]
    late = [(sent - due) * 1000 for _k, _s, _e, due, sent, _d in log]
    finished = max((done for *_rest, done in log), default=0.0)
    by_kind = {kind: summary([(d - s) * 1000 for k, _st, _e, _due, s, d in log if k == kind] or [0.0])
               for kind in WRITES}
    return {"planned": count, "rate_asked": rate, "seconds_asked": seconds, "answered": len(log),
            "ok": sum(1 for _k, status, expected, *_r in log if status == expected),
            "errors": len(errors), "error_samples": errors[:5],
            "throttled_429": sum(1 for _k, status, *_r in log if status == 429),
            "achieved_rate": round(len(log) / finished, 1) if finished else 0.0, "last_answer_s": round(finished, 1),
            "latency": summary(latencies or [0.0]) | {"p99_ms": _p99(latencies)},
            "start_late_p95_ms": summary(late or [0.0])["p95_ms"], "by_kind": by_kind}


def _p99(values: list[float]) -> float:
    ordered = sorted(values) or [0.0]
    return round(ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)], 3)


def check_writes(database_url: str, seeded_total: int, planned: int) -> dict:
    """What the writes left in the database: every POST a user, every deactivation an inactive user without a seat,
    every write one audit event."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    per_kind = [sum(1 for n in range(planned) if n % len(WRITES) == i) for i in range(len(WRITES))]
    with engine.connect() as connection:
        users = connection.scalar(text("SELECT count(*) FROM user_account"))
        inactive = connection.scalar(text("SELECT count(*) FROM user_account WHERE inactive_reason = 'scim'"))
        seatless = connection.scalar(text(
            "SELECT count(*) FROM user_account u WHERE inactive_reason = 'scim' AND NOT EXISTS "
            "(SELECT 1 FROM license_seat s WHERE s.user_id = u.id)"))
        audited = connection.scalar(text("SELECT count(*) FROM audit_event WHERE action LIKE 'scim.user_%'"))
    engine.dispose()
    expected = {"users": seeded_total + per_kind[0], "deactivated": per_kind[2], "audit_events": planned}
    found = {"users": users, "deactivated": inactive, "deactivated_without_seat": seatless, "audit_events": audited}
    return {"expected": expected, "found": found,
            "all_written": found["users"] == expected["users"] and inactive == seatless == expected["deactivated"]
            and audited == expected["audit_events"]}


def run(users: int = USERS, repeats: int = REPEATS, rate: float = WRITE_RATE, seconds: float = WRITE_SECONDS,
        databases: dict[str, str | None] | None = None) -> dict:
    """Seed, read and write on each engine (SQLite in a temporary file unless a URL is given)."""
    from sqlalchemy.engine import make_url

    engines = {}
    for engine, url in (databases or {"sqlite": None}).items():
        folder = tempfile.TemporaryDirectory(prefix="crm-scim-db-")
        if url:
            storm._fresh_database(url)
        url = url or f"sqlite:///{Path(folder.name) / 'scim.sqlite3'}"
        setup = _setup(url)
        seeded = seed(url, users, setup)
        server = Console(url, storm._free_port(), THREADS)
        try:
            server.wait_ready()
            read = reads(server.port, setup["tokens"], seeded, users, repeats)
            database = make_url(url).database if engine == "postgresql" else "(no PostgreSQL database)"
            written = writes(server.port, setup["tokens"]["entra"], seeded["entra_ids"], rate, seconds,
                             cpu=(server.process.pid, database))
            log_tail = server.log_tail() if written["errors"] else None
        finally:
            server.stop()
            server.log.unlink(missing_ok=True)
        checked = check_writes(url, seeded["total"], written["planned"])
        folder.cleanup()
        engines[engine] = {"users": users, "other_provider_users": seeded["total"] - users,
                           "seed_s": seeded["seed_s"], "reads": read, "writes": written, "checked": checked,
                           "server": server.describe(), "server_log_tail": log_tail}
    return {"repeats": repeats, "engines": engines, "targets_met": _targets_met(engines)}


def _targets_met(engines: dict) -> dict:
    return {"filter_p95": all(r["within_target"] for e in engines.values()
                              for n, r in e["reads"].items() if n.startswith("filter")),
            "page_p95": all(r["within_target"] for e in engines.values()
                            for n, r in e["reads"].items() if n.startswith("page")),
            "writes": all(_writes_met(e) for e in engines.values())}


def _writes_met(engine: dict) -> bool:
    w = engine["writes"]
    return (w["errors"] == 0 and w["answered"] == w["planned"] and engine["checked"]["all_written"]
            and w["achieved_rate"] >= 0.98 * w["rate_asked"])


LABELS = {"filter": 'userName eq "…" (one user)', "filter_other_provider": "another provider's userName (0 found)",
          "filter_own_from_other_token": "the other provider's token, its own user",
          "page": "page of 100 at a random startIndex", "page_deep": "page of 100 in the last tenth"}


def report_lines(results: dict) -> list[str]:
    """The report's section: reads per engine, then the write run."""
    engines = results["engines"]
    first = next(iter(engines.values()))
    lines = [f"## 7. SCIM at {first['users']:,} users", "",
             f"{first['server']['software']}, {first['server']['workers']} workers × "
             f"{first['server']['threads_per_worker']} threads, the default per-token rate limit; "
             f"{first['other_provider_users']:,} users of a second provider interleaved. Reads: median (p95) in "
             f"ms over {results['repeats']} requests each from one keep-alive client paced at {READ_RATE:.0f}/s, "
             "each answer checked first.", "",
             "| request | " + " | ".join(engines) + " | target p95 |", "|---|" + "---|" * len(engines) + "---|"]
    for name, label in LABELS.items():
        cells = [f"{e['reads'][name]['median_ms']} ({e['reads'][name]['p95_ms']})" for e in engines.values()]
        target = first["reads"][name]["target_p95_ms"]
        met = all(e["reads"][name]["within_target"] for e in engines.values())
        lines.append(f"| {label} | " + " | ".join(cells) + f" | < {target:.0f} ms: {'met' if met else '**not met**'} |")
    lines += ["", f"Writes, open loop from {WRITERS} client threads (POST, PATCH replace, PATCH active \"False\", "
              "PUT in turn):",
              "", "| database | asked | answered | achieved | latency p50 / p95 / p99 ms | errors (429) | "
              "checked in the database | target |", "|---|---|---|---|---|---|---|---|"]
    for name, e in engines.items():
        w, lat = e["writes"], e["writes"]["latency"]
        lines.append(f"| {name} | {w['rate_asked']:.0f}/s × {w['seconds_asked']:.0f} s | {w['answered']:,} of "
                     f"{w['planned']:,} | {w['achieved_rate']}/s | {lat['median_ms']} / {lat['p95_ms']} / "
                     f"{lat['p99_ms']} | {w['errors']} ({w['throttled_429']}) | "
                     f"{'every write made and audited' if e['checked']['all_written'] else e['checked']} | "
                     f"{'met' if _writes_met(e) else '**not met**'} |")
    for name, e in engines.items():
        used, per = e["writes"].get("cpu_s"), e["writes"].get("cpu_ms_per_write")
        if used:
            lines.append(f"\nCPU during the {name} writes: the server {used['server']} s ({per['server']} ms a write)"
                         + (f", PostgreSQL {used['postgresql']} s ({per['postgresql']} ms a write)"
                            if name == "postgresql" else "")
                         + f", this load generator {used['load_generator']} s, other processes on the machine "
                         f"{used['other']} s, of {used['machine_available']} s the machine had.")
    lines += ["", "Seeding: " + ", ".join(f"{name} {e['seed_s']} s" for name, e in engines.items()) + "."]
    return lines


def main() -> None:
    import argparse
    import sys

    from bench.databases import postgres_url

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--rate", type=float, default=WRITE_RATE)
    parser.add_argument("--seconds", type=float, default=WRITE_SECONDS)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgresql", action="store_true")
    arguments = parser.parse_args()
    databases: dict[str, str | None] = {} if arguments.no_sqlite else {"sqlite": None}
    if not arguments.no_postgresql:
        postgres, why_not = postgres_url()
        if postgres:
            databases["postgresql"] = own_database(postgres)
        else:
            print(f"PostgreSQL skipped: {why_not}", file=sys.stderr)
    results = run(arguments.users, arguments.repeats, arguments.rate, arguments.seconds, databases)
    print("\n".join(report_lines(results)))
    json.dump(results, sys.stderr, indent=2)


def own_database(postgres: str) -> str:
    """The benchmark rebuilds its schema: a database of its own beside the bench's (`<name>_scim`)."""
    from sqlalchemy.engine import make_url

    return storm.own_database(postgres, f"{make_url(postgres).database}_scim")


if __name__ == "__main__":
    main()
