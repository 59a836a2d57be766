"""Bulk loading of generated contacts: COPY on PostgreSQL, the driver's executemany on SQLite.

A million rows through the ORM or SQLAlchemy's executemany took minutes on PostgreSQL; the driver's own bulk
paths take seconds. For a large load the contact table's secondary indexes are dropped first and built again
after it: one sort per index instead of a million random B-tree inserts each. The caller's transaction covers
it all (PostgreSQL's DDL is transactional), so a failed load leaves the table and its indexes as they were.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from sqlalchemy import Connection, Engine, Index, text

from crm.contacts.models import Contact

BATCH = 10_000  # rows between progress reports
REBUILD_INDEXES_FROM = 50_000  # below this, keeping the indexes is as fast and locks less

Progress = Callable[[int], None]  # called with the number of rows just loaded


def load_contacts(connection: Connection, columns: tuple[str, ...], rows: Iterable[tuple], count: int,
                  progress: Progress | None = None) -> int:
    """Insert `count` rows (tuples in `columns` order) into the contact table; return how many were loaded."""
    indexes = _secondary_indexes() if count >= REBUILD_INDEXES_FROM else []
    for index in indexes:
        index.drop(connection)
    batches = _batches(rows, progress or (lambda _: None))
    if connection.dialect.name == "postgresql":
        loaded = _copy(connection, columns, batches)
    else:
        loaded = _executemany(connection, columns, batches)
    for index in indexes:
        index.create(connection)
    return loaded


def _secondary_indexes() -> list[Index]:
    return sorted(Contact.__table__.indexes, key=lambda index: index.name)


def _batches(rows: Iterable[tuple], progress: Progress) -> Iterator[list[tuple]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH)):
        yield batch
        progress(len(batch))  # after the batch went in: the bar shows rows loaded, not rows generated


def _copy(connection: Connection, columns: tuple[str, ...], batches: Iterator[list[tuple]]) -> int:
    driver = connection.connection.driver_connection  # psycopg 3, inside the session's transaction
    loaded = 0
    with driver.cursor() as cursor, cursor.copy(f"COPY contact ({', '.join(columns)}) FROM STDIN") as copy:
        for batch in batches:
            for row in batch:
                copy.write_row(row)
            loaded += len(batch)
    return loaded


def _executemany(connection: Connection, columns: tuple[str, ...], batches: Iterator[list[tuple]]) -> int:
    table = Contact.__table__
    # The driver gets values as SQLAlchemy would send them (SQLite keeps datetimes as text in its own format).
    dialect = connection.dialect  # (the dialect's own type: a generic DateTime has no processor of its own)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    convert = [(i, p) for i, p in enumerate(processors) if p is not None]
    statement = f"INSERT INTO contact ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    cursor = connection.connection.driver_connection.cursor()
    loaded = 0
    for batch in batches:
        if convert:
            batch = [_converted(row, convert) for row in batch]
        cursor.executemany(statement, batch)
        loaded += len(batch)
    cursor.close()
    return loaded


def _converted(row: tuple, convert: list) -> tuple:
    values = list(row)
    for i, process in convert:
        values[i] = process(values[i])
    return tuple(values)


def settle(engine: Engine, loaded: int) -> None:
    """After a large load, PostgreSQL: VACUUM ANALYZE contact, what autovacuum would do a minute later.

    The planner then knows the table's size (the contact list shows it as "about 1,000,000"), and the visibility
    map lets the list's searches read the covering indexes without visiting the table.
    """
    if loaded < REBUILD_INDEXES_FROM or engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) contact"))
