"""Reading untrusted text: JSON whose every parse failure is a ValueError, and strings that
are not valid Unicode.

Two things slip past the usual `except json.JSONDecodeError`:
- nesting deeper than the parser's recursion limit (`[[[[...` a few thousand deep) raises
  RecursionError, which is not a ValueError;
- a JSON string may hold a lone UTF-16 surrogate (`"\\ud800"`). Python keeps it in a str,
  but it cannot be encoded as UTF-8, so a tokenizer, SQLite or the terminal raises much
  later, far from the file that held it.
The readers of task files, passage files and configs call these at read time, so the
error names the file, the record and the field before any work starts.
"""

from __future__ import annotations

import json
from typing import Any


def parse_json(text: str) -> Any:
    """`json.loads`, except that nesting too deep to parse is a ValueError like any other malformed JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


def unicode_problem(text: str) -> str | None:
    """Why `text` cannot be encoded as UTF-8 (a lone surrogate), or None if it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"is not valid Unicode: lone surrogate {text[err.start]!r} at character {err.start}"
    return None


def first_unicode_problem(value: Any) -> str | None:
    """The first string inside `value` (a str, or lists, tuples and dicts of them, keys included)
    that is not valid Unicode, as a message; None when every string is valid.

    Walks with an explicit stack, so a deeply nested value cannot raise RecursionError here.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = unicode_problem(item)
            if problem:
                return f"{item[:40]!r} {problem}"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return None
