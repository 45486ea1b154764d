"""One live room on this node: who waits, who is in the call, and how to reach them.

The durable state (the room's and each invitation's) lives in the database (:mod:`visitt.rooms`); a
:class:`LiveRoom` is what this node knows of the people connected to it right now. The lobby, the
call and presence (:mod:`visitt.live.lobby`, :mod:`visitt.live.call`, :mod:`visitt.live.presence`) change it, each
under the room's lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Protocol

from visitt.live import protocol
from visitt.store.models import RoomState


class Peer(Protocol):
    """A connected participant, as the live room sees them (``connections.PeerLink`` implements this)."""

    id: str
    role: str  # "host" for a clinician's socket; a guest's kind ("patient", "interpreter", ...)
    name: str
    audio: bool
    video: bool
    identified: str | None
    sharing: bool  # sending a window in place of their camera
    e2ee: bool | None  # a group call: their page encrypts what it sends to Janus (None: sends nothing yet)
    staff_id: int | None  # a clinician's or a co-host's staff account: named in the audit trail
    cohost: bool  # a colleague signed in with their staff account: host powers while in the call, but End
    participant_id: int | None  # a guest's invitation (its database row); None for a clinician
    place: str | None  # a guest's place in the room: the invitation's public id, which a second device waits beside

    def send(self, text: str) -> None: ...

    def info(self) -> protocol.PeerInfo: ...


@dataclass
class Waiter:
    peer: Peer
    participant_id: int
    since: dt.datetime
    # A second device: the id of the place another page holds on the same invitation. Its knock
    # changes nothing durable; admitting it hands that place over (:meth:`visitt.live.lobby.Lobby.admit`).
    second_of: str | None = None
    # Moved by the clinician's running-late notice (:meth:`visitt.live.lobby.Lobby.late`): when this guest
    # is sent home instead of ``since`` + the wait limit, and the notice itself, sent again on a rejoin.
    until: dt.datetime | None = None
    notice: str | None = None
    # Whether this page has handed over its offer ahead (:meth:`visitt.live.lobby.Lobby.offer_ahead`): once only.
    offered: bool = False


def new_place_key() -> tuple[str, str]:
    """A place key and the SHA-256 the server keeps of it: the secret only the page whose knock holds
    the place gets, with which a reload or a second tab of the same browser takes it back."""
    key = secrets.token_urlsafe(24)
    return key, hashlib.sha256(key.encode()).hexdigest()


def place_key_matches(key: str | None, key_hash: str | None) -> bool:
    if key is None or key_hash is None:
        return False
    return hmac.compare_digest(hashlib.sha256(key.encode()).hexdigest(), key_hash)


def has_host_powers(peer: Peer) -> bool:
    """The room's clinician or a co-host: admits, denies, removes, locks, resumes, checks identities."""
    return peer.role == "host" or peer.cohost


def actor_name(room: LiveRoom, peer: Peer) -> str:
    """The audit trail's name for someone in the room: a staff account if they have one."""
    if peer.staff_id is not None:
        return f"staff:{peer.staff_id}"
    return f"staff:{room.host_id}" if peer.role == "host" else f"participant:{peer.id}"


@dataclass
class LiveRoom:
    db_id: int
    public_id: str
    host_id: int
    state: RoomState
    starts_at: dt.datetime | None
    in_call: dict[str, Peer] = field(default_factory=dict)
    waiting: dict[str, Waiter] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # connections holding this room; it is forgotten when none do
    pause: protocol.PauseInfo | None = None  # set while the consultation is paused
    # People in the call whose socket dropped: they keep their place until the timer runs out (presence's).
    away: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    # Each guest place's key, hashed, as issued on this node (the database has it too, for a restart).
    keys: dict[str, str] = field(default_factory=dict)
    # What the call's outcome is suggested from (visitt.outcomes): media seen flowing both ways (stored
    # too), when a guest's socket in the call last dropped (the loop's clock), and whether a guest's
    # reconnection gave up (their grace period ran out).
    media_flowed: bool = False
    dropped_at: float | None = None
    gave_up_reconnecting: bool = False
    group: bool = False  # a group consultation (visitt.groups): more people, media through Janus
    # a staff meeting (visitt.meetings): no patient; colleagues invited by account come in without knocking
    meeting: bool = False
    sfu: bool = False  # a consultation grown past the mesh (visitt.live.sfu.Sfu.move): media through Janus

    @property
    def locked(self) -> bool:
        return self.state is RoomState.locked

    def broadcast(self, text: str, *, skip: str | None = None) -> None:
        for peer_id, peer in list(self.in_call.items()):
            if peer_id != skip:
                peer.send(text)

    def tell_hosts(self, text: str) -> None:
        """Tell the clinician and the co-hosts in the call."""
        for peer in list(self.in_call.values()):
            if has_host_powers(peer):
                peer.send(text)

    def host_present(self) -> bool:
        return any(has_host_powers(peer) for peer in self.in_call.values())

    def summary(self) -> str:
        return protocol.encode(protocol.RoomInfo(id=self.public_id, locked=self.locked, state=self.state.value))

    def waiting_info(self, waiter: Waiter) -> protocol.WaitingInfo:
        # A room with no start is a portal visit (``portal.py``): the visitor is unscheduled.
        return protocol.WaitingInfo(room=self.public_id, id=waiter.peer.id, name=waiter.peer.name,
                                    kind=waiter.peer.role, since=waiter.since.isoformat(),
                                    starts_at=self.starts_at.isoformat() if self.starts_at else None,
                                    unscheduled=self.starts_at is None, second_device=waiter.second_of is not None)
