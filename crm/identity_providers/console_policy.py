"""The Single Sign On configuration page's settings for the whole console, beside each provider's own: today the idle
timeout of every session (password and SSO alike). Changed from the page, `sso session-policy` and `sso import`,
each change audited."""
from __future__ import annotations

from typing import Any

from crm.audit import services as audit
from crm.audit.models import CONFIG
from crm.auth import sessions


class PolicyInvalid(ValueError):
    """A console-wide setting was refused; nothing was changed."""


def console_policy() -> dict[str, Any]:
    """The settings as `sso session-policy --json` and `sso export` show them (the absolute lifetime is the server's,
    CRM_SESSION_MAX_HOURS, shown for reference)."""
    return {"session_idle_minutes": sessions.idle_minutes(),
            "session_max_hours": int(sessions.max_lifetime().total_seconds() // 3600)}


def set_idle_timeout(minutes: Any) -> bool:
    """Set the console's idle timeout in the caller's transaction and audit it; whether it changed. Raises
    PolicyInvalid, changing nothing, for a value out of range."""
    try:
        before = sessions.store_idle_minutes(minutes)
    except ValueError as error:
        raise PolicyInvalid(str(error)) from None
    if before == minutes:
        return False
    audit.record("sso.session_policy", f"Sessions now end after {minutes} minutes unused (were {before})",
                 category=CONFIG, changes={"session_idle_minutes": {"before": before, "after": minutes}})
    return True
