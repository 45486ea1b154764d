"""What Visitt keeps of each group call on Janus (:mod:`visitt.live.sfu`): the call's room there and, for each
participant, their part of it - the page whose connections they are, what they publish, what they receive and
ask for, and the call's frame keys. Plain state; the operations on it are the :class:`~visitt.live.sfu.Sfu`'s."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from visitt.live.e2ee import KeyRing
from visitt.live.janus import Handle
from visitt.live.live_room import LiveRoom


@dataclass
class Member:
    """One participant's part of a group call on Janus."""

    token: str
    publisher: Handle | None = None
    # The page whose connections to Janus these are (its ``page`` id): the same page back on a new socket keeps them;
    # another one (reloaded, a second tab) publishing or subscribing drops them.
    page: str = ""
    feed: int = 0  # Janus's id for what they publish; 0 until they publish
    private_id: int = 0
    audio_mids: list[str] = field(default_factory=list)  # which of their streams are sound
    up: bool = False  # their connection to Janus carries media: others may subscribe
    configured: bool = False  # their publisher handle carries their offer (joined before it: to subscribe early)
    e2ee: bool | None = None  # their page encrypts what it sends (None: sends nothing yet)
    # What they receive: one subscriber handle (one connection) per participant they see or hear.
    # One each, not all streams on one connection: aiortc cannot yet tell apart two video streams
    # with one payload type on one connection, and a connection of its own is also what lets a page
    # drop one picture without renegotiating the rest.
    subscriptions: dict[str, Handle] = field(default_factory=dict)
    videos: dict[str, str] = field(default_factory=dict)  # whose picture they receive: its mid on that connection
    layered: set[str] = field(default_factory=set)  # whose picture comes in simulcast layers (Janus says when it offers)
    # The page's number (``sub``) of its latest subscription to each participant: an ``sfu_start`` or
    # ``sfu_layer`` of one it has replaced since is for a connection that no longer exists.
    subs: dict[str, int] = field(default_factory=dict)
    # The subscription (``sub``) to each participant whose offer the page has answered (``sfu_start``): only those
    # can be restarted (Janus holds a new offer back until the last one is answered).
    answered: dict[str, int] = field(default_factory=dict)
    layers: dict[str, str] = field(default_factory=dict)  # the simulcast layer of each picture asked for last
    # Whom they asked to receive before that participant's media reached Janus (with their picture or not, and
    # the subscription's number): offered once it does (Sfu._announce_when_up).
    wanted: dict[str, tuple[bool, int]] = field(default_factory=dict)


@dataclass
class SfuRoom:
    number: int
    live: LiveRoom
    members: dict[str, Member] = field(default_factory=dict)
    keys: KeyRing = field(default_factory=KeyRing)  # the frame encryption's (visitt.live.e2ee), in memory only

    @property
    def encrypted(self) -> bool:
        """Everyone sending to Janus encrypts: one who cannot could not decrypt the others either."""
        return all(member.e2ee is not False for member in self.members.values())


def audio_mids(sdp: str) -> list[str]:
    """The ``mid`` of each sound section of an SDP (Janus names a publisher's streams by the offer's mids)."""
    mids: list[str] = []
    kind = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
        elif line.startswith("a=mid:") and kind == "audio":
            mids.append(line[len("a=mid:"):].strip())
    return mids


class RoomLocks(dict[str, asyncio.Lock]):
    """One lock per room for its requests to Janus: not the live room's own, so a slow or hanging Janus
    never holds up admitting, removing or ending in that room."""

    def __missing__(self, key: str) -> asyncio.Lock:
        lock = self[key] = asyncio.Lock()
        return lock
