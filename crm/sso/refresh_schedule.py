"""Refreshing providers' metadata on their own, off every request's path.

Why this shape: a refresh fetches a document over the network (seconds, at worst CRM_METADATA_TIMEOUT_SECONDS), so
it must never run inside a request, least of all the ACS. A scheduler thread living for the whole process would need
its own lifecycle under gunicorn's forking and in every test's app. Instead each process looks, at most every
CRM_METADATA_CHECK_SECONDS, after it answered a page (never an /sso/ or /scim/ request), and if it is time hands the
work to a short-lived thread of its own: the page pays one clock reading, and the thread ends when the due providers
are done. Which worker refreshes a provider is decided in the database (refresh.refresh_due claims each row), so
with N processes each provider is still fetched once. A console nobody opens refreshes nothing; `sso refresh` from
cron covers that.
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask, Response, request

from crm.extensions import db

log = logging.getLogger(__name__)
QUIET_PATHS = ("/sso/", "/scim/", "/static/")


class RefreshSchedule:
    """One process's schedule: when it looks next, and the thread doing it (at most one at a time)."""

    def __init__(self, app: Flask):
        self.app = app
        self.next_check: float | None = None
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def after_page(self, response: Response) -> Response:
        """After a page: start the refresh thread when it is time (and none is running)."""
        if not float(self.app.config["METADATA_REFRESH_HOURS"] or 0) or request.path.startswith(QUIET_PATHS):
            return response
        now = time.monotonic()
        if self.next_check is None:
            self.next_check = now + float(self.app.config["METADATA_CHECK_SECONDS"])
        if now < self.next_check or not self.lock.acquire(blocking=False):
            return response
        self.next_check = now + float(self.app.config["METADATA_CHECK_SECONDS"])
        self.thread = threading.Thread(target=self._run, name="metadata-refresh", daemon=True)
        self.thread.start()
        return response

    def _run(self) -> None:
        try:
            from crm.sso.refresh import refresh_due

            with self.app.app_context():
                try:
                    for result in refresh_due():
                        log.info("metadata refresh: %s", result.summary())
                finally:
                    db.session.remove()
        except Exception:  # a thread's exception would vanish: say so in the log, try again at the next check
            log.exception("automatic metadata refresh failed")
        finally:
            self.lock.release()


def register_refresh_schedule(app: Flask) -> RefreshSchedule:
    """Look for providers due a metadata refresh after pages this process answers."""
    schedule = app.extensions["metadata_refresh"] = RefreshSchedule(app)
    app.after_request(schedule.after_page)
    return schedule
