"""Row ids as they arrive from outside: in a path, a query string, a form field or a JSON body.

Every table's key is an ``INTEGER`` column (PostgreSQL's 32-bit ``integer``), so an id outside
1 … 2³¹-1 names nothing. Such an id is refused at the edge, as a 422 in the one error shape,
before it can reach a driver that would fail on it (SQLite cannot bind an integer above 2⁶³).
"""

from __future__ import annotations

import re
from typing import Annotated

import annotated_types

MAX_ID = 2**31 - 1

RowId = Annotated[int, annotated_types.Interval(ge=1, le=MAX_ID)]
"""A row id: for a route's path and query parameters and for the fields of an API model."""

_DIGITS = re.compile(r"[0-9]{1,10}")


def parse_id(text: str) -> int | None:
    """A row id typed into a form field (``"12"``), or None for anything else: empty, signs, spaces,
    digits from other scripts (``str.isdigit`` accepts ``"²"``, which ``int`` then refuses), or a
    number no row can have."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
