"""Waiting for something to become true by asking again and again, never by sleeping for a guessed time.

A sleep is either too short on a loaded machine (the test fails for no reason) or too long everywhere
else (the suite is slow). Polling ends as soon as the thing is true and says what never came true.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
INTERVAL = 0.02  # seconds between two looks


def eventually(check: Callable[[], T], what: str, *, timeout: float = 10.0,
               ignoring: tuple[type[Exception], ...] = (), interval: float = INTERVAL) -> T:
    """Call ``check`` until it returns something true, and return that; ``AssertionError`` naming
    ``what`` after ``timeout`` seconds. The exceptions in ``ignoring`` count as "not yet"; ``interval``
    seconds between two looks."""
    deadline = time.monotonic() + timeout
    while True:
        last: Exception | None = None
        try:
            value = check()
            if value:
                return value
        except ignoring as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}" + (f" (last: {last!r})" if last else ""))
        time.sleep(interval)


async def eventually_async(check: Callable[[], T | Awaitable[T]], what: str, *, timeout: float = 10.0) -> T:
    """:func:`eventually` on an event loop: ``check`` may be a plain function or a coroutine function,
    and the loop goes on meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(INTERVAL)
