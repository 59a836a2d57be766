"""The contact list's pages: where a Window (the query string's place) lands, and what its pager knows.

A page is found from the row it follows (Next) or precedes (Previous), or by its place when no row is given: the
first page, a numbered page, the last page (the first in reverse order). A place that no longer holds (the row was
deleted, nothing follows it any more, Previous reached the start) gives the page at that end of the list instead of
an empty or short one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm.contacts import search
from crm.contacts.models import Contact
from crm.pagination import SeekPage, Window, load_by_keys

LAST_PAGE = Window(page=None, from_end=1)


@dataclass(frozen=True)
class ContactList:
    """The list as one search and one order show it."""

    found: search.Search | None
    counted: search.Count
    order: search.Order
    per_page: int

    @classmethod
    def of(cls, found: search.Search | None, sort: str, descending: bool, per_page: int) -> ContactList:
        """The list of the contacts a search finds (None: every contact), counted up to the cap."""
        order = search.Order(sort if sort in search.SORT_KEYS else "name", descending)
        return cls(found, search.count(found), order, per_page)

    def page(self, window: Window) -> SeekPage:
        """The page the window points at, its contacts loaded."""
        rows, place = self._rows(window)
        items = load_by_keys(Contact, Contact.id, [contact_id for _, contact_id in rows])
        return SeekPage(items=items, per_page=self.per_page, total=self.counted.total, total_kind=self.counted.kind,
                        ids=(rows[0][1], rows[-1][1]) if rows else None, **place)

    def _seek(self, order: search.Order, after: search.Row | None, offset: int = 0) -> list[search.Row]:
        return search.seek(self.found, self.counted.few, order, after, self.per_page + 1, offset)

    def _rows(self, window: Window) -> tuple[list[search.Row], dict[str, Any]]:
        anchor_id = window.after or window.before
        anchor = search.place_of(self.order, anchor_id) if anchor_id else None
        if anchor_id and anchor is None:  # the row it started from is gone: start again from that end of the list
            return self._rows(Window() if window.after else LAST_PAGE)
        if self.counted.few and window.from_end and not window.after:  # a known total numbers pages from the start
            window = Window(before=window.before, page=max(self._pages() - window.from_end + 1, 1))
        label = {"page": window.page, "from_end": window.from_end}
        if window.after:
            rows = self._seek(self.order, anchor)
            if not rows:  # nothing follows it any more
                return self._rows(LAST_PAGE)
            return rows[:self.per_page], label | {"has_previous": True, "has_next": len(rows) > self.per_page}
        if window.before:
            rows = self._seek(self.order.reversed(), anchor)
            if len(rows) <= self.per_page:  # it reached the start: the first page, in full
                return self._rows(Window())
            return rows[:self.per_page][::-1], label | {"has_previous": True, "has_next": True}
        if window.from_end:
            return self._from_end(window.from_end)
        return self._numbered(window.page or 1)

    def _from_end(self, from_end: int) -> tuple[list[search.Row], dict[str, Any]]:
        rows = self._seek(self.order.reversed(), None, (from_end - 1) * self.per_page)
        more = len(rows) > self.per_page
        if not more and from_end > 1:  # fewer pages than that: the first page
            return self._numbered(1)
        return rows[:self.per_page][::-1], {"page": None if more else 1, "from_end": from_end if more else None,
                                            "has_previous": more, "has_next": from_end > 1}

    def _numbered(self, number: int) -> tuple[list[search.Row], dict[str, Any]]:
        if self.counted.few:  # a known total: a page past the end shows the last one, as the pager always did
            number = min(number, self._pages())
        rows = self._seek(self.order, None, (number - 1) * self.per_page)
        if not rows and number > 1:  # past the end of a list whose total is not known: its last page
            return self._rows(LAST_PAGE)
        return rows[:self.per_page], {"page": number, "from_end": None, "has_previous": number > 1,
                                      "has_next": len(rows) > self.per_page}

    def _pages(self) -> int:
        return max((self.counted.total + self.per_page - 1) // self.per_page, 1)
