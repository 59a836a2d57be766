"""Serve an app on 127.0.0.1 with a real multi-threaded server, for concurrency and browser tests, or the console
under gunicorn as in production, for checks that must see what a real client sees."""
from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent  # where app.py is


@contextlib.contextmanager
def serve(app):
    """Run `app` threaded on a free port; yield its base URL; shut it down afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def post_form(base_url: str, path: str, fields: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """POST a form without following redirects; return (status, Location or body)."""
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", path, urllib.parse.urlencode(fields),
                           {"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        return response.status, response.getheader("Location") or body
    finally:
        connection.close()


@contextlib.contextmanager
def gunicorn(database_url: str, env: dict[str, str] | None = None, workers: int = 2, threads: int = 4):
    """Serve `app:app` as in production (gunicorn, gthread workers) on a free port of 127.0.0.1, configured by CRM_*
    variables only, on `database_url` (whose schema must exist); yield its base URL, then stop it. When it fails to
    start, the error carries the end of its log."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    environment |= {"CRM_DATABASE_URL": database_url, "CRM_SECRET_KEY": secrets.token_hex(32),
                    "CRM_BASE_URL": base_url, "PYTHONUNBUFFERED": "1"} | (env or {})
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
               "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:app"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_it_answers(process, port, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_it_answers(process: subprocess.Popen, port: int, log, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/login")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
        finally:
            connection.close()
    log.seek(0)
    tail = log.read().decode(errors="replace")[-3000:]
    raise RuntimeError(f"gunicorn did not answer on port {port} (exit status {process.poll()}):\n{tail}")
