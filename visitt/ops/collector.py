"""Python's garbage collector, kept out of the way of a worker that holds thousands of sockets.

A full collection walks every object the process tracks. With 10,000 signaling sockets open that
is millions of objects, and each full collection stopped the event loop for 0.16 to 1.5 s
(docs/performance.md): every knock waiting at that moment waited that much longer. Most of those
objects live as long as their socket does. So every ``freeze_every`` seconds the objects alive then
are set aside (``gc.freeze``), and collections walk only what was made since. Reference counting
still frees a set-aside object the moment nothing uses it; only garbage *cycles* among them wait,
until every ``thaw_every`` seconds they are handed back (``gc.unfreeze``) and one full collection
runs over everything: one pause of that length every quarter of an hour instead of one every few
seconds under load.

Only ``visitt serve`` (and the demo) runs this: it is the policy of a serving process, not of a
program that imports Visitt.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("visitt.collector")

FREEZE_EVERY = 10.0  # seconds
THAW_EVERY = 15 * 60.0  # seconds: cycles among long-lived objects are collected this often


async def keep(freeze_every: float = FREEZE_EVERY, thaw_every: float = THAW_EVERY) -> None:
    """Run for the life of the server: set the survivors aside now and then, hand them back seldom."""
    thawed = time.monotonic()
    while True:
        await asyncio.sleep(freeze_every)
        if time.monotonic() - thawed < thaw_every:
            gc.freeze()
            continue
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        started = time.monotonic()
        collected = gc.collect()
        thawed = time.monotonic()
        log.info("garbage collector: full collection over %d long-lived objects took %.0f ms, freed %d",
                 frozen, (thawed - started) * 1000, collected)
