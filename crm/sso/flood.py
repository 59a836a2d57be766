"""Flood control for the public SSO endpoints: what they refuse is counted per client address and provider, and
beyond the limit a refusal is answered 429 with Retry-After and writes nothing.

Only refusals count, and only a refusal is ever turned into a 429: the limit is consulted after the message was
checked, so a valid sign-in or logout is never throttled, however many refusals its address had (an office behind
one NAT address signs in at 9:00 unhindered, and so does the login storm). Flask-Limiter's decorators test the
limit before the view runs, which would refuse a valid sign-in from an address over its limit; so its limiter
(storage and strategy, configured by the RATELIMIT_* keys) is asked from the refusal path instead.

The counters live where RATELIMIT_STORAGE_URI says; by default in each process's memory, so under gunicorn with N
workers a client gets up to N times the limit before every worker answers 429. That is enough for flood control:
the audit trail is bounded by the database either way (one event per client, provider, reason and minute, see
crm/audit/services.fold_event). Point RATELIMIT_STORAGE_URI at Redis or Memcached for one shared counter.
"""
from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

log = logging.getLogger(__name__)
DEFAULT_LIMIT = "30 per minute"  # refusals per client address and provider (CRM_SSO_REFUSAL_LIMIT)
LOGGED = parse("1 per minute")  # the log says once a minute that a client is being held back
EXTENSION = "crm.sso_refusal_limiter"


def install(app: Flask) -> None:
    """Give the app its refusal limiter (RATELIMIT_ENABLED=False switches it off, e.g. for a benchmark)."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")  # chosen: per process (see above)
    app.extensions[EXTENSION] = Limiter(get_remote_address, app=app)


def held_back(slug: str) -> int | None:
    """Count one refusal of this client by this provider's endpoints; when it is over the limit, the seconds until
    it may try again (None: under the limit, refuse as usual)."""
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None or not limiter.enabled:
        return None
    limit = parse(current_app.config.get("SSO_REFUSAL_LIMIT") or DEFAULT_LIMIT)
    keys = ("sso-refusals", request.remote_addr or "unknown", slug)
    if limiter.limiter.hit(limit, *keys):
        return None
    reset_at, _ = limiter.limiter.get_window_stats(limit, *keys)
    if limiter.limiter.hit(LOGGED, "sso-refusals-logged", *keys[1:]):
        log.warning("SSO refusals from %s at provider %s are over the limit (%s): answered 429 for now",
                    keys[1], slug, limit)
    return max(math.ceil(reset_at - time.time()), 1)
