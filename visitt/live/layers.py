"""Simulcast layers through Janus: which of a picture's three layers a participant receives, and making sure
Janus switches to it.

Each page sends its camera in three layers (``static/js/sfu.js``: ``h`` full, ``m`` half, ``l`` a quarter of the
resolution); Janus forwards one of them to each receiver, the one a subscriber ``configure`` asks for
(``substream`` 0-2, lowest first). Janus switches at the new layer's next key frame, and asks the sender for one
when the request comes, once. Should that key frame not reach it (its first packet lost on a busy machine, or
the request lost, or refused by a sender that made a key frame a moment before), Janus goes on forwarding the old
layer until its next regular key-frame request (``fir_freq``, 10 s). So Visitt asks again, after :data:`ASK_AGAIN`
seconds and then twice as long each time, until Janus says it forwards that layer (its ``substream`` event) or
another layer is asked for, for at most :data:`GIVE_UP` seconds: each request costs the sender a key frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from visitt.errors import MediaServerUnavailable
from visitt.live.janus import Handle, JanusError

log = logging.getLogger("visitt.sfu")

# Janus's simulcast substreams, lowest first: the rids of sfu.js's LAYERS (quarter, half, full resolution)
SUBSTREAMS = {"l": 0, "m": 1, "h": 2}
ALL_TEMPORAL = 2  # every frame of the layer (VP8's temporal layers 0-2)
ASK_AGAIN = 1.0  # seconds without Janus switching after which the layer is asked for again (then 2, 4 s ...)
GIVE_UP = 12.0  # seconds after which Visitt stops asking: Janus's own regular key-frame request has come by then


def _switched(event: dict[str, Any], mid: str, substream: int) -> bool:
    data = event.get("plugindata", {}).get("data", {})
    return bool(data.get("mid") == mid and data.get("substream") == substream)


async def ask(handle: Handle, mid: str, layer: str) -> None:
    """Ask Janus for ``layer`` of the picture on ``handle``'s stream ``mid`` (Janus asks its sender for a key frame).
    What Janus said on that handle before is of no use now (:func:`until_switched` reads what it says next)."""
    while not handle.events.empty():
        handle.events.get_nowait()
    await handle.message({"request": "configure", "streams": [
        {"mid": mid, "substream": SUBSTREAMS[layer], "temporal": ALL_TEMPORAL}]})


async def until_switched(handle: Handle, mid: str, layer: str, wanted: Callable[[], bool]) -> bool:
    """After :func:`ask`: wait for Janus to say it forwards ``layer``, asking again every :data:`ASK_AGAIN` seconds
    while ``wanted()`` (the subscription and the layer are still the ones asked for). Whether it switched."""
    substream = SUBSTREAMS[layer]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GIVE_UP
    asked, wait = 1, ASK_AGAIN
    while loop.time() < deadline:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(wait, deadline - loop.time())):
                while not _switched(await handle.events.get(), mid, substream):
                    pass
                if asked > 1:
                    log.info("media server: layer %s forwarded after %d requests", layer, asked)
                return True
        if not wanted():
            return False
        try:
            await ask(handle, mid, layer)
        except (JanusError, MediaServerUnavailable):
            return False  # the subscription is gone (or Janus): nothing to switch
        asked, wait = asked + 1, wait * 2
    log.warning("media server: layer %s not forwarded after %d requests", layer, asked)
    return False
