"""Value transforms of the mapping rows: what one row does to the attribute's values before they reach the contact.

Plain Python (no Flask, no database): the planner applies them at every sign-in, the mapping services validate them
when a row is saved, the CLI parses `--transform`, and the provider page previews them, all through `parse` and
`Transform.apply` here, so the spelling `part:SEP:N` is read in one place.

Patterns come from administrators but run on what an IdP sends at every sign-in, so a pattern that backtracks
without end must not hold a worker: they run in the `regex` engine with a timeout (Python's `re` cannot be
interrupted), on at most the first MAX_REGEX_INPUT characters of a value, and a pattern is at most
MAX_PATTERN characters.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

MAX_PATTERN = 200
MAX_REGEX_INPUT = 1000  # characters of a value the pattern sees
REGEX_TIMEOUT = 0.05  # seconds per value: a real pattern on a real value takes microseconds
MAX_SEPARATOR = 20
MAX_SPEC = 250  # the column's width

LOWERCASE, UPPERCASE, TRIM, STRIP_DOMAIN, PART, REGEX, JOIN = (
    "lowercase", "uppercase", "trim", "strip-domain", "part", "regex", "join")
SIMPLE = (LOWERCASE, UPPERCASE, TRIM, STRIP_DOMAIN)
SPELLINGS = "lowercase, uppercase, trim, strip-domain, part:SEP:N (N from 1), regex:PATTERN, join:SEP"


class TransformInvalid(ValueError):
    """The transform cannot be used; the message says why in words for the admin."""


class TransformFailed(RuntimeError):
    """A transform could not finish on a value (a pattern that ran out of time)."""


@dataclass(frozen=True)
class Transform:
    """One transform of a mapping row, parsed and checked."""

    kind: str
    separator: str | None = None  # part, join
    index: int | None = None  # part: which part, from 1
    pattern: str | None = None  # regex

    @property
    def spec(self) -> str:
        """The spelling it is stored, exported and typed in (`part:-:2`)."""
        if self.kind == PART:
            return f"{PART}:{self.separator}:{self.index}"
        if self.kind == JOIN:
            return f"{JOIN}:{self.separator}"
        if self.kind == REGEX:
            return f"{REGEX}:{self.pattern}"
        return self.kind

    def apply(self, values: tuple[str, ...] | list[str]) -> str | None:
        """The value for the contact field from an attribute's values (None: nothing usable).

        join uses every value; the others, like a row without a transform, the first non-blank one. The result is
        stripped, and an empty result counts as nothing (so the row's default applies, as for a missing attribute).
        """
        present = [v.strip() for v in values if v and v.strip()]
        if not present:
            return None
        if self.kind == JOIN:
            result = self.separator.join(present)
        else:
            result = self._one(present[0])
        result = (result or "").strip()
        return result or None

    def _one(self, value: str) -> str | None:
        if self.kind == LOWERCASE:
            return value.lower()
        if self.kind == UPPERCASE:
            return value.upper()
        if self.kind == TRIM:
            # The SAML layer strips the ends already; trim also folds runs of inner whitespace ("Sales   EMEA").
            return " ".join(value.split())
        if self.kind == STRIP_DOMAIN:
            return value.rsplit("@", 1)[0] if "@" in value else value
        if self.kind == PART:
            parts = value.split(self.separator)
            return parts[self.index - 1] if self.index <= len(parts) else None
        return self._first_group(value)

    def _first_group(self, value: str) -> str | None:
        try:
            found = _compiled(self.pattern).search(value[:MAX_REGEX_INPUT], timeout=REGEX_TIMEOUT)
        except TimeoutError:
            raise TransformFailed(f"the pattern {self.pattern!r} took too long on the value and was stopped") from None
        return found.group(1) if found else None


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern:
    return regex.compile(pattern)


def parse(spec: str | None) -> Transform | None:
    """Read a transform as typed (`lowercase`, `part:-:2`, `regex:^(\\w+)`, `join:, `); None for blank.

    Raise TransformInvalid with the reason. Only the name is trimmed: a separator may be a space.
    """
    if spec is None or not spec.strip():
        return None
    if len(spec) > MAX_SPEC:
        raise TransformInvalid(f"The transform is longer than {MAX_SPEC} characters.")
    name, colon, rest = spec.lstrip().partition(":")
    name = name.strip().lower()
    if name in SIMPLE:
        if rest.strip():
            raise TransformInvalid(f"{name} takes nothing after it.")
        return Transform(name)
    if name == PART:
        return _part(rest, colon)
    if name == JOIN:
        return Transform(JOIN, separator=_separator(rest, colon, "join:SEP, e.g. join:, "))
    if name == REGEX:
        return Transform(REGEX, pattern=_pattern(rest if colon else ""))
    raise TransformInvalid(f'"{spec.strip()[:40]}" is not a transform. Use one of: {SPELLINGS}.')


def _separator(text: str, colon: str, example: str) -> str:
    if not colon or text == "":
        raise TransformInvalid(f"Give the separator after the colon: {example}.")
    if len(text) > MAX_SEPARATOR:
        raise TransformInvalid(f"The separator is longer than {MAX_SEPARATOR} characters.")
    return text


def _part(rest: str, colon: str) -> Transform:
    separator, second_colon, number = rest.rpartition(":")
    if not colon or not second_colon:
        raise TransformInvalid("Write part:SEP:N, e.g. part:-:1 for the text before the first dash.")
    separator = _separator(separator, ":", "part:SEP:N, e.g. part:-:1")
    if not number.strip().isdigit() or int(number) < 1:
        raise TransformInvalid(f'The part number "{number}" must be a whole number from 1 (part:{separator}:1 '
                               "is the text before the first separator).")
    if int(number) > 100:
        raise TransformInvalid("The part number must be at most 100.")
    return Transform(PART, separator=separator, index=int(number))


def _pattern(pattern: str) -> str:
    if not pattern:
        raise TransformInvalid("Give the pattern after the colon: regex:PATTERN, e.g. regex:^([A-Z]+)-.")
    if len(pattern) > MAX_PATTERN:
        raise TransformInvalid(f"The pattern is longer than {MAX_PATTERN} characters.")
    try:
        compiled = _compiled(pattern)
    except regex.error as error:
        raise TransformInvalid(f"The pattern is not a valid regular expression: {error}.") from None
    if compiled.groups < 1:
        raise TransformInvalid("The pattern needs a group in parentheses: the value is what its first group "
                               "matches, e.g. regex:^([^-]+).")
    return pattern

