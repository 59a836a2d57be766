"""One page of rows from a query: never the whole table in memory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

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


def paginate(stmt: Select, page: int, per_page: int, *, scalars: bool = True) -> Page:
    """Count the filtered rows, then fetch only the requested page (page is clamped to the range)."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    paged = stmt.limit(per_page).offset((page - 1) * per_page)
    result = db.session.execute(paged)
    items = list(result.unique().scalars() if scalars else result)
    return Page(items=items, total=total, page=page, per_page=per_page)


def page_arg(value: str | None) -> int:
    """Parse ?page= leniently: anything odd means page 1."""
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1
