"""Time helpers: the database stores naive UTC timestamps on every engine."""
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (what the DateTime columns hold)."""
    return datetime.now(UTC).replace(tzinfo=None)
