"""Fetching an IdP's metadata from its URL: the network part of a refresh, with no XML in it (crm/sso parses).

The URL is an admin's, but the server fetching it is ours: in production only https, and never to loopback or
private addresses (a metadata URL must not become a way to reach the CRM's own network). Each connection goes to the
address that was checked, not to a second lookup of the name, and every redirect is checked the same way. The size
cap and the deadline hold for the whole fetch, so a server that sends slowly or without end is cut off.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from flask import Flask

from crm.config import is_production

MAX_REDIRECTS = 5
CHUNK = 64 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


class FetchFailed(ValueError):
    """The metadata could not be fetched; the message says why in plain words."""


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may do: https only and public addresses only in production, a deadline and a size cap."""

    production: bool
    timeout: float
    max_bytes: int

    @classmethod
    def of(cls, app: Flask) -> FetchPolicy:
        """The policy the app's configuration sets (CRM_ENV, CRM_METADATA_TIMEOUT_SECONDS, CRM_METADATA_MAX_BYTES)."""
        return cls(is_production(app), float(app.config["METADATA_TIMEOUT_SECONDS"]),
                   int(app.config["METADATA_MAX_BYTES"]))


@dataclass(frozen=True)
class Fetched:
    """A fetched document and where it came from (the last URL, after redirects)."""

    url: str
    body: bytes
    redirects: tuple[str, ...] = ()


def metadata_url_error(url: str | None, app: Flask) -> str | None:
    """Why a metadata URL cannot be saved, or None (an empty one is fine: no metadata URL)."""
    if not url:
        return None
    try:
        _check_url(url, is_production(app))
    except FetchFailed as error:
        return str(error)
    return None


def _check_url(url: str, production: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL the policy allows; FetchFailed otherwise."""
    if len(url) > 1000:
        raise FetchFailed("The metadata URL is longer than 1000 characters.")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise FetchFailed("The metadata URL has an invalid port.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchFailed("The metadata URL must be a full http(s) URL.")
    if production and parts.scheme != "https":
        raise FetchFailed("The metadata URL must use https (http is only accepted in development).")
    if parts.username or parts.password:
        raise FetchFailed("The metadata URL must not hold a user name or password.")
    host = parts.hostname
    if production and (host == "localhost" or host.endswith(".localhost") or _literal_not_public(host)):
        raise FetchFailed(f"The metadata URL points at {host}, a loopback or private address, which is refused in "
                          "production.")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _literal_not_public(host: str) -> bool:
    try:
        return not _public(ipaddress.ip_address(host))
    except ValueError:
        return False  # a name: its addresses are checked when it is resolved


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_global


def fetch_metadata(url: str, policy: FetchPolicy) -> Fetched:
    """GET the document, following up to five redirects the policy allows; raise FetchFailed with the reason."""
    deadline = time.monotonic() + policy.timeout
    seen: list[str] = []
    for _ in range(MAX_REDIRECTS + 1):
        status, reason, location, body = _get(url, policy, deadline)
        if status not in REDIRECTS:
            if status != 200:
                raise FetchFailed(f"The server answered {status} {reason} for {url}.")
            return Fetched(url, body, tuple(seen))
        if not location:
            raise FetchFailed(f"The server answered {status} (a redirect) without a Location for {url}.")
        seen.append(url)
        url = urljoin(url, location)
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchFailed(f"The server redirected to {url}; only http(s) redirects are followed.")
    raise FetchFailed(f"More than {MAX_REDIRECTS} redirects, the last to {url}.")


def _get(url: str, policy: FetchPolicy, deadline: float) -> tuple[int, str, str | None, bytes]:
    scheme, host, port = _check_url(url, policy.production)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = None
    try:
        connection = _connect(scheme, host, port, policy, deadline)
        connection.request("GET", path, headers={"Accept": "application/samlmetadata+xml, application/xml, text/xml",
                                                 "Accept-Encoding": "identity", "User-Agent": "crm-console"})
        response = connection.getresponse()
        if response.status in REDIRECTS:
            return response.status, response.reason, response.getheader("Location"), b""
        body = _read_capped(response, policy, deadline) if response.status == 200 else b""
        return response.status, response.reason, None, body
    except TimeoutError:
        raise FetchFailed(f"{host} did not answer within {policy.timeout:g} seconds.") from None
    except ssl.SSLError as error:
        raise FetchFailed(f"The TLS connection to {host} failed: {getattr(error, 'verify_message', None) or error}.") \
            from None
    except (OSError, http.client.HTTPException) as error:
        raise FetchFailed(f"Fetching {url} failed: {error or type(error).__name__}.") from None
    finally:
        if connection is not None:
            connection.close()


def _read_capped(response: http.client.HTTPResponse, policy: FetchPolicy, deadline: float) -> bytes:
    too_large = FetchFailed(f"The metadata is larger than {policy.max_bytes / 1024 / 1024:g} MB "
                            "(CRM_METADATA_MAX_BYTES).")
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > policy.max_bytes:
        raise too_large
    chunks, size = [], 0
    while chunk := response.read1(CHUNK):
        size += len(chunk)
        if size > policy.max_bytes:
            raise too_large
        if time.monotonic() > deadline:
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)


def _connect(scheme: str, host: str, port: int, policy: FetchPolicy, deadline: float) -> http.client.HTTPConnection:
    """A connection to an address of `host` the policy allows (TLS checks the name, not the address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise FetchFailed(f"The host name {host} could not be resolved.") from None
    addresses = [info[4][0] for info in infos]
    if policy.production and (refused := [a for a in addresses if not _public(ipaddress.ip_address(a))]):
        raise FetchFailed(f"{host} resolves to {refused[0]}, a loopback or private address, which is refused in "
                          "production.")
    remaining = max(deadline - time.monotonic(), 0.001)
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    last: OSError | None = None
    for address in dict.fromkeys(addresses):
        connection = kind(host, port, address, remaining)
        try:
            connection.connect()
            return connection
        except TimeoutError:
            raise FetchFailed(f"{host} did not answer within {policy.timeout:g} seconds.") from None
        except ssl.SSLError:
            raise
        except OSError as error:
            last = error
    raise FetchFailed(f"Could not connect to {host}:{port}: {last.strerror if last else 'no address'}.")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to one checked address (the Host header still names the host)."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        """Connect to the checked address."""
        if self.sock is None:
            self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to one checked address whose certificate must name the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        """Connect to the checked address and verify the server's certificate for the host name."""
        if self.sock is None:
            sock = socket.create_connection((self.address, self.port), self.timeout)
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
