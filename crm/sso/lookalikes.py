"""Look-alike names: letters of different scripts mixed in one part of a NameID, as in "nаdia" with a Cyrillic "а".

Such a name shows exactly like another person's, so a sign-in that carries one is refused. Each part between "@" and
"." is judged on its own (as browsers judge the labels of a domain name), so "наталья@example.com" is one Cyrillic
and two Latin parts, and passes. Within a part, letters must come from one script, or from a mix that is normal
writing and not a disguise (Unicode's "highly restrictive" level, UTS #39): Latin with Han and the Japanese kana,
with Han and Bopomofo, or with Han and Hangul. Digits, punctuation and combining marks belong to every script.

A letter's script is read from the first word of its Unicode name ("CYRILLIC SMALL LETTER A"); Python has no table
of scripts, and that word names the script for the letters of every script a NameID is written in.
"""
from __future__ import annotations

import re
import unicodedata

_SAME_SCRIPT = {"CJK": "Han", "IDEOGRAPHIC": "Han", "KATAKANA-HIRAGANA": "Katakana", "MODIFIER": None}
_NORMAL_MIXES = ({"Latin", "Han", "Hiragana", "Katakana"}, {"Latin", "Han", "Bopomofo"}, {"Latin", "Han", "Hangul"})


def script_of(char: str) -> str | None:
    """The script of a letter ("Latin", "Cyrillic", "Han", ...); None for anything else."""
    if not unicodedata.category(char).startswith("L"):
        return None
    word = unicodedata.name(char, "").split(" ", 1)[0]
    return _SAME_SCRIPT[word] if word in _SAME_SCRIPT else word.title() or None


def mixed_scripts(name: str) -> tuple[str, list[str]] | None:
    """The first part of `name` whose letters mix scripts, and those scripts; None when every part is plain."""
    for part in re.split(r"[@.]", name):
        scripts = {s for s in map(script_of, part) if s}
        if len(scripts) > 1 and not any(scripts <= mix for mix in _NORMAL_MIXES):
            return part, sorted(scripts)
    return None
