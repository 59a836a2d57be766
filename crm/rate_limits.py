"""Counting requests against a limit (`limits`, the engine under Flask-Limiter, used directly): the SSO refusal
limit (crm/sso/flood.py) and the SCIM token limit (crm/scim/throttle.py) share this one way of counting."""
from __future__ import annotations

import math
import time

from limits import RateLimitItem
from limits.strategies import RateLimiter


def wait_after_hit(limiter: RateLimiter, limit: RateLimitItem, *keys: str) -> int | None:
    """Count one hit; None while under the limit, else the whole seconds until the window lets one through."""
    if limiter.hit(limit, *keys):
        return None
    reset_at, _ = limiter.get_window_stats(limit, *keys)
    return max(math.ceil(reset_at - time.time()), 1)
