"""Serve an app on 127.0.0.1 with a real multi-threaded server, for concurrency and browser tests."""
from __future__ import annotations

import contextlib
import http.client
import threading
import urllib.parse

from werkzeug.serving import make_server


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
