"""A scim2-client engine that speaks real HTTP with the standard library, as a directory does: one keep-alive
connection, and a 429 answered by waiting its Retry-After and sending the request again.

scim2-client's own network engine needs httpx2, which nothing else here uses; its in-process engines build the
request the same way (`_prepare_request`, pinned with scim2-client), and this one sends it over a socket instead.
"""
from __future__ import annotations

import http.client
import time
from typing import Any
from wsgiref.headers import Headers

from scim2_client.client import BaseSyncSCIMClient
from scim2_client.engines.inprocess import (
    InProcessResponse,
    _check_base_url,
    _prepare_request,
    _stays_under_base_url,
)

MAX_WAIT = 5.0  # seconds: a Retry-After longer than this is a failure, not a pause


class HTTPSCIMClient(BaseSyncSCIMClient):
    """scim2-client over http.client against a live server at `base_url` (http only: the test serves loopback)."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 30, **kwargs: Any):
        super().__init__(**kwargs)
        self.base_url = _check_base_url(base_url)
        self.headers, self.timeout = headers, timeout
        self.connection: http.client.HTTPConnection | None = None
        self.requests = self.throttled = 0

    def _stays_under_base_url(self, endpoint: str) -> bool:
        return _stays_under_base_url(self.base_url, endpoint)

    def _parse_json(self, response) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> InProcessResponse:
        """Send the request; on 429 wait Retry-After (as Entra ID and Okta do) and send it again."""
        prepared = _prepare_request(self.base_url, self.headers, method, url, **kwargs)
        target = prepared.url.path + (f"?{prepared.url.query}" if prepared.url.query else "")
        while True:
            response = self._exchange(prepared.method, target, prepared.body, prepared.headers,
                                  prepared.url.hostname, prepared.url.port or 80)
            if response.status_code != 429:
                return response
            self.throttled += 1
            wait = float(response.headers.get("Retry-After") or 1)
            if wait > MAX_WAIT:
                return response
            time.sleep(wait)

    def _exchange(self, method: str, target: str, body: bytes, headers: list[tuple[str, str]], host: str,
              port: int) -> InProcessResponse:
        for attempt in (1, 2):  # a keep-alive connection the server closed meanwhile is opened again, once
            if self.connection is None:
                self.connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
            try:
                self.connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    self.connection.putheader(name, value)
                self.connection.endheaders(body or None)
                raw = self.connection.getresponse()
                content = raw.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt == 2:
                    raise
                continue
            self.requests += 1
            return InProcessResponse(raw.status, Headers(raw.getheaders()), content)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection (a new one opens with the next request)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
