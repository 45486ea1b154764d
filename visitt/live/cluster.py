"""Several nodes: every clinician's live rooms are held by one node, reached through the bus.

A clinician's dashboard, their rooms and everyone waiting for them form a *shard*, held by one
node at a time (:meth:`visitt.live.bus.Bus.owner`). A socket that arrives at another node - the
patient's phone was sent there by the load balancer - is *relayed*: that node (the edge) checks
the message as always (size, rate, hello, ping) and forwards it over the bus; the session runs
on the holder with a :class:`RemoteLink` standing in for the socket, and what it sends goes back
over the bus to the edge. The sessions (:class:`visitt.live.signaling.GuestSession`,
:class:`~visitt.live.signaling.StaffSession`) are the same code on either path, so a call across two
nodes behaves exactly as one on a single node.

When a node dies its heartbeat stops: the edges relaying to it close their sockets with 1001,
the browsers reconnect, and the next node asked takes the shard, loading the rooms from the
database - the same path as a restart. A node that stops gracefully gives its shards up first.
With one node (:class:`visitt.live.bus.LocalBus`) every shard is here and nothing is relayed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from visitt.live import protocol
from visitt.live.bus import HEARTBEAT, Bus, LocalBus, RedisBus
from visitt.store.db import outage
from visitt.errors import describe
from visitt.rooms import GuestRecord
from visitt.settings import Settings
from visitt.live.connections import Connection, PeerLink
from visitt.live.signaling import (
    GuestSession,
    StaffIdentity,
    StaffSession,
    run,
    try_again_later,
)

log = logging.getLogger("visitt.cluster")
BUS_TIMEOUT = 2.0  # seconds for Redis to answer before a socket is turned away
Session = GuestSession | StaffSession


async def open_session(state: Any, link: PeerLink, kind: str, payload: dict[str, Any]) -> Session:
    if kind == "guest":
        return await GuestSession.open(state, link, GuestRecord.from_json(payload))
    return await StaffSession.open(state, link, StaffIdentity(**payload))


class RemoteLink(PeerLink):
    """A socket on another node (the edge), as the session holding its room sees it."""

    def __init__(self, cluster: Cluster, edge: str, conn: str, *, peer_id: str, role: str, name: str,
                 staff_id: int | None = None, cohost: bool = False) -> None:
        super().__init__(peer_id=peer_id, role=role, name=name, staff_id=staff_id, cohost=cohost)
        self.cluster, self.edge, self.conn = cluster, edge, conn

    def send(self, text: str) -> None:
        self.cluster.post(self.edge, {"op": "send", "conn": self.conn, "text": text})


@dataclass
class Relay:
    """Edge side: a socket here whose session runs on ``holder``."""

    connection: Connection
    holder: str


@dataclass
class Remote:
    """Holder side: a session here for a socket on another node."""

    link: RemoteLink
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class Cluster:
    """Routes each signaling socket to the node holding its shard (``app.state.cluster``)."""

    def __init__(self, state: Any, bus: Bus) -> None:
        self.state, self.bus = state, bus
        self.relays: dict[str, Relay] = {}
        self.remotes: dict[str, Remote] = {}
        self.outgoing: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.leaving = False

    @classmethod
    def from_settings(cls, state: Any, settings: Settings) -> Cluster:
        if not settings.redis_url:
            return cls(state, LocalBus())
        cluster = cls(state, LocalBus())  # the bus needs the cluster's lapse handler
        cluster.bus = RedisBus(settings.redis_url, prefix=settings.redis_prefix, on_lapse=cluster.lapsed)
        return cluster

    @property
    def node(self) -> str:
        return self.bus.node

    async def start(self) -> None:
        await self.bus.start(self.receive)
        if not isinstance(self.bus, LocalBus):
            self.tasks.append(asyncio.create_task(self._watch()))

    async def problem(self) -> str | None:
        """For ``/readyz``: None while the bus answers, else why this node cannot serve."""
        try:
            if await asyncio.wait_for(self.bus.ping(), BUS_TIMEOUT):
                return None
        except Exception as error:  # the message can name hosts: the log gets the type only
            log.warning("readiness: bus check failed: %s", describe(error))
        return "the message bus (Redis) is not reachable"

    # edge side ----------------------------------------------------------------------------------

    async def serve(self, connection: Connection, *, shard: int, kind: str, payload: dict[str, Any]) -> None:
        """Run ``connection`` until it closes: here if this node holds ``shard``, else relayed."""
        try:
            holder = await asyncio.wait_for(self.bus.owner(str(shard)), BUS_TIMEOUT)
        except Exception as error:  # without the bus nobody can tell where the room is: try again soon
            log.error("cannot find the node holding a room: %s", describe(error))
            await try_again_later(connection.websocket)
            return
        if holder == self.node:
            try:
                session = await open_session(self.state, connection, kind, payload)
            except Exception as error:  # the room is loaded from the database, which is away
                if outage(error) is None:
                    raise
                log.warning("cannot open a session: %s", describe(error))
                await try_again_later(connection.websocket)
                return
            await run(connection, session.handle, session.close)
            return
        conn = secrets.token_urlsafe(12)
        self.relays[conn] = Relay(connection, holder)
        self.post(holder, {"op": "open", "conn": conn, "edge": self.node, "kind": kind, "payload": payload,
                           "peer": {"peer_id": connection.id, "role": connection.role, "name": connection.name,
                                    "staff_id": connection.staff_id, "cohost": connection.cohost}})

        async def forward(message: Any) -> None:
            self.post(holder, {"op": "msg", "conn": conn, "text": message.model_dump_json(exclude_none=True)})

        async def closed() -> None:
            self.post(holder, {"op": "close", "conn": conn})

        try:
            await run(connection, forward, closed)
        finally:
            if self.relays.pop(conn, None) is not None and connection.going_away:
                await closed()  # this node is stopping: the holder keeps their place for the grace period

    # holder side --------------------------------------------------------------------------------

    async def _hold(self, remote: Remote, kind: str, payload: dict[str, Any]) -> None:
        link = remote.link
        try:
            session = await open_session(self.state, link, kind, payload)
        except Exception as error:
            link.fail(error)
            self.post(link.edge, {"op": "drop", "conn": link.conn})
            self.remotes.pop(link.conn, None)
            return
        try:
            while (message := await remote.inbox.get())["op"] != "close":
                try:
                    await session.handle(protocol.parse(message["text"]))
                except Exception as error:  # reported to this client; the room goes on
                    link.fail(error)
        finally:
            self.remotes.pop(link.conn, None)
            if not self.leaving:  # a stopping node keeps the durable state, as with its own sockets
                await session.close()

    # the bus ------------------------------------------------------------------------------------

    async def receive(self, message: dict[str, Any]) -> None:
        op, conn = message.get("op"), message.get("conn", "")
        if op == "open":
            link = RemoteLink(self, message["edge"], conn, **message["peer"])
            opened = self.remotes[conn] = Remote(link)
            opened.task = asyncio.create_task(self._hold(opened, message["kind"], message["payload"]))
        elif op in ("msg", "close"):
            if (remote := self.remotes.get(conn)) is not None:
                remote.inbox.put_nowait(message)
        elif op == "send":
            if (relay := self.relays.get(conn)) is not None:
                relay.connection.send(message["text"])
        elif op == "drop":  # the holder is going: the browser reconnects and finds the new one
            if (relay := self.relays.get(conn)) is not None:
                relay.connection.go_away()
        elif op == "ended":
            self.state.hub.ended_elsewhere(message["room"], message["reason"])
        elif op == "withdrew":
            await self.state.hub.withdrawn_elsewhere(message["room"], int(message["participant"]))
        elif op == "meetings_changed":
            self.state.hub.dashboards.notify(int(message["staff"]), protocol.encode(protocol.MeetingsChanged()))

    def post(self, node: str, message: dict[str, Any]) -> None:
        """Queue ``message`` for ``node``; messages to one node leave in the order posted."""
        queue = self.outgoing.get(node)
        if queue is None:
            queue = self.outgoing[node] = asyncio.Queue()
            self.tasks.append(asyncio.create_task(self._deliver(node, queue)))
        queue.put_nowait(message)

    async def _deliver(self, node: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await queue.get()
            try:
                await self.bus.send(node, message)
            except Exception as error:  # Redis away: the message is lost, as a dropped packet; sockets recover
                log.error("bus send failed: %s", describe(error))
            finally:
                queue.task_done()

    # rooms changed from outside a session --------------------------------------------------------

    async def room_ended(self, host_id: int, public_id: str, reason: str) -> None:
        """A room was ended by a change to its appointment: tell whoever is connected to it."""
        holder = await self.bus.owner(str(host_id))
        if holder == self.node:
            self.state.hub.ended_elsewhere(public_id, reason)
        else:
            self.post(holder, {"op": "ended", "room": public_id, "reason": reason})

    async def patient_withdrew(self, host_id: int, public_id: str, participant_id: int) -> None:
        """A patient of a group consultation withdrew from video (recorded by staff): their part of the call ends
        on the node holding the room (:meth:`visitt.live.hub.Hub.withdrawn_elsewhere`)."""
        holder = await self.bus.owner(str(host_id))
        if holder == self.node:
            await self.state.hub.withdrawn_elsewhere(public_id, participant_id)
        else:
            self.post(holder, {"op": "withdrew", "room": public_id, "participant": participant_id})

    async def meetings_changed(self, staff_ids: list[int]) -> None:
        """A staff meeting these colleagues are invited to was moved or cancelled: tell their dashboards."""
        for staff_id in staff_ids:
            holder = await self.bus.owner(str(staff_id))
            if holder == self.node:
                self.state.hub.dashboards.notify(staff_id, protocol.encode(protocol.MeetingsChanged()))
            else:
                self.post(holder, {"op": "meetings_changed", "staff": staff_id})

    # nodes coming and going ---------------------------------------------------------------------

    async def _watch(self) -> None:
        """Close relays to a holder that died, and end sessions for sockets on an edge that died."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                for holder in {relay.holder for relay in self.relays.values()}:
                    if not await self.bus.alive(holder):
                        for relay in [r for r in self.relays.values() if r.holder == holder]:
                            relay.connection.go_away()
                for edge in {remote.link.edge for remote in self.remotes.values()}:
                    if not await self.bus.alive(edge):
                        for remote in [r for r in self.remotes.values() if r.link.edge == edge]:
                            remote.inbox.put_nowait({"op": "close"})
            except Exception as error:  # Redis away for a moment: look again next time
                log.error("cluster watch failed: %s", describe(error))

    def lapsed(self) -> None:
        """This node was taken for dead and may have lost its shards: everyone reconnects."""
        for connection in list(self.state.connections.open):
            connection.go_away()
        for remote in list(self.remotes.values()):
            self.post(remote.link.edge, {"op": "drop", "conn": remote.link.conn})

    async def leave(self) -> None:
        """This node is stopping: give the shards up, then send every relayed socket to the new holders."""
        self.leaving = True
        try:
            await self.bus.release()
        except Exception as error:
            log.error("could not give the shards up: %s", describe(error))
        for remote in list(self.remotes.values()):
            self.post(remote.link.edge, {"op": "drop", "conn": remote.link.conn})
            if remote.task is not None:
                remote.task.cancel()
        await self._flush(2.0)

    async def _flush(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self.outgoing.values())), timeout)
        except TimeoutError:
            log.warning("bus messages left unsent at shutdown")

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.close()
