"""The serving process's garbage-collection policy: long-lived objects set aside, cycles among them still freed."""

from __future__ import annotations

import asyncio
import gc
import weakref

from visitt.ops import collector

from .eventually import eventually_async


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_set_aside_objects_are_handed_back_and_their_cycles_freed() -> None:
    freed = asyncio.Event()

    async def scenario() -> None:
        keeper = asyncio.create_task(collector.keep(freeze_every=0.02, thaw_every=0.5))
        try:
            a, b = Node(), Node()
            a.other, b.other = b, a  # a cycle: reference counting alone never frees it
            weakref.finalize(a, freed.set)
            # set aside: young collections no longer walk them
            await eventually_async(lambda: gc.get_freeze_count() > 0, "the objects are set aside", timeout=2)
            del a, b
            gc.collect()
            assert not freed.is_set()  # a cycle among set-aside objects waits for the thaw...
            await asyncio.wait_for(freed.wait(), 2)  # ...and is freed then
        finally:
            keeper.cancel()
            gc.unfreeze()

    asyncio.run(scenario())
