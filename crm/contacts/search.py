"""The contact list at a million contacts: every page is found from its neighbours and read from indexes.

A page is "the first n rows after this one" in one of the list's orders, (name, id), (email, id) or (created, id),
each an index that also holds the searched columns, so a walk along it never reads the table (migration 0008).

A search ("starts with q" on the name, surname, email or account name: four branches, four index ranges) is
first counted, each branch no further than COUNT_CAP rows. That count is the total the pager shows, and it picks
the plan, because neither engine's planner picks well for every q (PostgreSQL walked a whole index for a search
that matched nothing; SQLite keeps no statistics):

- at most COUNT_CAP matches: collect them through the branches' indexes, then sort: a few thousand rows at most;
- more: walk the order's index and keep the matches. They are at least 1 % of the contacts, so 25 come within a
  few thousand rows, unless they all sort late (a given name that starts with "z" sorted by name): after
  WALK_BUDGET rows, each branch answers on its own for the rest (a seek for the branch on the sort's own column,
  collect-and-sort for the others).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, tuple_, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from crm.contacts.models import Account, Contact
from crm.extensions import db
from crm.pagination import capped_count, estimated_rows
from crm.search_keys import above_prefix

COUNT_CAP = 10_000  # totals above this show as "more than 10,000": counting further costs more than the page
WALK_BUDGET = 50_000  # rows a search walks in sort order (index only, 2-10 ms) before the branches answer alone
INLINE_ACCOUNTS = 1_000  # matching accounts up to this go to the database as a list of ids, more as a subquery
SORT_KEYS = {"name": "name_key", "email": "email_key", "created": "created_at"}
SORT_INDEXES = {"name": "ix_contact_name_key_id", "email": "ix_contact_email_key_id",
                "created": "ix_contact_created_at_id"}
BRANCH_INDEXES = {"name_key": "ix_contact_name_key_id", "surname_key": "ix_contact_surname_key",
                  "email_key": "ix_contact_email_key_id", "account_id": "ix_contact_account_id"}  # (plan tests)
SEARCHED = ("name_key", "surname_key", "email_key", "account_id")

Row = tuple[Any, int]  # (sort key, id): a row's place in the order


class Unindexed(ColumnElement):
    """A column that SQLite's planner may not use an index for: written `+column` there, SQLite's documented way
    to steer a planner without statistics (sqlite.org/optoverview.html, "unary +"); the plain column elsewhere."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement):
        self.column = column
        self.type = column.type


@compiles(Unindexed)
def _plain(element: Unindexed, compiler, **kw) -> str:
    return compiler.process(element.column, **kw)


@compiles(Unindexed, "sqlite")
def _unary_plus(element: Unindexed, compiler, **kw) -> str:
    return "+" + compiler.process(element.column, **kw)


class _UnindexedContact:
    """Contact's columns as Unindexed ones, where a Branch or an Order takes a source of columns."""

    def __getattr__(self, name: str) -> Unindexed:
        return Unindexed(Contact.__table__.c[name])


UNINDEXED = _UnindexedContact()


@dataclass(frozen=True)
class Order:
    """One of the list's orders: (key, id), ascending or descending."""

    sort: str
    descending: bool

    def key(self, source: Any) -> Any:
        """The sort key column of `source` (the Contact entity or a subquery's columns)."""
        return getattr(source, SORT_KEYS[self.sort])

    def by(self, source: Any) -> list:
        """ORDER BY clauses."""
        return [c.desc() if self.descending else c.asc() for c in (self.key(source), source.id)]

    def beyond(self, source: Any, row: Row | None) -> ColumnElement[bool] | None:
        """Rows after `row` in this order (a row-value comparison: one index range on both engines)."""
        if row is None:
            return None
        place = tuple_(self.key(source), source.id)
        return place < tuple_(*row) if self.descending else place > tuple_(*row)

    def reversed(self) -> Order:
        """The same order, the other way round (for previous pages and the last page)."""
        return Order(self.sort, not self.descending)

    def sorted(self, rows: set[Row] | list[Row]) -> list[Row]:
        """Rows in this order (Python compares strings by code point, as the "C" and BINARY collations do)."""
        return sorted(rows, reverse=self.descending)


@dataclass(frozen=True)
class Branch:
    """One way a contact matches a search: its column's value starts with the folded q."""

    column: str
    low: Any = None
    high: Any = None
    accounts: tuple[int, ...] | Select | None = None
    within: tuple[int, ...] | None = None  # only the contacts of these accounts (what an external user sees)

    def condition(self, source: Any) -> ColumnElement[bool]:
        """The branch's condition on `source` (the Contact entity or a subquery's columns)."""
        column = getattr(source, self.column)
        if self.accounts is not None:
            matched = column.in_(self.accounts)
        else:
            matched = (column >= self.low) & (column < self.high)
        return matched if self.within is None else matched & source.account_id.in_(self.within)


class Search:
    """Which contacts a list shows: those that match any of its branches."""

    def __init__(self, branches: list[Branch]):
        self.branches = branches

    @classmethod
    def prefix(cls, key: str) -> Search:
        """Contacts whose name, surname, email or account name starts with `key` (folded, not empty)."""
        low, high = key, above_prefix(key)
        accounts = select(Account.id).where(Account.name_key >= low, Account.name_key < high)
        ids = list(db.session.scalars(accounts.limit(INLINE_ACCOUNTS + 1)))
        branches = [Branch(c, low, high) for c in ("name_key", "email_key", "surname_key")]
        if ids:  # accounts first: the branch most likely to pass the cap, which ends the counting at once
            branches.insert(0, Branch("account_id", accounts=tuple(ids) if len(ids) <= INLINE_ACCOUNTS else accounts))
        return cls(branches)

    @classmethod
    def at_account(cls, account_id: int | None) -> Search:
        """The contacts of one account (None: no account, no contacts)."""
        return cls([Branch("account_id", accounts=(account_id,) if account_id is not None else ())])

    def within(self, account_id: int | None) -> Search:
        """The same search among the contacts of one account only (None: no account, no contacts)."""
        return Search([replace(b, within=(account_id,) if account_id is not None else ()) for b in self.branches])

    def matches(self, source: Any) -> ColumnElement[bool]:
        """Any branch matches."""
        return or_(*(b.condition(source) for b in self.branches))


@dataclass(frozen=True)
class Count:
    """A list's total as the pager shows it, and whether it is small enough to collect and sort."""

    total: int
    kind: str  # "exact", "more than" or "about"

    @property
    def few(self) -> bool:
        """At most COUNT_CAP rows: collecting them all is cheaper than walking the order."""
        return self.kind == "exact"


def count(search: Search | None) -> Count:
    """The total, counted no further than COUNT_CAP; for the whole list, PostgreSQL's estimate beyond that."""
    if search is None:
        counted = capped_count(select(Contact.id), COUNT_CAP)
        if counted <= COUNT_CAP:
            return Count(counted, "exact")
        estimate = estimated_rows(Contact.__tablename__)
        return Count(_round(estimate), "about") if estimate and estimate > COUNT_CAP else Count(COUNT_CAP, "more than")
    matched = []
    for branch in search.branches:
        counted = capped_count(select(Contact.id).where(branch.condition(Contact)), COUNT_CAP)
        if counted > COUNT_CAP:
            return Count(COUNT_CAP, "more than")
        if counted:
            matched.append((branch, counted))
    if len(matched) <= 1:
        return Count(sum(n for _, n in matched), "exact")
    ids = union(*(select(Contact.id).where(b.condition(Contact)) for b, _ in matched)).subquery()
    total = db.session.scalar(select(func.count()).select_from(ids)) or 0
    return Count(total, "exact") if total <= COUNT_CAP else Count(COUNT_CAP, "more than")


def _round(estimate: int) -> int:
    """Three significant digits: an estimate should not look exact."""
    step = 10 ** max(len(str(estimate)) - 3, 0)
    return round(estimate / step) * step


def place_of(order: Order, contact_id: int) -> Row | None:
    """A contact's place in the order, or None when it is gone."""
    found = db.session.execute(select(order.key(Contact), Contact.id).where(Contact.id == contact_id)).first()
    return tuple(found) if found else None


def seek(search: Search | None, few: bool, order: Order, after: Row | None, limit: int, offset: int = 0) -> list[Row]:
    """The `limit` rows that follow `after` (skipping `offset` first) in `order` that match `search`."""
    if search is None:
        stmt = select(order.key(Contact), Contact.id).order_by(*order.by(Contact)).limit(limit).offset(offset)
        return _rows(_where(stmt, order.beyond(Contact, after)))
    if few:
        return _collect(search.branches, order, after, limit, offset)
    return _walk(search, order, after, offset + limit)[offset:]


def _rows(stmt: Select) -> list[Row]:
    return [tuple(row) for row in db.session.execute(stmt)]


def _where(stmt: Select, condition: ColumnElement[bool] | None) -> Select:
    return stmt if condition is None else stmt.where(condition)


def _collect(branches: list[Branch], order: Order, after: Row | None, limit: int, offset: int = 0,
             until: Row | None = None) -> list[Row]:
    """Every match through the branches' own indexes (UNION drops contacts matched twice), then sorted.

    MATERIALIZED: planned on their own, the matches come from each branch's index range. Planned with the ORDER BY
    and LIMIT, both engines would rather walk the order's index to skip the sort, which reads the whole index when
    the matches sort last (PostgreSQL's 7.7 s for a search that matched nothing; SQLite has no statistics at all).
    """
    return _rows(collect_statement(branches, order, after, until).limit(limit).offset(offset))


def collect_statement(branches: list[Branch], order: Order, after: Row | None, until: Row | None = None) -> Select:
    """The statement `_collect` runs, without its LIMIT and OFFSET: matches after `after`, up to `until`."""
    parts = []
    for branch in branches:
        part = (select(Contact.id.label("id"), order.key(Contact).label(SORT_KEYS[order.sort]))
                .where(branch.condition(Contact)))
        part = _where(part, order.beyond(UNINDEXED, after))  # the branch's range drives, not the order's index
        parts.append(part if until is None else part.where(~order.beyond(UNINDEXED, until)))
    matches = (union(*parts) if len(parts) > 1 else parts[0]).cte("matches").prefix_with("MATERIALIZED")
    return select(order.key(matches.c), matches.c.id).order_by(*order.by(matches.c))


def _walk(search: Search, order: Order, after: Row | None, limit: int) -> list[Row]:
    """Read the order's index from `after`, keeping matches, for at most WALK_BUDGET rows; then the branches."""
    end = _budget_end(order, after) if db.session.get_bind().dialect.name == "sqlite" else None
    found = _rows(walk_statement(search, order, after, end, limit))
    if len(found) >= limit:
        return found
    end = end or _budget_end(order, after)
    if end is None:  # the walk reached the end of the list: nothing more to find
        return found
    return found + _beyond_the_walk(search, order, end, limit - len(found))


def _beyond_the_walk(search: Search, order: Order, end: Row, need: int) -> list[Row]:
    """The first `need` matches after `end`, branch by branch: a branch on the sort's own column seeks into its
    range; the others collect their matches, only up to where the seeks already found `need` (a given name that
    sorts last matches by name and by email, and only the first few of its emails can make the page)."""
    aligned = [b for b in search.branches if b.column == SORT_KEYS[order.sort]]
    rest: set[Row] = set()
    for branch in aligned:
        rest.update(_seek_range(branch, order, end, need))
    until = order.sorted(rest)[need - 1] if len(rest) >= need else None
    for branch in search.branches:
        if branch not in aligned:
            rest.update(_collect([branch], order, end, need, until=until))
    return order.sorted(rest)[:need]


def walk_statement(search: Search, order: Order, after: Row | None, end: Row | None, limit: int) -> Select:
    """Each engine's way of walking one index in order: PostgreSQL walks a LIMITed subquery (its planner keeps
    that order, and stops when enough rows matched); SQLite gets the order's range up to `end`, with the search's
    terms kept away from its planner (Unindexed), so that range is the only index it can use."""
    if end is None:
        columns = {name: getattr(Contact, name) for name in {*SEARCHED, SORT_KEYS[order.sort], "id"}}
        window = _where(select(*columns.values()), order.beyond(Contact, after))
        walked = window.order_by(*order.by(Contact)).limit(WALK_BUDGET).subquery()
        return (select(order.key(walked.c), walked.c.id).where(search.matches(walked.c))
                .order_by(*order.by(walked.c)).limit(limit))
    stmt = (select(order.key(Contact), Contact.id).where(search.matches(UNINDEXED), ~order.beyond(Contact, end))
            .order_by(*order.by(Contact)).limit(limit))
    return _where(stmt, order.beyond(Contact, after))


def _budget_end(order: Order, after: Row | None) -> Row | None:
    """The place of the WALK_BUDGET-th row after `after` (read from the index alone), or None if there is none."""
    stmt = select(order.key(Contact), Contact.id).order_by(*order.by(Contact)).offset(WALK_BUDGET - 1).limit(1)
    found = db.session.execute(_where(stmt, order.beyond(Contact, after))).first()
    return tuple(found) if found else None


def _seek_range(branch: Branch, order: Order, after: Row, limit: int) -> list[Row]:
    """The first `limit` matches after `after` of a branch that ranges over the sort key: one index seek."""
    key, column = after[0], getattr(Contact, branch.column)
    # The range's own bound and a row comparison on the same side would leave PostgreSQL scanning from the lower
    # one: `after` replaces the bound it passes.
    if not order.descending:
        if key >= branch.high:
            return []  # the branch's range lies wholly before `after`
        bounds = [column < branch.high, order.beyond(Contact, after) if key >= branch.low else column >= branch.low]
    else:
        if key < branch.low:
            return []
        bounds = [column >= branch.low, order.beyond(Contact, after) if key < branch.high else column < branch.high]
    if branch.within is not None:
        bounds.append(Contact.account_id.in_(branch.within))
    return _rows(select(order.key(Contact), Contact.id).where(*bounds).order_by(*order.by(Contact)).limit(limit))
