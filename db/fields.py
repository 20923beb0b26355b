"""Every value a person or a file gives us is checked here before it is stored, the same way on SQLite and PostgreSQL
(which would otherwise differ: SQLite stores a NUL or an over-long value, PostgreSQL raises mid-transaction).

- `text_field`: a text value: its type, NUL and other control characters, Unicode line and paragraph separators,
  invisible characters in names, blank values, length (given or the column's). One line naming the field.
- `storable`: the looser check for corpus text (dialogues as the datasets wrote them): NUL and length only.
- `MAX_LINE_BYTES`: the longest line a corpus or JSONL file may have.
"""
from __future__ import annotations

import re
from typing import Any

MAX_LINE_BYTES = 1_000_000  # the longest ReDial line is about 30 kB
# C0 controls but tab, line feed and carriage return; DEL; C1 controls (NEL among them); line and paragraph separators
MULTILINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# a one-line value: every control character, every line break, and invisible characters (a name that looks like
# another account's)
SINGLE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def column_length(column: Any) -> int | None:
    return getattr(getattr(column, "type", None), "length", None)


def text_field(value: Any, field: str, *, column: Any = None, max_len: int | None = None, multiline: bool = False,
               blank: bool = False) -> str:
    """The value, if it is text that can be stored: ValueError naming the field otherwise."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{field} must be text, got {type(value).__name__}")
    bad = (MULTILINE_BAD if multiline else SINGLE_LINE_BAD).search(value)
    if bad is not None:
        what = "a NUL character" if bad.group() == "\x00" else f"the control character U+{ord(bad.group()):04X}"
        raise ValueError(f"{field} contains {what}")
    if not blank and not value.strip():
        raise ValueError(f"{field} is blank")
    limit = column_length(column) or max_len
    if limit and len(value) > limit:
        raise ValueError(f"{field} has {len(value)} characters; at most {limit} are stored")
    return value


def storable(value: str, field: str, column: Any = None) -> str:
    """Corpus text as the dataset wrote it: refused only for what a backend cannot store (NUL, over-long)."""
    if "\x00" in value:
        raise ValueError(f"{field} contains a NUL character")
    length = column_length(column)
    if length and len(value) > length:
        raise ValueError(f"{field} has {len(value)} characters; at most {length} are stored")
    return value


def whole_number(value: Any, field: str) -> int:
    """An integer given as an integer (not a boolean, a float or a string)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field} must be a whole number, got {type(value).__name__}")
    return value


def check_line_size(line: str | bytes, field: str = "line") -> None:
    size = len(line.encode("utf-8")) if isinstance(line, str) else len(line)
    if size > MAX_LINE_BYTES:
        raise ValueError(f"{field} is {size:,} bytes; at most {MAX_LINE_BYTES:,} are read")
