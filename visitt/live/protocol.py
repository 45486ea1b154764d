"""The signaling protocol's message types, version 1.

Written once in prose (``docs/protocol.md``), once here, once as JSDoc in
``static/js/protocol.js``; change all three together. JSON becomes typed objects only at the edge
(:func:`parse` and :func:`dump`). Unknown fields are dropped, so a client cannot smuggle a ``from``
or an identity into a message: who sent it is always the connection's own identity.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from visitt import text as human
from visitt.errors import ProtocolError

VERSION = 1
ROOM_ID = Annotated[str, Field(min_length=1, max_length=64)]
PEER_ID = Annotated[str, Field(min_length=1, max_length=64)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- client to server -------------------------------------------------------------------------


class Hello(_Message):
    type: Literal["hello"]
    version: int


class Ping(_Message):
    type: Literal["ping"]


class Pong(_Message):
    type: Literal["pong"]


class Knock(_Message):
    type: Literal["knock"]
    name: Annotated[str, Field(max_length=200), human.LINE]
    # The language of the page, whose consent text the guest saw: knocking is consenting (visitt.consent)
    language: Annotated[str, Field(max_length=8, pattern=r"^[a-z]{2,3}$")] | None = None


class Withdraw(_Message):
    """The patient does not want video: video ends for this appointment, and the clinic contacts them
    another way (``visitt.consent``). Before or during the call."""

    type: Literal["withdraw"]


class Flowing(_Message):
    """The host's page saw sound or picture flow both ways in the call of ``room``: once per call."""

    type: Literal["flowing"]
    room: ROOM_ID


class Enter(_Message):
    type: Literal["enter"]
    room: ROOM_ID
    resume: bool = False  # the page still has this room's call (its socket dropped, or the node restarted)


class Admit(_Message):
    type: Literal["admit"]
    room: ROOM_ID
    participant: PEER_ID


class Deny(_Message):
    type: Literal["deny"]
    room: ROOM_ID
    participant: PEER_ID


class Remove(_Message):
    """The clinician takes someone out of the call; their link then leads to the waiting room only."""

    type: Literal["remove"]
    room: ROOM_ID
    participant: PEER_ID


class Lock(_Message):
    type: Literal["lock"]
    room: ROOM_ID


class Unlock(_Message):
    type: Literal["unlock"]
    room: ROOM_ID


class End(_Message):
    type: Literal["end"]
    room: ROOM_ID


class Leave(_Message):
    type: Literal["leave"]


class ContinueByPhone(_Message):
    """The clinician who hosts the room ends the video for everyone and will phone the patient instead."""

    type: Literal["continue_by_phone"]
    room: ROOM_ID


PLACE_KEY = Annotated[str, Field(min_length=16, max_length=64)]


class Rejoin(_Message):
    """A guest's page on a new socket (it dropped, or the page was reloaded or opened in a second tab of
    the same browser): take my place in the waiting room or the call again. ``key`` is the place key the
    server gave the page whose knock holds the place (``waiting``, ``admitted``); without the right one
    nothing is taken, and the page knocks instead."""

    type: Literal["rejoin"]
    key: PLACE_KEY | None = None


class Media(_Message):
    type: Literal["media"]
    audio: bool
    video: bool


PAUSE_REASON = Literal["someone_entered", "other"]
ID_METHOD = Literal["photo_id", "known", "other"]


class Pause(_Message):
    """Anyone in the call: stop everyone's sound and picture now (someone came into the room)."""

    type: Literal["pause"]
    reason: PAUSE_REASON | None = None


class Resume(_Message):
    type: Literal["resume"]


class Identify(_Message):
    """The clinician records how a participant's identity was established."""

    type: Literal["identify"]
    participant: PEER_ID
    method: ID_METHOD
    note: Annotated[str, Field(max_length=200), human.LINES] = ""


LATE_MAX_MINUTES = 120  # a clinician later than two hours cancels instead: nobody should wait longer on a page


class Late(_Message):
    """The clinician tells everyone waiting for them: running about this many minutes late (0: on time).
    At most :data:`LATE_MAX_MINUTES`: each waiting guest's wait limit moves by as much."""

    type: Literal["late"]
    minutes: Annotated[int, Field(ge=0, le=LATE_MAX_MINUTES)]


class Share(_Message):
    """Someone starts (``on``) or stops sending one window in place of their camera."""

    type: Literal["share"]
    on: bool


class AskUnmute(_Message):
    """The clinician asks a participant whose microphone is off to turn it on; it never turns it on by itself."""

    type: Literal["ask_unmute"]
    to: PEER_ID


class RequestId(_Message):
    """The patient asks the clinician to show their ID."""

    type: Literal["request_id"]


class Description(_Message):
    type: Literal["offer", "answer", "rollback", "pranswer"]
    sdp: Annotated[str, Field(max_length=32 * 1024)] = ""


class Candidate(_Message):
    candidate: Annotated[str, Field(max_length=1024)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None
    usernameFragment: Annotated[str, Field(max_length=256)] | None = None


class Signal(_Message):
    type: Literal["signal"]
    to: PEER_ID
    description: Description | None = None
    candidate: Candidate | None = None

    @model_validator(mode="after")
    def _carries_something(self) -> "Signal":
        if self.description is None and self.candidate is None:
            raise ValueError("a signal carries a description or a candidate")
        return self


CHAT_MAX = 500
# The quick phrases: sent as codes, shown by each reader's page in its own language (client_text.py).
Phrase = Literal["cant_hear", "cant_see", "turn_on_microphone", "turn_on_camera", "one_moment"]
PHRASES: tuple[str, ...] = get_args(Phrase)


class Chat(_Message):
    """A technical chat message: free text or a quick phrase's code, never both."""

    type: Literal["chat"]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=CHAT_MAX),
                    human.LINES] | None = None
    phrase: Phrase | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "Chat":
        if (self.text is None) == (self.phrase is None):
            raise ValueError("a chat message carries either text or a phrase")
        return self


# Group calls through the media server (Janus; visitt.live.sfu): Visitt relays each admitted participant's
# offers and answers, so the browser never talks to Janus itself.
SDP = Annotated[str, Field(min_length=1, max_length=32 * 1024)]


class SfuPublish(_Message):
    """Send my microphone and camera to the media server: a WebRTC offer, every candidate in it."""

    type: Literal["sfu_publish"]
    sdp: SDP
    # The page encrypts its frames end to end (visitt.live.e2ee); false: it cannot (no encoded transforms)
    e2ee: bool = False


class SfuSubscribe(_Message):
    """Receive one participant's streams from the media server, on a connection of their own (an
    ``sfu_offer`` comes back). ``video: false``: their sound only (a phone's limit on pictures)."""

    type: Literal["sfu_subscribe"]
    participant: PEER_ID
    video: bool = True


class SfuStart(_Message):
    """The answer to the media server's ``sfu_offer`` of ``participant``'s streams, every candidate in it."""

    type: Literal["sfu_start"]
    participant: PEER_ID
    sdp: SDP


class SfuLayer(_Message):
    """Which simulcast layer of ``participant``'s picture to receive: ``h`` (full resolution), ``m`` (half),
    ``l`` (a quarter). A thumbnail, or a phone on a poor network, takes a lower one."""

    type: Literal["sfu_layer"]
    participant: PEER_ID
    layer: Literal["h", "m", "l"]


ClientMessage = Annotated[
    Union[Hello, Ping, Pong, Knock, Rejoin, Enter, Admit, Deny, Remove, Lock, Unlock, End, ContinueByPhone, Leave,
          Media, Pause,
          Resume, Identify,
          Late, RequestId, Share, AskUnmute, Signal, Chat, Withdraw, Flowing, SfuPublish, SfuSubscribe, SfuStart,
          SfuLayer],
    Field(discriminator="type"),
]
_client: TypeAdapter[Any] = TypeAdapter(ClientMessage)
HOST_ONLY = (Enter, Admit, Deny, Remove, Lock, Unlock, End, ContinueByPhone, Resume, Identify, Late, AskUnmute,
             Flowing)


def parse(text: str) -> Any:
    """One client message from JSON, or :class:`ProtocolError` saying what is wrong."""
    try:
        return _client.validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        # refused characters in a name or a chat message: a code of their own, which the pages explain
        code = human.CODE if first["type"] == human.CODE else "malformed"
        raise ProtocolError(f"malformed message: {where}: {first['msg']}", code=code) from None


# --- server to client -------------------------------------------------------------------------


# Who someone is in the call: the clinician who hosts it, or an invitee's kind (``models.Participant.kind``).
Role = Literal["host", "patient", "companion", "interpreter", "colleague"]
ROLES: tuple[str, ...] = get_args(Role)


class PeerInfo(_Message):
    """What an admitted participant may know about another one in the call."""

    id: str
    name: str
    role: Role
    # A colleague signed in with their staff account: the host's powers but End. Sent only when true.
    cohost: bool = Field(False, exclude_if=lambda cohost: not cohost)
    audio: bool = True
    video: bool = True
    identified: ID_METHOD | None = None  # how the clinician established who this is; None: not yet
    sharing: bool = False  # sending a window in place of their camera
    # A group call's end-to-end encryption (visitt.live.e2ee): whether their page encrypts what it sends
    # to the media server. Sent only once they send to it.
    e2ee: bool | None = Field(None, exclude_if=lambda e2ee: e2ee is None)


class GaveUpInfo(_Message):
    """Someone the waiting room sent home after the longest wait, as the clinician sees it."""

    room: str
    id: str
    name: str
    at: str


class PauseInfo(_Message):
    """Why the consultation is paused: who pressed Pause (id and name) and the reason they chose."""

    by: str
    name: str
    reason: PAUSE_REASON | None = None


class WaitingInfo(_Message):
    """A knock, as the host sees it in the lobby. ``unscheduled``: a visitor who came by the portal,
    without an appointment."""

    room: str
    id: str
    name: str
    kind: str
    since: str
    starts_at: str | None = None
    unscheduled: bool = False
    # Another device knocking on an invitation whose place a page already holds: admitting it hands the
    # place over. Sent only when true.
    second_device: bool = Field(False, exclude_if=lambda second: not second)


class _ServerMessage(BaseModel):
    """A message to the browser. ``type`` is fixed per class; :func:`encode` makes the JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _absent_unless_true(value: bool) -> bool:
    return not value


def _absent_if_none(value: object) -> bool:
    return value is None


class Welcome(_ServerMessage):
    type: Literal["welcome"] = "welcome"
    version: int
    id: str
    role: str
    name: str
    state: Literal["ready", "denied", "ended"]


class Waiting(_ServerMessage):
    """The knock was accepted. ``key``: this page's place key; ``second_device``: another page holds the place."""

    type: Literal["waiting"] = "waiting"
    key: str | None = Field(default=None, exclude_if=_absent_if_none)
    second_device: bool = Field(default=False, exclude_if=_absent_unless_true)


class Lobby(_ServerMessage):
    type: Literal["lobby"] = "lobby"
    waiting: list[WaitingInfo]
    gave_up: list[GaveUpInfo]


class LateNotice(_ServerMessage):
    """To a guest waiting when their clinician said they are running late: ``expected``, the instant the
    clinician now expects to let them in, and ``until``, when their wait limit now ends (ISO 8601, UTC;
    both ``None`` with ``minutes`` 0: on time again)."""

    type: Literal["late"] = "late"
    minutes: int
    expected: str | None = None
    until: str | None = None


class WaitExpired(_ServerMessage):
    type: Literal["wait_expired"] = "wait_expired"
    minutes: int


class KnockNotice(_ServerMessage):
    type: Literal["knock"] = "knock"
    room: str
    participant: WaitingInfo


class Admitted(_ServerMessage):
    type: Literal["admitted"] = "admitted"
    room: str
    locked: bool
    participants: list[PeerInfo]
    ice: dict[str, Any]
    paused: PauseInfo | None
    resumed: bool = False
    key: str | None = Field(default=None, exclude_if=_absent_if_none)  # a new place key for a guest's page
    # how the call's media goes: "sfu" through the media server (sfu_*, a group call), else the mesh
    # ("mesh", not sent). max_video: the pictures a page shows at most (sound from all); sent with "sfu".
    media: Literal["mesh", "sfu"] = Field("mesh", exclude_if=lambda media: media == "mesh")
    max_video: int | None = Field(default=None, exclude_if=_absent_if_none)
    # with "sfu": who in the call sends to Janus already; the page subscribes to them at once, beside publishing
    feeds: list[str] | None = Field(default=None, exclude_if=_absent_if_none)


class Denied(_ServerMessage):
    type: Literal["denied"] = "denied"


class Removed(_ServerMessage):
    type: Literal["removed"] = "removed"


class Joined(_ServerMessage):
    type: Literal["joined"] = "joined"
    participant: PeerInfo


class Updated(_ServerMessage):
    type: Literal["updated"] = "updated"
    participant: PeerInfo


class Back(_ServerMessage):
    type: Literal["back"] = "back"
    participant: PeerInfo


class Left(_ServerMessage):
    type: Literal["left"] = "left"
    participant: str


class Away(_ServerMessage):
    type: Literal["away"] = "away"
    participant: str


class PlaceTaken(_ServerMessage):
    """To the hosts: someone's place moved to another window of their browser, or to a second device they admitted."""

    type: Literal["place_taken"] = "place_taken"
    participant: str
    name: str
    second_device: bool


class RoomInfo(_ServerMessage):
    type: Literal["room"] = "room"
    id: str
    locked: bool
    state: Literal["open", "locked", "ended"]


EndReason = Literal["host_ended", "cancelled", "no_show", "withdrawn", "by_phone"]


class Ended(_ServerMessage):
    type: Literal["ended"] = "ended"
    reason: EndReason


class PhoneCall(_ServerMessage):
    """Sent just before ``ended`` with reason ``by_phone``: the clinician will now phone the patient on
    ``phone``, shown partly masked (``+47 ••• •• 678``). To the patient and the hosts; only the host who
    pressed Continue by phone gets ``tel`` (the full number as a ``tel:`` link). Nothing for a room's
    patient without a number: then only ``ended``."""

    type: Literal["phone_call"] = "phone_call"
    phone: str
    tel: str | None = Field(default=None, exclude_if=_absent_if_none)
class Withdrawn(_ServerMessage):
    """To the clinician (dashboard and call) and co-hosts: the patient withdrew from video, from their page."""

    type: Literal["withdrawn"] = "withdrawn"
    room: str
    participant: str
    name: str


class Paused(_ServerMessage):
    type: Literal["paused"] = "paused"
    by: str
    name: str
    reason: PAUSE_REASON | None = None


class Resumed(_ServerMessage):
    type: Literal["resumed"] = "resumed"
    by: str


class IdRequested(_ServerMessage):
    type: Literal["id_requested"] = "id_requested"
    participant: str


class UnmuteRequested(_ServerMessage):
    type: Literal["unmute_requested"] = "unmute_requested"
    from_: str = Field(serialization_alias="from")


class SignalIn(_ServerMessage):
    type: Literal["signal"] = "signal"
    from_: str = Field(serialization_alias="from")
    description: Description | None = Field(default=None, exclude_if=_absent_if_none)
    candidate: Candidate | None = Field(default=None, exclude_if=_absent_if_none)


class ChatIn(_ServerMessage):
    type: Literal["chat"] = "chat"
    from_: str = Field(serialization_alias="from")
    name: str
    text: str | None = Field(default=None, exclude_if=_absent_if_none)
    phrase: Phrase | None = Field(default=None, exclude_if=_absent_if_none)
    at: str


class SfuPublished(_ServerMessage):
    """The media server's answer to ``sfu_publish``; ``feeds``: who else sends to it already."""

    type: Literal["sfu_published"] = "sfu_published"
    sdp: str
    feeds: list[str]


class SfuOffer(_ServerMessage):
    """The media server's offer of ``participant``'s streams; answer with ``sfu_start``."""

    type: Literal["sfu_offer"] = "sfu_offer"
    participant: str
    sdp: str


class SfuFeed(_ServerMessage):
    """Someone in the call now sends to the media server: subscribe to see and hear them."""

    type: Literal["sfu_feed"] = "sfu_feed"
    participant: str


class FrameKey(_Message):
    """One key of a group call's frame encryption: its id (a byte in each frame) and the key (base64url)."""

    id: int
    key: str = Field(repr=False)  # never in a log line, not even by accident


class SfuKeys(_ServerMessage):
    """The keys of a group call's end-to-end encryption, to each admitted participant sending to the
    media server: decrypt with any of ``keys``, encrypt with ``send`` (null: send in clear, as someone in
    the call cannot encrypt). Sent when they publish, when someone leaves (a new key) and when it changes."""

    type: Literal["sfu_keys"] = "sfu_keys"
    keys: list[FrameKey]
    send: int | None


class SfuMove(_ServerMessage):
    """The call has grown past the mesh: from now on its media goes through the media server. Publish there
    (``sfu_publish``) and close the mesh's connections once the media server's pictures come."""

    type: Literal["sfu_move"] = "sfu_move"
    max_video: int  # the pictures a page shows at most from now on (as ``admitted``'s); sound from all


class ErrorMessage(_ServerMessage):
    type: Literal["error"] = "error"
    code: str
    message: str
    fields: dict[str, str] | None = Field(default=None, exclude_if=_absent_if_none)


class Bye(_ServerMessage):
    type: Literal["bye"] = "bye"


class PingOut(_ServerMessage):
    type: Literal["ping"] = "ping"


class PongOut(_ServerMessage):
    type: Literal["pong"] = "pong"


ServerMessage = Union[Welcome, Waiting, Lobby, LateNotice, WaitExpired, KnockNotice, Admitted, Denied, Removed,
                      Joined, Updated, Back, Left, Away, PlaceTaken, RoomInfo, Ended, PhoneCall, Paused, Resumed,
                      IdRequested, UnmuteRequested, SignalIn, ChatIn, SfuPublished, SfuOffer, SfuFeed, SfuKeys, SfuMove,
                      ErrorMessage, Bye,
                      PingOut, PongOut, Withdrawn]
SERVER_MESSAGES: tuple[type[_ServerMessage], ...] = get_args(ServerMessage)


def encode(message: _ServerMessage) -> str:
    """One server message as JSON text: the wire's only way out."""
    return message.model_dump_json(by_alias=True)
