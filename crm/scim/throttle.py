"""A per-token rate limit on /scim/v2 (CRM_SCIM_RATE_LIMIT, default 100 per second: four times the rate
Microsoft asks gallery apps to sustain). Over it, a SCIM 429 with Retry-After; the directory backs off and retries.
Counters live in each process's memory, like the SSO refusal counters (crm/sso/flood.py)."""
from __future__ import annotations

from flask import Flask, current_app
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from crm.rate_limits import wait_after_hit

DEFAULT_LIMIT = "100 per second"
EXTENSION = "crm.scim_limiter"


def install(app: Flask) -> None:
    """Give the app its SCIM limiter."""
    app.extensions[EXTENSION] = MovingWindowRateLimiter(MemoryStorage())


def retry_after(token_id: int) -> int | None:
    """Count one request of this token; when it is over the limit, the seconds until it may try again."""
    limiter: MovingWindowRateLimiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None:
        return None
    limit = parse(str(current_app.config.get("SCIM_RATE_LIMIT") or DEFAULT_LIMIT))
    return wait_after_hit(limiter, limit, "scim", str(token_id))
