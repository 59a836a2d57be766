"""The audit list at a million events: every filter walks an index in the list's order, every page is found from
its neighbours, and totals are counted only up to a cap.

Each filter column has an index (column, occurred_at, id) (migration 0011), provider and outcome one together, and
the list without a filter walks (occurred_at, id): a filter's page is "the next 25 in this index range", as cheap at
the millionth event as at the first, and a day range narrows the same range. When several filters are given, their
ranges are counted (each no further than COUNT_CAP, from the index alone) and the smallest drives; the others are
checked on the rows it walks. A user filter matches the actor, the target or the NameID: three ranges, merged.

A walk checks at most WALK_BUDGET rows for the other filters. Filters that rarely meet (an administrator's changes
among a million sign-ins) then give a shorter page whose Next continues from where the walk stopped, instead of a
walk through the whole table.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, tuple_, union
from werkzeug.exceptions import BadRequest

from crm.audit.models import CATEGORIES, AuditEvent
from crm.extensions import db
from crm.pagination import SeekPage, Window, estimated_rows, load_by_keys

COUNT_CAP = 10_000
WALK_BUDGET = 10_000  # rows a walk checks for the other filters; at least COUNT_CAP (a counted range is walked whole)
SAMPLE = 200  # rows of each large range read to see how often the other filters match there
USER_COLUMNS = ("actor_name", "target_label", "name_id")
EQUAL_FILTERS = ("category", "outcome", "idp_slug")
EVENTS = AuditEvent.__table__
Row = tuple[datetime, int]  # (occurred_at, id): an event's place in the list


@dataclass(frozen=True)
class Filters:
    """What the audit page's query string asks for."""

    equal: tuple[tuple[str, str], ...] = ()  # (column, value) for category, outcome, provider
    user: str | None = None
    reference: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        """Parse the filters leniently: an unknown category, or a day that is not a date, is no filter."""
        equal = tuple((column, args[column].strip()) for column in EQUAL_FILTERS if (args.get(column) or "").strip())
        equal = tuple((c, v) for c, v in equal if c != "category" or v in CATEGORIES)
        until = _day(args.get("until"))
        return cls(equal, (args.get("user") or "").strip() or None, (args.get("reference") or "").strip().upper()
                   or None, _day(args.get("since")), until + timedelta(days=1) if until else None)

    def residual(self, covered: frozenset[str], source: Any) -> list[ColumnElement[bool]]:
        """The conditions an index range does not enforce, on `source`'s columns."""
        conditions = [source.c[column] == value for column, value in self.equal if column not in covered]
        if self.user and "user" not in covered:
            conditions.append(or_(*(source.c[column] == self.user for column in USER_COLUMNS)))
        return conditions


def _day(value: str | None) -> datetime | None:
    try:
        day = datetime.strptime((value or "").strip(), "%Y-%m-%d")
    except ValueError:
        return None
    if day.year == 9999:  # the day after must still be a date: refused at the boundary, with the reason
        raise BadRequest("Choose a day before the year 9999.")
    return day


@dataclass(frozen=True)
class Branch:
    """One index range: equalities on the index's leading columns."""

    equal: tuple[tuple[str, str], ...]

    def conditions(self) -> list[ColumnElement[bool]]:
        """The range's equalities."""
        return [EVENTS.c[column] == value for column, value in self.equal]


@dataclass(frozen=True)
class Driver:
    """The index ranges a list walks (one, or the user filter's three) and the filters they enforce."""

    branches: tuple[Branch, ...]
    covers: frozenset[str]


def drivers(filters: Filters) -> list[Driver]:
    """Every way to walk the list: a range per filter (provider and outcome together, when both are given)."""
    equal = dict(filters.equal)
    found = []
    if "idp_slug" in equal and "outcome" in equal:  # their own index: never more rows than either alone
        found.append(Driver((Branch((("idp_slug", equal["idp_slug"]), ("outcome", equal["outcome"]))),),
                            frozenset({"idp_slug", "outcome"})))
    found += [Driver((Branch(((column, value),)),), frozenset({column})) for column, value in filters.equal
              if not (found and column in ("idp_slug", "outcome"))]
    if filters.user:
        found.append(Driver(tuple(Branch(((c, filters.user),)) for c in USER_COLUMNS), frozenset({"user"})))
    return found or [Driver((Branch(()),), frozenset())]


@dataclass(frozen=True)
class AuditList:
    """The events the filters match, walked along the smallest of their ranges."""

    filters: Filters
    driver: Driver
    driver_rows: int  # the branches' rows, each counted up to COUNT_CAP + 1
    largest_branch: int
    per_page: int

    @classmethod
    def of(cls, filters: Filters, per_page: int) -> AuditList:
        """Count each filter's range up to the cap and pick the smallest to walk."""
        counted = []
        for driver in drivers(filters):
            rows = {b: _capped(select(EVENTS.c.id).where(*b.conditions(), *_range(filters))) for b in driver.branches}
            # A branch with nothing in range is left out (a user who is never a target); at least one is walked.
            kept = tuple(b for b in driver.branches if rows[b]) or driver.branches[:1]
            counted.append((sum(rows.values()), max(rows.values()), Driver(kept, driver.covers)))
            if not counted[-1][0]:
                break
        total, largest, driver = min(counted, key=lambda counts: counts[0])
        if total > COUNT_CAP and len(counted) > 1:  # every range is large: walk the one where matches are densest
            density = {id(d): _density(filters, d) for _, _, d in counted}
            total, largest, driver = max(counted, key=lambda counts: (density[id(counts[2])], -counts[0]))
        return cls(filters, driver, total, largest, per_page)

    @property
    def residual(self) -> bool:
        """Whether the walked rows must be checked for other filters."""
        return bool(self.filters.residual(self.driver.covers, EVENTS))

    def total(self) -> tuple[int, str]:
        """The total the pager shows, and its kind: exact, "more than" the cap, "at least", or "about"."""
        if not self.residual:
            if self.largest_branch > COUNT_CAP:
                unfiltered = not self.filters.equal and not self.filters.user and not self._ranged
                estimate = estimated_rows(EVENTS.name) if unfiltered else None
                return (estimate, "about") if estimate and estimate > COUNT_CAP else (COUNT_CAP, "more than")
            if len(self.driver.branches) == 1:
                return self.driver_rows, "exact"
            ids = union(*(select(EVENTS.c.id).where(*b.conditions(), *_range(self.filters))
                          for b in self.driver.branches)).subquery()
            counted = db.session.scalar(select(func.count()).select_from(ids)) or 0
            return (counted, "exact") if counted <= COUNT_CAP else (COUNT_CAP, "more than")
        matches = []
        for branch in self.driver.branches:  # the rows a walk would check, no more
            inner = self._walked(branch, True, None, WALK_BUDGET)
            matches.append(select(inner.c.id).where(*self.filters.residual(self.driver.covers, inner)))
        matched = (union(*matches) if len(matches) > 1 else matches[0]).limit(COUNT_CAP + 1).subquery()
        counted = db.session.scalar(select(func.count()).select_from(matched)) or 0
        if counted > COUNT_CAP:
            return COUNT_CAP, "more than"
        return counted, "exact" if self.largest_branch <= COUNT_CAP else "at least"  # a small range is walked whole

    @property
    def _ranged(self) -> bool:
        return self.filters.since is not None or self.filters.until is not None

    def _walked(self, branch: Branch, descending: bool, after: Row | None, limit: int):
        """The branch's range from `after`, in order, at most `limit` rows, with the columns the filters check."""
        columns = [EVENTS.c.id, EVENTS.c.occurred_at] + [EVENTS.c[c] for c in self._residual_columns()]
        stmt = select(*columns).where(*branch.conditions(), *_range(self.filters, descending, after))
        stmt = _where(stmt, _beyond(EVENTS, descending, after))
        return stmt.order_by(*_order(EVENTS, descending)).limit(limit).subquery()

    def _residual_columns(self) -> list[str]:
        names = [c for c, _ in self.filters.equal if c not in self.driver.covers]
        return names + (list(USER_COLUMNS) if self.filters.user and "user" not in self.driver.covers else [])

    def seek(self, descending: bool, after: Row | None, limit: int, offset: int = 0) -> tuple[list[Row], Row | None]:
        """The `limit` matches after `after` (skipping `offset`), and the place where a walk stopped at its budget
        before they were found (None: nothing was cut)."""
        found: dict[int, Row] = {}
        cuts = []
        for branch in self.driver.branches:
            rows, cut = self._seek_branch(branch, descending, after, limit + offset)
            found.update({row[1]: row for row in rows})
            if cut is not None:
                cuts.append(cut)
        rows = sorted(found.values(), reverse=descending)
        cut = (max(cuts) if descending else min(cuts)) if cuts else None
        if cut is not None:  # beyond the nearest cut a branch was not read: those rows wait for the next page
            rows = [r for r in rows if (r >= cut if descending else r <= cut)]
        return rows[offset:offset + limit], cut if cut is not None and len(rows) < offset + limit else None

    def _seek_branch(self, branch: Branch, descending: bool, after: Row | None, limit: int):
        if not self.residual:
            stmt = select(EVENTS.c.occurred_at, EVENTS.c.id).where(*branch.conditions(),
                                                                   *_range(self.filters, descending, after))
            stmt = _where(stmt, _beyond(EVENTS, descending, after)).order_by(*_order(EVENTS, descending))
            return [tuple(r) for r in db.session.execute(stmt.limit(limit))], None
        if db.session.get_bind().dialect.name == "sqlite":
            return self._seek_branch_sqlite(branch, descending, after, limit)
        # PostgreSQL walks a LIMITed subquery in its order and stops as soon as enough rows matched.
        inner = self._walked(branch, descending, after, WALK_BUDGET)
        stmt = (select(inner.c.occurred_at, inner.c.id).where(*self.filters.residual(self.driver.covers, inner))
                .order_by(*_order(inner, descending)).limit(limit))
        rows = [tuple(r) for r in db.session.execute(stmt)]
        return rows, None if len(rows) >= limit else self._budget_end(branch, descending, after)

    def _seek_branch_sqlite(self, branch: Branch, descending: bool, after: Row | None, limit: int):
        """SQLite would read a LIMITed subquery whole before sorting it again: it walks the branch's index up to the
        budget's end instead, the other filters kept away from its planner (`column || ''` has no index)."""
        end = self._budget_end(branch, descending, after)
        stmt = select(EVENTS.c.occurred_at, EVENTS.c.id).where(
            *branch.conditions(), *_range(self.filters, descending, after),
            *self.filters.residual(self.driver.covers, _UNINDEXED))
        stmt = _where(_where(stmt, _beyond(EVENTS, descending, after)),
                      None if end is None else ~_beyond(EVENTS, descending, end))
        rows = [tuple(r) for r in db.session.execute(stmt.order_by(*_order(EVENTS, descending)).limit(limit))]
        return rows, None if len(rows) >= limit else end

    def _budget_end(self, branch: Branch, descending: bool, after: Row | None) -> Row | None:
        """The place of the WALK_BUDGET-th row of the branch's range after `after` (from the index alone), or None
        when the range ends before it."""
        last = (select(EVENTS.c.occurred_at, EVENTS.c.id).where(*branch.conditions(),
                                                                *_range(self.filters, descending, after)))
        last = _where(last, _beyond(EVENTS, descending, after)).order_by(*_order(EVENTS, descending))
        end = db.session.execute(last.offset(WALK_BUDGET - 1).limit(1)).first()
        return tuple(end) if end else None


class _Unindexed:
    """The event table's columns as `column || ''`: equal values, but no index for SQLite's planner to pick."""

    class _Columns:
        def __getitem__(self, name: str) -> ColumnElement:
            return EVENTS.c[name].concat("")

    c = _Columns()


_UNINDEXED = _Unindexed()


def _density(filters: Filters, driver: Driver) -> float:
    """How many of the newest SAMPLE rows of the driver's ranges match the other filters (0 to 1)."""
    listing = AuditList(filters, driver, 0, 0, 0)
    walked = matched = 0
    for branch in driver.branches:
        inner = listing._walked(branch, True, None, SAMPLE)
        checks = filters.residual(driver.covers, inner)
        counts = select(func.count(), func.count().filter(*checks) if checks else func.count()).select_from(inner)
        rows, hits = db.session.execute(counts).one()
        walked, matched = walked + rows, matched + hits
    return matched / walked if walked else 0.0


def _capped(stmt: Select) -> int:
    limited = stmt.limit(COUNT_CAP + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(limited)) or 0


def _range(filters: Filters, descending: bool = True, after: Row | None = None) -> list[ColumnElement[bool]]:
    """The day range; the bound on the side a walk comes from is left to `after` (a row comparison and a bound on
    the same side would leave PostgreSQL scanning from the bound)."""
    bounds = []
    if filters.since and not (after and not descending):
        bounds.append(EVENTS.c.occurred_at >= filters.since)
    if filters.until and not (after and descending):
        bounds.append(EVENTS.c.occurred_at < filters.until)
    return bounds


def _beyond(source: Any, descending: bool, row: Row | None) -> ColumnElement[bool] | None:
    if row is None:
        return None
    place = tuple_(source.c.occurred_at, source.c.id)
    return place < tuple_(*row) if descending else place > tuple_(*row)


def _order(source: Any, descending: bool) -> list:
    return [c.desc() if descending else c.asc() for c in (source.c.occurred_at, source.c.id)]


def _where(stmt: Select, condition: ColumnElement[bool] | None) -> Select:
    return stmt if condition is None else stmt.where(condition)


def place_of(event_id: int) -> Row | None:
    """An event's place in the list, or None when it is gone."""
    found = db.session.execute(select(EVENTS.c.occurred_at, EVENTS.c.id).where(EVENTS.c.id == event_id)).first()
    return tuple(found) if found else None


def events_page(filters: Filters, window: Window, per_page: int) -> SeekPage:
    """The page of the audit list the window points at, its events loaded."""
    if filters.reference:
        stmt = select(AuditEvent).where(AuditEvent.reference == filters.reference)
        items = [e for e in db.session.scalars(stmt) if _matches(e, filters)]
        return SeekPage(items=items, per_page=per_page, total=len(items), total_kind="exact", page=1, from_end=None,
                        has_previous=False, has_next=False, ids=None)
    listing = AuditList.of(filters, per_page)
    total, kind = listing.total()
    rows, place, cut = _rows(listing, window, total if kind == "exact" else None)
    ids = None
    if rows or cut:  # where Previous and Next go on from: past a walk's cut, never back into what it read
        newest, oldest = (rows[0] if rows else cut), (rows[-1] if rows else cut)
        if cut is not None:
            newest, oldest = (cut, oldest) if window.before and not window.after else (newest, cut)
        ids = (newest[1], oldest[1])
    items = load_by_keys(AuditEvent, AuditEvent.id, [event_id for _, event_id in rows])
    return SeekPage(items=items, per_page=per_page, total=total, total_kind=kind, ids=ids, **place)


def _matches(event: AuditEvent, filters: Filters) -> bool:
    return (all(getattr(event, c) == v for c, v in filters.equal)
            and (not filters.user or filters.user in (event.actor_name, event.target_label, event.name_id))
            and (not filters.since or event.occurred_at >= filters.since)
            and (not filters.until or event.occurred_at < filters.until))


def _rows(listing: AuditList, window: Window, exact: int | None):
    """The rows of the page, its place (page number or from the end, previous and next), and a walk's cut."""
    n = listing.per_page
    anchor = place_of(window.after or window.before) if (window.after or window.before) else None
    if (window.after or window.before) and anchor is None:  # the event it started from is gone
        return _rows(listing, Window() if window.after else Window(page=None, from_end=1), exact)
    label = {"page": window.page, "from_end": window.from_end}
    if window.after:
        rows, cut = listing.seek(True, anchor, n + 1)
        return rows[:n], label | {"has_previous": True, "has_next": len(rows) > n or cut is not None}, cut
    if window.before:
        rows, cut = listing.seek(False, anchor, n + 1)
        if len(rows) <= n and cut is None:  # it reached the start: the first page, in full
            return _rows(listing, Window(), exact)
        return rows[:n][::-1], label | {"has_previous": True, "has_next": True}, cut
    pages = max((exact + n - 1) // n, 1) if exact is not None else None
    if window.from_end and pages is None:
        rows, cut = listing.seek(False, None, n + 1, (window.from_end - 1) * n)
        more = len(rows) > n or cut is not None
        return rows[:n][::-1], {"page": None, "from_end": window.from_end, "has_previous": more,
                                "has_next": window.from_end > 1}, None
    number = max(pages - window.from_end + 1, 1) if window.from_end else min(window.page or 1, pages or 10**9)
    rows, cut = listing.seek(True, None, n + 1, (number - 1) * n)
    return rows[:n], {"page": number, "from_end": None, "has_previous": number > 1,
                      "has_next": len(rows) > n or cut is not None}, cut
