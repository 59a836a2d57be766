"""One page of rows from a query: never the whole table in memory."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from crm.extensions import db

FindKeys = Callable[[int, int, int], list[Any] | None]  # (offset, limit, total) -> the page's keys, or None


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


def paginate(stmt: Select, page: int, per_page: int, *, scalars: bool = True, key: Any = None,
             find_keys: FindKeys | None = None) -> Page:
    """Count the filtered rows, then fetch only the requested page (page is clamped to the range).

    With `key` (the entity's primary key column), the page's keys are found first, from the index
    alone, and only those rows are loaded with their joins: a deep page then costs an index walk
    instead of joining every skipped row. `find_keys(offset, limit, total)` may find them a cheaper
    way first; when it returns None, the statement finds them.
    """
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    offset = (page - 1) * per_page
    if key is not None:
        keys = find_keys(offset, per_page, total) if find_keys is not None and total else None
        if keys is None:
            keys = list(db.session.scalars(stmt.with_only_columns(key).limit(per_page).offset(offset)))
        return Page(items=_load_by_keys(stmt, key, keys), total=total, page=page, per_page=per_page)
    result = db.session.execute(stmt.limit(per_page).offset(offset))
    items = list(result.unique().scalars() if scalars else result)
    return Page(items=items, total=total, page=page, per_page=per_page)


def _load_by_keys(stmt: Select, key: Any, keys: list[Any]) -> list[Any]:
    if not keys:
        return []
    entity = stmt.column_descriptions[0]["entity"]
    loaded = {getattr(row, key.key): row for row in db.session.scalars(select(entity).where(key.in_(keys))).unique()}
    return [loaded[k] for k in keys if k in loaded]


def page_arg(value: str | None) -> int:
    """Parse ?page= leniently: anything odd means page 1."""
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1
