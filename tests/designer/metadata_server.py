"""A local HTTP server publishing IdP metadata for refresh tests: documents, redirects, errors, a slow answer.

It runs in a thread of the test process on 127.0.0.1 (allowed outside production), so every refresh in the tests
goes through a real socket, real HTTP and the real size cap and deadline.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What one path answers."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_length: bool = True  # False: the body is streamed and the connection closed (no Content-Length)
    hold: threading.Event | None = None  # wait on this before answering (a server that does not answer)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path) or Route(404, b"not found")
        if route.hold is not None:
            route.hold.wait(10)
        self.send_response(route.status)
        for name, value in route.headers:
            self.send_header(name, value)
        if route.content_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        try:
            self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (the size cap)

    def log_message(self, *_args) -> None:
        pass


class MetadataServer:
    """Serve documents at paths; `url(path)` is where the CRM fetches them."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes, self.httpd.requests = {}, []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.held: list[threading.Event] = []

    @property
    def requests(self) -> list[str]:
        """The paths asked for, in order."""
        return self.httpd.requests

    def url(self, path: str) -> str:
        """The full URL of a path on this server."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def publish(self, path: str, body: bytes | str, status: int = 200, **route) -> str:
        """Answer GET `path` with this body; return its URL."""
        body = body.encode() if isinstance(body, str) else body
        self.httpd.routes[path] = Route(status, body, **route)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        """Answer GET `path` with a redirect; return its URL."""
        self.httpd.routes[path] = Route(status, b"", (("Location", location),))
        return self.url(path)

    def silent(self, path: str) -> str:
        """A path whose answer never comes while the test runs (released at the end)."""
        hold = threading.Event()
        self.held.append(hold)
        self.httpd.routes[path] = Route(200, b"<x/>", hold=hold)
        return self.url(path)

    def close(self) -> None:
        """Stop serving."""
        for hold in self.held:
            hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()
