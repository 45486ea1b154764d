"""The message bus between Visitt nodes: an in-process default and Redis for several nodes.

The bus carries small JSON messages addressed to a node, and answers one question for the
cluster (:mod:`visitt.live.cluster`): which node holds a clinician's live rooms (their *shard*). A
node is alive while its heartbeat key exists; a shard whose node is not alive goes to whoever
asks next. With one node (:class:`LocalBus`) every shard is this node's and nothing leaves
the process.

The Redis bus trusts what it reads: Redis must be reachable only by Visitt's nodes
(``docs/deployment.md``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("visitt.bus")

Handler = Callable[[dict[str, Any]], Awaitable[None]]
HEARTBEAT = 1.0  # seconds between a node's heartbeats
NODE_TTL = 5.0  # a node whose heartbeat is this old is taken for dead and its shards move


class Bus(Protocol):
    node: str

    async def start(self, handler: Handler) -> None:
        """Deliver every message addressed to this node to ``handler``, in the order sent."""

    async def send(self, node: str, message: dict[str, Any]) -> None:
        """Send ``message`` to ``node``; lost without notice if that node is gone."""

    async def owner(self, shard: str) -> str:
        """The node holding ``shard``: the current holder while it is alive, else the caller's node."""

    async def alive(self, node: str) -> bool:
        """Whether ``node``'s heartbeat is fresh."""

    async def ping(self) -> bool:
        """Whether the bus answers (always, in-process)."""

    async def release(self) -> None:
        """Give up every shard this node holds and say it is gone, so others take them at once."""

    async def close(self) -> None:
        """Stop listening (after :meth:`release`)."""


class LocalBus:
    """One node: every shard is here and messages to this node are handled in-process."""

    def __init__(self) -> None:
        self.node = "local"
        self.handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self.handler = handler

    async def send(self, node: str, message: dict[str, Any]) -> None:
        if node == self.node and self.handler is not None:
            await self.handler(message)

    async def owner(self, shard: str) -> str:
        return self.node

    async def alive(self, node: str) -> bool:
        return node == self.node

    async def ping(self) -> bool:
        return True

    async def release(self) -> None:
        pass

    async def close(self) -> None:
        self.handler = None


# Take the shard unless a living node holds it. One script, so two nodes asking at once agree.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and redis.call('EXISTS', ARGV[2] .. holder) == 1 then return holder end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""
# Give the shard up only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBus:
    """Several nodes: each listens on its own pub/sub channel; shards and heartbeats are keys.

    ``on_lapse`` is called if this node's heartbeat ever lapsed (a stalled process): others may
    have taken its shards, so the node must let its clients reconnect and find the new holders.
    """

    def __init__(self, url: str, *, prefix: str = "visitt", on_lapse: Callable[[], None] | None = None) -> None:
        import redis.asyncio as aioredis  # the optional `redis` extra

        self.redis = aioredis.from_url(url, decode_responses=True)
        self.prefix = prefix
        self.node = secrets.token_hex(6)
        self.on_lapse = on_lapse or (lambda: None)
        self.shards: set[str] = set()
        self.beating = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self._claim = self.redis.register_script(_CLAIM)
        self._release = self.redis.register_script(_RELEASE)

    def _channel(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:inbox"

    def _node_key(self, node: str) -> str:
        return f"{self.prefix}:alive:{node}"

    async def start(self, handler: Handler) -> None:
        """Listen and beat in the background: a node whose Redis is away starts anyway, is not
        ready (``/readyz``) and turns sockets away until Redis answers."""
        self.tasks = [asyncio.create_task(self._listen(handler)), asyncio.create_task(self._heartbeat())]

    async def _listen(self, handler: Handler) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel(self.node))
                async for item in pubsub.listen():
                    try:
                        await handler(json.loads(item["data"]))
                    except Exception as error:  # one bad message must not stop the node's inbox
                        log.error("bus message failed: %s", type(error).__name__)
            except Exception as error:  # Redis away: listen again in a moment
                log.error("bus inbox lost: %s", type(error).__name__)
                await asyncio.sleep(HEARTBEAT)
            finally:
                await pubsub.aclose()

    async def _heartbeat(self) -> None:
        beaten = False  # a heartbeat found missing is a lapse only once there was one
        while True:
            try:
                previous = await self.redis.set(self._node_key(self.node), "1", px=int(NODE_TTL * 1000), get=True)
                if beaten and previous is None:
                    log.warning("this node's heartbeat lapsed; its clients reconnect to find their rooms")
                    self.shards.clear()
                    self.on_lapse()
                beaten = True
                self.beating.set()
            except Exception as error:  # Redis away for a moment: try again on the next beat
                log.error("heartbeat failed: %s", type(error).__name__)
            await asyncio.sleep(HEARTBEAT)

    async def send(self, node: str, message: dict[str, Any]) -> None:
        await self.redis.publish(self._channel(node), json.dumps(message, separators=(",", ":")))

    async def owner(self, shard: str) -> str:
        await self.beating.wait()  # a claim is only good while this node's heartbeat is there
        holder: str = await self._claim(keys=[f"{self.prefix}:shard:{shard}"],
                                        args=[self.node, f"{self.prefix}:alive:"])
        if holder == self.node:
            self.shards.add(shard)
        return holder

    async def alive(self, node: str) -> bool:
        return bool(await self.redis.exists(self._node_key(node)))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def release(self) -> None:
        for task in self.tasks[1:]:  # no more heartbeats: this node is leaving
            task.cancel()
        for shard in list(self.shards):
            await self._release(keys=[f"{self.prefix}:shard:{shard}"], args=[self.node])
        self.shards.clear()
        await self.redis.delete(self._node_key(self.node))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.redis.aclose()
