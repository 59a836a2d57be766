"""Flood control for the public SSO endpoints: what they refuse is counted per client address and provider, and
beyond the limit a refusal is answered 429 with Retry-After and writes nothing.

Only refusals count, and only a refusal is ever turned into a 429: the limit is consulted after the message was
checked, so a valid sign-in or logout is never throttled, however many refusals its address had (an office behind
one NAT address signs in at 9:00 unhindered, and so does the login storm). Flask-Limiter's decorators test the
limit before the view runs, which would refuse a valid sign-in from an address over its limit, and attached to
the app it runs hooks on every request; so `limits`, the library under Flask-Limiter (its storages and its
fixed-window strategy), is asked from the refusal path alone.

The counters live where RATELIMIT_STORAGE_URI says; by default in each process's memory, so under gunicorn with N
workers a client gets up to N times the limit before every worker answers 429. That is enough for flood control:
the audit trail is bounded by the database either way (one event per client, provider, reason and minute, see
crm/audit/services.fold_event). Point RATELIMIT_STORAGE_URI at Redis or Memcached for one shared counter.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from crm.rate_limits import wait_after_hit

log = logging.getLogger(__name__)
DEFAULT_LIMIT = "30 per minute"  # refusals per client address and provider (CRM_SSO_REFUSAL_LIMIT)
LOGGED = parse("1 per minute")  # the log says once a minute that a client is being held back
EXTENSION = "crm.sso_refusal_limiter"


def install(app: Flask) -> None:
    """Give the app its refusal limiter (RATELIMIT_ENABLED=False switches it off, e.g. for a benchmark)."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")  # chosen: per process (see above)
    if app.config.get("RATELIMIT_ENABLED", True):
        app.extensions[EXTENSION] = FixedWindowRateLimiter(storage_from_string(app.config["RATELIMIT_STORAGE_URI"]))


def held_back(slug: str) -> int | None:
    """Count one refusal of this client by this provider's endpoints; when it is over the limit, the seconds until
    it may try again (None: under the limit, refuse as usual)."""
    limiter: FixedWindowRateLimiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None:
        return None
    limit = parse(current_app.config.get("SSO_REFUSAL_LIMIT") or DEFAULT_LIMIT)
    address = request.remote_addr or "unknown"
    wait = wait_after_hit(limiter, limit, "sso-refusals", address, slug)
    if wait is not None and limiter.hit(LOGGED, "sso-refusals-logged", address, slug):
        log.warning("SSO refusals from %s at provider %s are over the limit (%s): answered 429 for now",
                    address, slug, limit)
    return wait
