"""What zhifu accepts as text from outside, whichever door it comes through.

No control characters but tab, line feed and carriage return, and no lone UTF-16
surrogates: PostgreSQL cannot store a NUL or a surrogate in text, and no person or
merchant system means to send one. JSON at most `MAX_JSON_DEPTH` deep: an order is a
few levels deep, a document nested thousands deep is an attack on the parser.
"""

from __future__ import annotations

import re
from typing import Any

MAX_JSON_DEPTH = 64
# The largest id a path, query or body may name (PostgreSQL bigint): larger names nothing.
MAX_ID = 2**63 - 1
_UNACCEPTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def unacceptable(text: str) -> bool:
    """Whether `text` holds a character zhifu refuses (see the module's docstring)."""
    return _UNACCEPTABLE.search(text) is not None


def json_unacceptable(value: Any) -> str | None:
    """Why a parsed JSON value is refused: "depth" (nested deeper than MAX_JSON_DEPTH)
    or "characters" (in a key or a string); None when it is acceptable."""
    pending: list[tuple[Any, int]] = [(value, 0)]  # walked without recursion
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if unacceptable(item):
                return "characters"
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return "depth"
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)
    return None
