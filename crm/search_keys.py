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
    return (column >= low) & (column < above_prefix(low))


def above_prefix(prefix: str) -> str:
    """The least string above every string that starts with `prefix` (not empty): its last character plus one.

    The character after U+D7FF is U+E000, since a lone surrogate cannot be stored or sent to a database; there is
    none after U+10FFFF, so it is dropped and the one before it counts up. (U+10FFFF is a noncharacter, which the
    request boundary refuses; a prefix made only of it gets a bound just above itself.)
    """
    for end in range(len(prefix), 0, -1):
        code = ord(prefix[end - 1]) + 1
        if code <= 0x10FFFF:
            return prefix[:end - 1] + chr(0xE000 if 0xD800 <= code <= 0xDFFF else code)
    return prefix + "\U0010ffff"
