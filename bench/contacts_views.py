"""What benchmark 4 asks the contact list for, and how it checks each answer against plain SQL.

The requests are exactly what the browser sends: the full page when opening Contacts, the pager's Next link from the
middle of the list and its Last link (htmx), and search as you type (htmx). Each answer is checked once, untimed,
before the timing starts: the same contact ids in the same order as a reference statement written without the app's
keyset paging or its plans (OFFSET on the whole list; every match collected, then sorted, for a search), and the total
the pager shows (exact up to the cap, "more than 10,000" above it, or PostgreSQL's estimate for the whole list).
"""
from __future__ import annotations

import re

LETTER = "a"  # matches the most contacts of any letter in the demo data, about 23 %, through all four branches
SEARCH = "smi"  # the surname Smith, about 3 %: its matches lie in runs far apart in name order
NOTHING = "zzz"  # no name, surname, email or account starts with it
ROW_ID = re.compile(r'<a href="/contacts/(\d+)">')
TOTAL = re.compile(r"of ((?:more than |about )?[\d,]+) contacts")
RESULTS = {"HX-Request": "true", "HX-Target": "contact-results", "HX-Current-URL": "http://localhost/contacts"}
SEARCHING = RESULTS | {"HX-Trigger": "contact-search", "HX-Trigger-Name": "q"}
MATCHES = ("(name_key >= :low AND name_key < :high) OR (surname_key >= :low AND surname_key < :high) "
           "OR (email_key >= :low AND email_key < :high) OR account_id IN "
           "(SELECT id FROM account WHERE name_key >= :low AND name_key < :high)")


def views(total: int, middle: tuple[int, int], per_page: int, cap: int) -> dict[str, dict]:
    """Each measured request: label, URL, headers, and the reference statement's search and OFFSET.

    `middle` is (position, id) of the last row of the page in the middle of the list by name: the deep page is the
    one the pager's Next link shows after it, which OFFSET paging would find only by skipping half the table.
    """
    position, anchor = middle
    last = 0 if total <= per_page else ((total - 1) // per_page * per_page if total <= cap else total - per_page)
    search = {"headers": SEARCHING, "offset": 0}
    return {
        "first_page": {"label": "first page (full page)", "url": "/contacts", "headers": {}, "q": "", "offset": 0},
        "deep_page": {"label": f"deep page, Next after row {position + 1:,} (htmx)", "headers": RESULTS, "q": "",
                      "url": f"/contacts?after={anchor}&page={(position + 1) // per_page + 1}", "offset": position + 1},
        "last_page": {"label": "last page, the pager's Last (htmx)", "url": "/contacts?page=last", "headers": RESULTS,
                      "q": "", "offset": last},
        "search": search | {"label": f'search "{SEARCH}" (htmx)', "url": f"/contacts?q={SEARCH}", "q": SEARCH},
        "search_letter": search | {"label": f'search "{LETTER}" (htmx)', "url": f"/contacts?q={LETTER}", "q": LETTER},
        "search_nothing": search | {"label": f'search "{NOTHING}", no match (htmx)', "url": f"/contacts?q={NOTHING}",
                                    "q": NOTHING},
    }


def reference_sql(q: str) -> tuple[str, str, dict]:
    """(rows statement, count statement, parameters) for the list sorted by name, searched for `q` (by hand).

    The rows statement collects every match first (MATERIALIZED: no planner may walk the name index instead),
    then sorts them: slow for many matches, and never wrong, which is all a reference needs to be.
    """
    from crm.search_keys import fold

    low = fold(q)
    if not low:
        return ("SELECT id FROM contact ORDER BY name_key, id LIMIT :limit OFFSET :offset",
                "SELECT count(*) FROM contact", {})
    params = {"low": low, "high": low[:-1] + chr(ord(low[-1]) + 1)}
    rows = (f"WITH m AS MATERIALIZED (SELECT id, name_key FROM contact WHERE {MATCHES}) "
            "SELECT id FROM m ORDER BY name_key, id LIMIT :limit OFFSET :offset")
    return rows, f"SELECT count(*) FROM contact WHERE {MATCHES}", params


def dbapi(sql: str, paramstyle: str) -> str:
    """`:name` parameters in the driver's own style (sqlite3 takes them as they are; psycopg wants %(name)s)."""
    return re.sub(r":(\w+)", r"%(\1)s", sql) if paramstyle in ("pyformat", "format") else sql


def expected_total(counted: int, q: str, cap: int, estimate: int | None) -> str | None:
    """What the pager should say the total is (None: no pager, nothing matched)."""
    if not counted:
        return None
    if counted <= cap:
        return f"{counted:,}"
    return f"about {estimate:,}" if estimate and not q else f"more than {cap:,}"


def check(html: str, expected_ids: list[int], total: str | None, counted: int) -> dict:
    """What the page showed against the reference: rows, order, total, and "no match" when nothing matched."""
    shown = [int(i) for i in ROW_ID.findall(html)]
    found = TOTAL.search(html)
    shown_total = found.group(1) if found else None
    if shown_total and shown_total.startswith("about "):  # an estimate: near the count, never exact by design
        near = abs(int(shown_total[6:].replace(",", "")) - counted) <= counted * 0.1
        total_ok = near and total is not None and total.startswith("about ")
    else:
        total_ok = shown_total == total
    return {"rows": len(shown), "total": shown_total or "none", "counted": counted,
            "same_rows_as_sql": shown == expected_ids, "total_as_expected": total_ok,
            "says_no_match": total is not None or "No contacts match" in html, "partial": "<html" not in html}
