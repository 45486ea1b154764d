"""The clinicians' dashboards on this node, and what they are told about their waiting rooms.

A knock goes to the clinician's dashboards (and to the co-hosts in the call) at once. The waiting
room itself, which lists everyone waiting each time, goes in rounds: one for all the changes made
in one turn of the event loop (a knock per patient in one group commit, say), and on a busy node no
more than :data:`LOBBY_ROUNDS` a second once a burst of :data:`LOBBY_BURST` is spent, so the list
follows the knocks a moment later instead of once for each.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from visitt.live import protocol
from visitt.limiter import Pace

if TYPE_CHECKING:
    from visitt.live.live_room import LiveRoom, Peer

LOBBY_ROUNDS = 4.0  # rounds of sending the waiting rooms a second, once the burst is spent
LOBBY_BURST = 8


class Dashboards:
    """Each clinician's dashboard sockets and the waiting rooms due to be sent to them.

    ``by_host`` (the hub's live rooms by clinician) and ``gave_up`` (per clinician, who the waiting
    room sent home) are the hub's own, read when a waiting room is sent.
    """

    def __init__(self, by_host: dict[int, dict[str, LiveRoom]],
                 gave_up: dict[int, list[protocol.GaveUpInfo]]) -> None:
        self.by_host, self.gave_up = by_host, gave_up
        self.watching: dict[int, set[Peer]] = {}  # per clinician: their dashboard sockets
        self.hosts_due: set[int] = set()  # clinicians whose dashboards are sent the waiting room soon
        self.rooms_due: dict[str, LiveRoom] = {}  # rooms whose co-hosts in the call are
        self.rounds = Pace(LOBBY_ROUNDS, LOBBY_BURST)

    def watch(self, staff_id: int, peer: Peer) -> None:
        self.watching.setdefault(staff_id, set()).add(peer)
        peer.send(self.lobby(staff_id))

    def unwatch(self, staff_id: int, peer: Peer) -> None:
        self.watching.get(staff_id, set()).discard(peer)

    def notify(self, staff_id: int, text: str) -> None:
        """``text`` to each dashboard socket of ``staff_id`` on this node, at once."""
        for peer in list(self.watching.get(staff_id, ())):
            peer.send(text)

    def lobby(self, staff_id: int) -> str:
        waiting = [room.waiting_info(waiter) for room in self.by_host.get(staff_id, {}).values()
                   for waiter in room.waiting.values()]
        return protocol.encode(protocol.Lobby(waiting=waiting, gave_up=self.gave_up.get(staff_id, [])))

    @staticmethod
    def room_lobby(room: LiveRoom) -> str:
        """The waiting room as a co-host sees it: this room's only."""
        return protocol.encode(protocol.Lobby(waiting=[room.waiting_info(waiter) for waiter in room.waiting.values()],
                             gave_up=[]))

    def hosts(self, room: LiveRoom) -> list[Peer]:
        """The host's dashboard sockets and the co-hosts in ``room``'s call."""
        return [*self.watching.get(room.host_id, ()), *(peer for peer in room.in_call.values() if peer.cohost)]

    def tell(self, room: LiveRoom, text: str | None = None) -> None:
        """A change in ``room``'s waiting room: ``text`` to the host's dashboards and the co-hosts in
        the call at once, and the waiting room as it then is in the next round."""
        cohosts = [peer for peer in room.in_call.values() if peer.cohost]
        if text:
            for peer in self.hosts(room):
                peer.send(text)
        if not self.hosts_due and not self.rooms_due:
            wait = self.rounds.reserve()
            if wait > 0:
                asyncio.get_running_loop().call_later(wait, self._send_due)
            else:
                asyncio.get_running_loop().call_soon(self._send_due)
        self.hosts_due.add(room.host_id)
        if cohosts:  # a co-host sees this room's waiting room only, and only while in the call
            self.rooms_due[room.public_id] = room

    def _send_due(self) -> None:
        hosts, self.hosts_due = self.hosts_due, set()
        rooms, self.rooms_due = self.rooms_due, {}
        for host_id in hosts:
            dashboards = self.watching.get(host_id)
            if dashboards:
                lobby = self.lobby(host_id)
                for peer in dashboards:
                    peer.send(lobby)
        for room in rooms.values():
            lobby = self.room_lobby(room)
            for peer in room.in_call.values():
                if peer.cohost:
                    peer.send(lobby)
