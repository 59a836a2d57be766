"""Benchmark 5, password guessing over HTTP: 32 clients, each from its own address, guess the administrator's password
as fast as the console lets them, while the real administrator signs in now and then from another address.

The console runs as in production: gunicorn, 2 worker processes with 4 threads each, so the throttle's counts must
hold across processes. The addresses are told with X-Forwarded-For, which the console trusts here only because the
benchmark starts it with CRM_TRUSTED_PROXIES=1. A guessing client sends its next guess as soon as it has an answer;
after a 429 it waits Retry-After, but never more than a second (an attacker polls).

Measured: the passwords the console checked (a 200 page saying the password is wrong), per minute of the attack; the
429s; how long the real user's sign-ins took (GET the login page, POST the password, until the 302); the audit events
the burst left. Target: at most 10 guesses a minute for the username, the real user in within 5 seconds.
Nothing here asserts a time. PostgreSQL when given (its own database `<name>_guess`), else a SQLite file.
"""
from __future__ import annotations

import http.client
import json
import re
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from bench import storm
from crm.auth.throttling import DEVICE_COOKIE

USERNAME = "admin"
THREADS = 4  # per worker, as README's production command
CLIENTS = 32
SECONDS = 240
REAL_USER_ADDRESS = "198.51.100.7"
WRONG_PAGE = b"The username or password is not correct."
MAX_POLL = 1.0


def _setup(database_url: str) -> str:
    """Schema, lookups and the administrator with the suite's password; returns the password."""
    from crm import create_app
    from crm.demo.lookups import load_lookups
    from crm.extensions import db
    from tests import factories

    with tempfile.TemporaryDirectory(prefix="crm-guess-") as instance:
        app = create_app({"SECRET_KEY": "guess", "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": instance})
        with app.app_context():
            db.create_all()
            load_lookups()
            factories.admin_user(USERNAME)
            db.engine.dispose()
    return factories.PASSWORD


class Console(storm.Server):
    """The console under gunicorn, ready when its login page answers."""

    def _answers(self) -> bool:
        try:
            return Browser(self.port, "192.0.2.1").get_login() is not None
        except (OSError, http.client.HTTPException):
            return False


class Browser:
    """One client address: a keep-alive connection, the session cookie and the login form's CSRF token."""

    def __init__(self, port: int, address: str, cookies: dict[str, str] | None = None):
        self.port, self.address, self.cookies, self.token = port, address, dict(cookies or {}), None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def _send(self, method: str, body: bytes | None = None) -> tuple[int, dict, bytes]:
        headers = {"X-Forwarded-For": self.address, "Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, "/login", body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise
        for cookie in response.msg.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response.status, dict(response.getheaders()), data

    def get_login(self) -> str | None:
        """GET /login; the CSRF token on it."""
        status, _headers, data = self._send("GET")
        match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', data)
        self.token = match.group(1).decode() if status == 200 and match else None
        return self.token

    def post_password(self, password: str) -> tuple[int, dict, bytes]:
        """POST /login with the administrator's username and this password."""
        body = urllib.parse.urlencode({"username": USERNAME, "password": password, "csrf_token": self.token})
        return self._send("POST", body.encode())


def _guesser(port: int, address: str, deadline: float, start: float, log: list, errors: list) -> None:
    browser, n = Browser(port, address), 0
    try:
        browser.get_login()
        while time.monotonic() < deadline:
            n += 1
            status, headers, data = browser.post_password(f"guess-{address}-{n}")
            log.append((time.monotonic() - start, address, status, status == 200 and WRONG_PAGE in data))
            if status == 429:
                time.sleep(min(float(headers.get("Retry-After", "1")), MAX_POLL,
                               max(deadline - time.monotonic(), 0)))
            elif status != 200:
                errors.append(f"{address}: HTTP {status}")
                time.sleep(0.1)
    except (OSError, http.client.HTTPException) as error:
        errors.append(f"{address}: {type(error).__name__}: {error}")


def _device_of_the_real_user(port: int, password: str) -> dict[str, str]:
    """The real user's browser signs in once before the attack, as on any working day: it keeps the device cookie
    that makes it a known browser for the username (the username's cap never holds it back)."""
    browser = Browser(port, REAL_USER_ADDRESS)
    browser.get_login()
    status, _headers, _data = browser.post_password(password)
    if status != 302 or DEVICE_COOKIE not in browser.cookies:
        raise RuntimeError(f"the real user's first sign-in answered {status}")
    return {DEVICE_COOKIE: browser.cookies[DEVICE_COOKIE]}


def _real_user(port: int, password: str, at: list[float], start: float, results: list, errors: list,
               device: dict[str, str]) -> None:
    for moment in at:
        time.sleep(max(0.0, start + moment - time.monotonic()))
        began = time.monotonic()
        try:
            browser = Browser(port, REAL_USER_ADDRESS, device)  # a new session in the same browser
            browser.get_login()
            status, headers, _data = browser.post_password(password)
        except (OSError, http.client.HTTPException) as error:
            errors.append(f"real user: {type(error).__name__}: {error}")
            continue
        results.append({"at_s": round(moment, 1), "status": status, "seconds": round(time.monotonic() - began, 3),
                        "signed_in": status == 302 and headers.get("Location", "").endswith("/contacts")})


def run(database_url: str | None = None, clients: int = CLIENTS, seconds: float = SECONDS,
        database: str = "crm_bench_guess", threads: int = THREADS) -> dict:
    """The attack for `seconds`, from `clients` addresses, with the real user signing in four times during it."""
    started = time.perf_counter()
    if database_url:
        url = storm.own_database(database_url, database)
        storm._fresh_database(url)
        engine = "postgresql"
    else:
        folder = tempfile.TemporaryDirectory(prefix="crm-guess-db-")
        url, engine = f"sqlite:///{Path(folder.name) / 'guess.sqlite3'}", "sqlite"
    password = _setup(url)
    port = storm._free_port()
    server = Console(url, port, threads, env={"CRM_TRUSTED_PROXIES": "1"})
    log, real, errors = [], [], []
    try:
        server.wait_ready()
        device = _device_of_the_real_user(port, password)
        start = time.monotonic()
        deadline = start + seconds
        addresses = [f"203.0.113.{i}" for i in range(1, clients + 1)]
        workers = [threading.Thread(target=_guesser, args=(port, a, deadline, start, log, errors)) for a in addresses]
        moments = [seconds * f for f in (0.05, 0.35, 0.65, 0.95)]
        workers.append(threading.Thread(target=_real_user, args=(port, password, moments, start, real, errors,
                                                                   device)))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        server_log = server.log_tail() if errors else None
    finally:
        server.stop()
        server.log.unlink(missing_ok=True)
    results = _summary(log, real, errors, clients, seconds) | {
        "engine": engine, "server": server.describe(), "audit": _audit(url), "server_log_tail": server_log}
    if engine == "sqlite":
        folder.cleanup()
    results["total_s"] = round(time.perf_counter() - started, 1)
    return results


def _summary(log: list, real: list, errors: list, clients: int, seconds: float) -> dict:
    checked = sorted((t, address) for t, address, _status, wrong in log if wrong)
    firsts, seen = 0, set()
    for _t, address in checked:
        firsts += address not in seen
        seen.add(address)
    minutes = [len([t for t, _a in checked if m * 60 <= t < (m + 1) * 60]) for m in range(int(-(-seconds // 60)))]
    full_minutes = int(seconds // 60)
    return {"clients": clients, "seconds": seconds, "requests": len(log),
            "refused_429": sum(1 for _t, _a, status, _w in log if status == 429),
            "guesses_checked": len(checked), "first_tries": firsts, "guesses_per_minute": minutes,
            "guesses_per_minute_overall": round(len(checked) * 60 / seconds, 1),
            "last_full_minute": minutes[full_minutes - 1] if full_minutes else None,
            "real_user": real, "real_user_max_s": max((r["seconds"] for r in real), default=None),
            "real_user_all_signed_in": bool(real) and all(r["signed_in"] for r in real),
            "errors": len(errors), "error_samples": errors[:5]}


def _audit(database_url: str) -> dict:
    """The audit events the attack left for the username (one per burst is the goal)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT details FROM audit_event WHERE action = 'auth.password_failed' "
                                 "AND target_label = :u"), {"u": USERNAME}).scalars().all()
    engine.dispose()
    details = [json.loads(d) if isinstance(d, str) else d for d in rows]
    return {"events": len(details), "failures_recorded": sum(d["failures"] for d in details)}


def report_lines(results: dict) -> list[str]:
    """Markdown for bench/results/report.md."""
    server, real = results["server"], results["real_user"]
    timings = ", ".join(f"{r['seconds']} s" for r in real) or "none"
    per_minute = ", ".join(str(n) for n in results["guesses_per_minute"])
    verdict_guesses = results["last_full_minute"] is not None and results["last_full_minute"] <= 10
    verdict_user = results["real_user_all_signed_in"] and (results["real_user_max_s"] or 99) <= 5
    return [
        "## 5. Password guessing over HTTP", "",
        f"{server['software']}, {server['workers']} workers × {server['threads_per_worker']} threads, "
        f"{results['engine']}; {results['clients']} clients, each from its own address (X-Forwarded-For, trusted "
        f"only in this benchmark), guessing `{USERNAME}`'s password for {results['seconds']:.0f} s; after a 429 a "
        f"client waits Retry-After, at most {MAX_POLL:.0f} s. The real user signs in four times during the attack "
        f"from {REAL_USER_ADDRESS}.", "",
        "| measure | result | target |", "|---|---|---|",
        f"| passwords checked per minute of the attack | {per_minute} (overall "
        f"{results['guesses_per_minute_overall']}/min; {results['first_tries']} of {results['guesses_checked']} were "
        f"an address's first try) | ≤ 10 a minute: {'met' if verdict_guesses else '**not met**'} in the last full "
        "minute |",
        f"| requests answered 429 | {results['refused_429']:,} of {results['requests']:,} | |",
        f"| real user's sign-ins (GET the form, POST, 302) | "
        f"{timings}; "
        f"{'all signed in' if results['real_user_all_signed_in'] else '**not all signed in**'} | "
        f"≤ 5 s: {'met' if verdict_user else '**not met**'} |",
        f"| audit events for the burst | {results['audit']['events']} ({results['audit']['failures_recorded']} "
        "failures counted) | one per burst |",
        f"| errors | {results['errors']} | 0 |", "",
        "The username's cap (one try every 6 s, 3 at once) holds every browser the user never signed in with, however "
        "many addresses they come from; the real user's own browser signed in once before the attack and carries "
        "the device cookie that puts it outside the cap, so the attackers cannot lock the user out.",
    ]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="PostgreSQL server, user and driver (else a SQLite file)")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args()
    outcome = run(args.url, args.clients, args.seconds)
    print(json.dumps(outcome, indent=2))
    print("\n".join(report_lines(outcome)))
