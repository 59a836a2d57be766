"""Folded search keys: the case-insensitive form of names, stored beside them and indexed.

The key is computed in Python (str.lower), so SQLite and PostgreSQL compare the same thing and a
plain unique index enforces case-insensitive uniqueness on both engines. Prefix search is a range
query on the key, which both engines answer from a B-tree index.

lower(), not casefold(): casefold also maps ligatures and sharp s ("ﬁ" -> "fi", "ß" -> "ss"), which
would let a look-alike username match an existing account (SAML-SECURITY.md: never fold look-alikes).
"""
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import validates
from sqlalchemy.sql.elements import ColumnElement

ASCII_WHITESPACE = " \t\r\n"  # str.strip() would also drop NBSP, U+3000... and make look-alike names equal


def fold(text: str | None) -> str:
    """The case-insensitive key for a name: stripped and lower-cased (no compatibility or NFKC folding)."""
    return (text or "").strip(ASCII_WHITESPACE).lower()


class KeepsNameKey:
    """Mixin for models with `name` and its folded `name_key` (unique): setting the name sets the key."""

    @validates("name")
    def _keep_name_key(self, _key: str, value: str) -> str:
        value = value.strip(ASCII_WHITESPACE)
        self.name_key = fold(value)
        return value


def key_type(length: int) -> String:
    """A string column type for folded keys; byte order ("C" collation) on PostgreSQL so ranges are exact."""
    return String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def prefix_range(column: ColumnElement, prefix: str) -> ColumnElement:
    """`column` starts with the folded `prefix`, written as an index-friendly range."""
    low = fold(prefix)
    high = low[:-1] + chr(ord(low[-1]) + 1)
    return (column >= low) & (column < high)
