"""The signaling messages of a call through the media server (Janus; :mod:`visitt.live.sfu`), both ways:
Visitt relays each admitted participant's offers and answers, so the browser never talks to Janus itself;
the frame keys of its end-to-end encryption (:mod:`visitt.live.e2ee`); and the move of a mesh call that grew
past the mesh (``sfu_move``). Part of the protocol of :mod:`visitt.live.protocol`, whose unions of each
direction name these; written in prose in ``docs/protocol.md`` and as JSDoc in ``static/js/protocol.js``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from visitt.live.protocol_base import PEER_ID, ClientModel, ServerModel

# --- client to server -------------------------------------------------------------------------

SDP = Annotated[str, Field(min_length=1, max_length=32 * 1024)]
# The page's number for one of its subscriptions, a new one each time it subscribes: what the media server offers
# for it, and what the page answers, carry it, so an offer for a connection the page has replaced is told apart.
SUB = Annotated[int, Field(ge=0, le=2**53 - 1)]
# The page's own id for its call through the media server, made once per page (``sfu.js``): the same on a new socket
# after a drop, a new one after a reload. Visitt keeps the connections to Janus of the page that made them, and drops
# them when another page of the same participant (a reload, a second tab) publishes or subscribes.
PAGE = Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class SfuPublish(ClientModel):
    """Send my microphone and camera to the media server: a WebRTC offer, every candidate in it."""

    type: Literal["sfu_publish"]
    page: PAGE
    sdp: SDP
    # The page encrypts its frames end to end (visitt.live.e2ee); false: it cannot (no encoded transforms)
    e2ee: bool = False


class SfuSubscribe(ClientModel):
    """Receive one participant's streams from the media server, on a connection of their own (an
    ``sfu_offer`` comes back). ``video: false``: their sound only (a phone's limit on pictures)."""

    type: Literal["sfu_subscribe"]
    page: PAGE
    participant: PEER_ID
    sub: SUB
    video: bool = True


class SfuStart(ClientModel):
    """The answer to the media server's ``sfu_offer`` of ``participant``'s streams, every candidate in it."""

    type: Literal["sfu_start"]
    participant: PEER_ID
    sub: SUB
    sdp: SDP


class SfuRestart(ClientModel):
    """The path of my connection sending to the media server broke: the same connection's offer with new ICE
    credentials (an ICE restart), every candidate in it. Answered by ``sfu_restarted``."""

    type: Literal["sfu_restart"]
    page: PAGE
    sdp: SDP


class SfuReoffer(ClientModel):
    """The path of my connection receiving ``participant`` (subscription ``sub``) broke: offer it again with new ICE
    credentials (an ICE restart on the same connection). Answered by ``sfu_offer`` with the same ``sub``."""

    type: Literal["sfu_reoffer"]
    page: PAGE
    participant: PEER_ID
    sub: SUB


class SfuLayer(ClientModel):
    """Which simulcast layer of ``participant``'s picture to receive: ``h`` (full resolution), ``m`` (half),
    ``l`` (a quarter). A thumbnail, or a phone on a poor network, takes a lower one."""

    type: Literal["sfu_layer"]
    participant: PEER_ID
    sub: SUB
    layer: Literal["h", "m", "l"]


# --- server to client -------------------------------------------------------------------------


class SfuPublished(ServerModel):
    """The media server's answer to ``sfu_publish``; ``feeds``: who else sends to it already."""

    type: Literal["sfu_published"] = "sfu_published"
    sdp: str
    feeds: list[str]


class SfuRestarted(ServerModel):
    """The media server's answer to ``sfu_restart``: set it on the connection restarted (a page that has published
    afresh since ignores it)."""

    type: Literal["sfu_restarted"] = "sfu_restarted"
    sdp: str


class SfuOffer(ServerModel):
    """The media server's offer of ``participant``'s streams for the page's subscription ``sub`` (again, with new ICE
    credentials, after ``sfu_reoffer``); answer with ``sfu_start`` (a page that has subscribed to them again since
    waits for that offer instead)."""

    type: Literal["sfu_offer"] = "sfu_offer"
    participant: str
    sub: int
    sdp: str


class SfuFeed(ServerModel):
    """Someone in the call now sends to the media server: subscribe to see and hear them."""

    type: Literal["sfu_feed"] = "sfu_feed"
    participant: str


class FrameKey(ClientModel):
    """One key of a group call's frame encryption: its id (a byte in each frame) and the key (base64url)."""

    id: int
    key: str = Field(repr=False)  # never in a log line, not even by accident


class SfuKeys(ServerModel):
    """The keys of a group call's end-to-end encryption, to each admitted participant sending to the
    media server: decrypt with any of ``keys``, encrypt with ``send`` (null: send in clear, as someone in
    the call cannot encrypt). Sent when they publish, when someone leaves (a new key) and when it changes."""

    type: Literal["sfu_keys"] = "sfu_keys"
    keys: list[FrameKey]
    send: int | None


class SfuMove(ServerModel):
    """The call has grown past the mesh: from now on its media goes through the media server. Publish there
    (``sfu_publish``) and close the mesh's connections once the media server's pictures come."""

    type: Literal["sfu_move"] = "sfu_move"
    max_video: int  # the pictures a page shows at most from now on (as ``admitted``'s); sound from all


class SfuServer(ServerModel):
    """Whether the media server carries the call: ``lost`` (Janus restarted or stopped answering: pictures and
    sound through it have stopped, and Visitt is reconnecting) or ``back`` (a new session and room: publish
    again with ``sfu_publish`` and subscribe afresh; the call's keys are unchanged)."""

    type: Literal["sfu_server"] = "sfu_server"
    state: Literal["lost", "back"]
