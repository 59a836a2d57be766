"""Redirect targets that cannot leave the site (RelayState and ?next=)."""
from __future__ import annotations


def safe_next(target: str | None) -> str | None:
    """Return target when it is a local path: one leading '/', no scheme, no '//', no backslash."""
    if not target or len(target) > 2000:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    if ":" in target.split("?", 1)[0].split("/", 2)[1]:
        return None
    return target
