"""One page of rows from a query: never the whole table in memory.

Two kinds of page. `paginate` numbers pages and counts every row: right for the small lists (accounts, users,
roles, seats, audit). `SeekPage` is for a list that may hold a million rows: it is found from the rows around it
(keyset paging: "the 25 after this one" costs the same on page 1 and page 40,000) and its total is counted only
up to a cap. Its place in the list travels in the query string (`Window`), so every page has a URL to share.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, func, literal_column, select, text

from crm.extensions import db


@dataclass(frozen=True)
class Page:
    """Rows of one page plus what the pager needs."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def first_index(self) -> int:
        """1-based index of the first row shown (0 when empty)."""
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        """1-based index of the last row shown."""
        return min(self.page * self.per_page, self.total)


def paginate(stmt: Select, page: int, per_page: int, *, scalars: bool = True, key: Any = None) -> Page:
    """Count the filtered rows, then fetch only the requested page (page is clamped to the range).

    With `key` (the entity's primary key column), the page's keys are found first, from the index
    alone, and only those rows are loaded with their joins: a deep page then costs an index walk
    instead of joining every skipped row.
    """
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    offset = (page - 1) * per_page
    if key is not None:
        keys = list(db.session.scalars(stmt.with_only_columns(key).limit(per_page).offset(offset)))
        return Page(items=_load_by_keys(stmt, key, keys), total=total, page=page, per_page=per_page)
    result = db.session.execute(stmt.limit(per_page).offset(offset))
    items = list(result.unique().scalars() if scalars else result)
    return Page(items=items, total=total, page=page, per_page=per_page)


def _load_by_keys(stmt: Select, key: Any, keys: list[Any]) -> list[Any]:
    return load_by_keys(stmt.column_descriptions[0]["entity"], key, keys)


def load_by_keys(entity: Any, key: Any, keys: list[Any]) -> list[Any]:
    """The rows of `entity` whose `key` is in `keys`, in the order of `keys` (those that vanished left out)."""
    if not keys:
        return []
    loaded = {getattr(row, key.key): row for row in db.session.scalars(select(entity).where(key.in_(keys))).unique()}
    return [loaded[k] for k in keys if k in loaded]


def estimated_rows(table: str) -> int | None:
    """The planner's estimate of a table's rows (PostgreSQL, kept by ANALYZE and autovacuum); None elsewhere."""
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    estimate = db.session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"),
                                 {"table": table})
    return int(estimate) if estimate is not None and estimate >= 0 else None  # -1: never analysed


def capped_count(stmt: Select, cap: int) -> int:
    """How many rows `stmt` gives, counting no further than cap + 1 (the database stops reading there)."""
    one = stmt.with_only_columns(literal_column("1"), maintain_column_froms=True).order_by(None)
    limited = one.limit(cap + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(limited)) or 0


def page_arg(value: str | None) -> int:
    """Parse ?page= leniently: anything odd means page 1."""
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1


# --- keyset paging for long lists ---------------------------------------------------------------------------

TotalKind = Literal["exact", "more than", "about", "at least"]


@dataclass(frozen=True)
class Window:
    """Where a page sits, as the query string says: `after` or `before` a row (its id), and its place.

    `page` counts from the start (1 is the first page); `from_end` from the end (1 is the last page, written
    `page=last`, then `page=last-1`...). Without a row to start from, the page is found by its place.
    """

    after: int | None = None
    before: int | None = None
    page: int | None = 1
    from_end: int | None = None

    @classmethod
    def from_args(cls, args: Any) -> Window:
        """Parse ?after=, ?before= and ?page= leniently: anything odd is left out (page 1 at worst)."""
        after, before = _id_arg(args.get("after")), _id_arg(args.get("before"))
        raw = (args.get("page") or "").strip().lower()
        if raw == "last" or raw.startswith("last-"):
            steps = _id_arg(raw[5:]) if raw != "last" else 0
            if steps is not None or raw == "last":
                return cls(after=after, before=None if after else before, page=None, from_end=(steps or 0) + 1)
        page = _id_arg(raw) if raw else None
        return cls(after=after, before=None if after else before, page=page or (None if after or before else 1))


def _id_arg(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


def page_label(page: int | None, from_end: int | None) -> str | None:
    """The ?page= value for a place in the list (None for the first page, which needs none)."""
    if from_end is not None:
        return "last" if from_end == 1 else f"last-{from_end - 1}"
    return None if page in (None, 1) else str(page)


@dataclass(frozen=True)
class SeekPage:
    """One page of a long list, found from its neighbours, with what its pager shows and links to."""

    items: list[Any]
    per_page: int
    total: int  # exact; or the cap, when there are more; or the planner's estimate
    total_kind: TotalKind
    page: int | None  # its number from the start, when known
    from_end: int | None  # or its place from the end (1: the last page)
    has_previous: bool
    has_next: bool
    ids: tuple[Any, Any] | None  # (first, last) row's id, where the previous and next pages start

    @property
    def pages(self) -> int | None:
        """Number of pages, when the total is exact."""
        return max((self.total + self.per_page - 1) // self.per_page, 1) if self.total_kind == "exact" else None

    @property
    def total_text(self) -> str:
        """'1,234', 'more than 10,000' or 'about 1,000,000'."""
        return f"{self.total:,}" if self.total_kind == "exact" else f"{self.total_kind} {self.total:,}"

    @property
    def range_text(self) -> str:
        """Which rows these are: '26–50 of more than 10,000', or from the end when that is all that is known."""
        shown = len(self.items)
        if self.page is not None:
            first = (self.page - 1) * self.per_page + 1
            return f"{first:,}–{first + shown - 1:,} of {self.total_text}"
        skipped = (self.from_end or 1) - 1
        if self.total_kind == "exact":
            last = self.total - skipped * self.per_page
            return f"{max(last - shown + 1, 1):,}–{last:,} of {self.total_text}"
        if not skipped:
            return f"the last {shown:,} of {self.total_text}"
        first = skipped * self.per_page + 1
        return f"{first:,}–{first + shown - 1:,} from the end, of {self.total_text}"

    @property
    def place_text(self) -> str:
        """'Page 2 of 40', 'Page 2', 'Last page' or 'Page 3 from the end'."""
        if self.page is not None:
            return f"Page {self.page:,}" + (f" of {self.pages:,}" if self.pages else "")
        if self.from_end == 1 or self.from_end is None:
            return "Last page"
        return f"Page {self.from_end:,} from the end"

    @property
    def links(self) -> dict[str, dict[str, Any] | None]:
        """Query-string changes for First, Previous, Next and Last (None: no such link from here)."""
        start = {"after": None, "before": None, "page": None}
        previous = next_ = None
        if self.has_previous and self.ids:
            if self.page == 2:  # the first page has a URL of its own, stable whatever is added
                previous = start
            else:
                place = (self.page - 1, None) if self.page else (None, (self.from_end or 1) + 1)
                previous = start | {"before": self.ids[0], "page": page_label(*place)}
        if self.has_next and self.ids:
            if self.from_end == 2:
                next_ = start | {"page": "last"}
            else:
                place = (self.page + 1, None) if self.page else (None, (self.from_end or 2) - 1)
                next_ = start | {"after": self.ids[1], "page": page_label(*place)}
        last = start | {"page": str(self.pages) if self.pages else "last"}
        return {"first": start if self.has_previous else None, "previous": previous, "next": next_,
                "last": last if self.has_next else None}
