"""The signaling protocol's message types, version 1.

Written once in prose (``docs/protocol.md``), once here, once as JSDoc in
``static/js/protocol.js``; change all three together. The messages of a call through the media server
(``sfu_*``, its frame keys, ``sfu_move``) are in :mod:`visitt.live.protocol_sfu`; the unions of both
directions here name them. JSON becomes typed objects only at the edge (:func:`parse` and :func:`encode`). Unknown fields are dropped, so a client cannot smuggle a ``from``
or an identity into a message: who sent it is always the connection's own identity.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from visitt import text as human
from visitt.errors import ProtocolError
from visitt.live.protocol_base import PEER_ID, ROOM_ID, ClientModel, ServerModel
from visitt.live.protocol_sfu import (
    SfuFeed,
    SfuKeys,
    SfuLayer,
    SfuMove,
    SfuOffer,
    SfuPublish,
    SfuPublished,
    SfuReoffer,
    SfuRestart,
    SfuRestarted,
    SfuServer,
    SfuStart,
    SfuSubscribe,
)

VERSION = 1


# --- client to server -------------------------------------------------------------------------


class Hello(ClientModel):
    type: Literal["hello"]
    version: int


class Ping(ClientModel):
    type: Literal["ping"]


class Pong(ClientModel):
    type: Literal["pong"]


class Knock(ClientModel):
    type: Literal["knock"]
    name: Annotated[str, Field(max_length=200), human.LINE]
    # The language of the page, whose consent text the guest saw: knocking is consenting (visitt.consent)
    language: Annotated[str, Field(max_length=8, pattern=r"^[a-z]{2,3}$")] | None = None


class Withdraw(ClientModel):
    """The patient does not want video: video ends for this appointment, and the clinic contacts them
    another way (``visitt.consent``). Before or during the call."""

    type: Literal["withdraw"]


class Flowing(ClientModel):
    """The host's page saw sound or picture flow both ways in the call of ``room``: once per call."""

    type: Literal["flowing"]
    room: ROOM_ID


class Enter(ClientModel):
    type: Literal["enter"]
    room: ROOM_ID
    resume: bool = False  # the page still has this room's call (its socket dropped, or the node restarted)


class Admit(ClientModel):
    type: Literal["admit"]
    room: ROOM_ID
    participant: PEER_ID


class Deny(ClientModel):
    type: Literal["deny"]
    room: ROOM_ID
    participant: PEER_ID


class Remove(ClientModel):
    """The clinician takes someone out of the call; their link then leads to the waiting room only."""

    type: Literal["remove"]
    room: ROOM_ID
    participant: PEER_ID


class Lock(ClientModel):
    type: Literal["lock"]
    room: ROOM_ID


class Unlock(ClientModel):
    type: Literal["unlock"]
    room: ROOM_ID


class End(ClientModel):
    type: Literal["end"]
    room: ROOM_ID


class Leave(ClientModel):
    type: Literal["leave"]


class ContinueByPhone(ClientModel):
    """The clinician who hosts the room ends the video for everyone and will phone the patient instead."""

    type: Literal["continue_by_phone"]
    room: ROOM_ID


PLACE_KEY = Annotated[str, Field(min_length=16, max_length=64)]


class Rejoin(ClientModel):
    """A guest's page on a new socket (it dropped, or the page was reloaded or opened in a second tab of
    the same browser): take my place in the waiting room or the call again. ``key`` is the place key the
    server gave the page whose knock holds the place (``waiting``, ``admitted``); without the right one
    nothing is taken, and the page knocks instead."""

    type: Literal["rejoin"]
    key: PLACE_KEY | None = None


class Media(ClientModel):
    type: Literal["media"]
    audio: bool
    video: bool


PAUSE_REASON = Literal["someone_entered", "other"]
ID_METHOD = Literal["photo_id", "known", "other"]


class Pause(ClientModel):
    """Anyone in the call: stop everyone's sound and picture now (someone came into the room)."""

    type: Literal["pause"]
    reason: PAUSE_REASON | None = None


class Resume(ClientModel):
    type: Literal["resume"]


class Identify(ClientModel):
    """The clinician records how a participant's identity was established."""

    type: Literal["identify"]
    participant: PEER_ID
    method: ID_METHOD
    note: Annotated[str, Field(max_length=200), human.LINES] = ""


LATE_MAX_MINUTES = 120  # a clinician later than two hours cancels instead: nobody should wait longer on a page


class Late(ClientModel):
    """The clinician tells everyone waiting for them: running about this many minutes late (0: on time).
    At most :data:`LATE_MAX_MINUTES`: each waiting guest's wait limit moves by as much."""

    type: Literal["late"]
    minutes: Annotated[int, Field(ge=0, le=LATE_MAX_MINUTES)]


class Share(ClientModel):
    """Someone starts (``on``) or stops sending one window in place of their camera."""

    type: Literal["share"]
    on: bool


class AskUnmute(ClientModel):
    """The clinician asks a participant whose microphone is off to turn it on; it never turns it on by itself."""

    type: Literal["ask_unmute"]
    to: PEER_ID


class RequestId(ClientModel):
    """The patient asks the clinician to show their ID."""

    type: Literal["request_id"]


class Description(ClientModel):
    type: Literal["offer", "answer", "rollback", "pranswer"]
    sdp: Annotated[str, Field(max_length=32 * 1024)] = ""


class Candidate(ClientModel):
    candidate: Annotated[str, Field(max_length=1024)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None
    usernameFragment: Annotated[str, Field(max_length=256)] | None = None


class Signal(ClientModel):
    type: Literal["signal"]
    to: PEER_ID
    description: Description | None = None
    candidate: Candidate | None = None
    # With an answer made ahead (docs/protocol.md, negotiation): the ICE username fragment of the offer it answers.
    answers: Annotated[str, Field(min_length=4, max_length=256, pattern=r"^[A-Za-z0-9+/]+$")] | None = None

    @model_validator(mode="after")
    def _carries_something(self) -> "Signal":
        if self.description is None and self.candidate is None:
            raise ValueError("a signal carries a description or a candidate")
        if self.answers is not None and (self.description is None or self.description.type != "answer"):
            raise ValueError("answers goes only with an answer")
        return self


class OfferAhead(ClientModel):
    """A waiting guest's page hands over the offer it has written for the call, so the host's page can answer it
    before the admission (docs/performance.md, join speed). An offer without candidates: it says nothing of the
    guest's network; and the host's page, which holds its answer and its own candidates back until the admission,
    tells the guest nothing of the host's."""

    type: Literal["offer_ahead"]
    sdp: Annotated[str, Field(min_length=1, max_length=32 * 1024)]

    @field_validator("sdp")
    @classmethod
    def _no_candidates(cls, sdp: str) -> str:
        if not sdp.startswith("v=0") or "a=candidate" in sdp or "a=end-of-candidates" in sdp:
            raise ValueError("an offer ahead is an SDP without candidates")
        return sdp


CHAT_MAX = 500
# The quick phrases: sent as codes, shown by each reader's page in its own language (client_text.py).
Phrase = Literal["cant_hear", "cant_see", "turn_on_microphone", "turn_on_camera", "one_moment"]
PHRASES: tuple[str, ...] = get_args(Phrase)


class Chat(ClientModel):
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


ClientMessage = Annotated[
    Union[Hello, Ping, Pong, Knock, Rejoin, Enter, Admit, Deny, Remove, Lock, Unlock, End, ContinueByPhone, Leave,
          Media, Pause,
          Resume, Identify,
          Late, RequestId, Share, AskUnmute, Signal, OfferAhead, Chat, Withdraw, Flowing, SfuPublish, SfuSubscribe,
          SfuStart, SfuLayer, SfuRestart, SfuReoffer],
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


class PeerInfo(ClientModel):
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


class GaveUpInfo(ClientModel):
    """Someone the waiting room sent home after the longest wait, as the clinician sees it."""

    room: str
    id: str
    name: str
    at: str


class PauseInfo(ClientModel):
    """Why the consultation is paused: who pressed Pause (id and name) and the reason they chose."""

    by: str
    name: str
    reason: PAUSE_REASON | None = None


class WaitingInfo(ClientModel):
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


def _absent_unless_true(value: bool) -> bool:
    return not value


def _absent_if_none(value: object) -> bool:
    return value is None


class Welcome(ServerModel):
    type: Literal["welcome"] = "welcome"
    version: int
    id: str
    role: str
    name: str
    state: Literal["ready", "denied", "ended"]


class Waiting(ServerModel):
    """The knock was accepted. ``key``: this page's place key; ``second_device``: another page holds the place."""

    type: Literal["waiting"] = "waiting"
    key: str | None = Field(default=None, exclude_if=_absent_if_none)
    second_device: bool = Field(default=False, exclude_if=_absent_unless_true)


class Lobby(ServerModel):
    type: Literal["lobby"] = "lobby"
    waiting: list[WaitingInfo]
    gave_up: list[GaveUpInfo]


class LateNotice(ServerModel):
    """To a guest waiting when their clinician said they are running late: ``expected``, the instant the
    clinician now expects to let them in, and ``until``, when their wait limit now ends (ISO 8601, UTC;
    both ``None`` with ``minutes`` 0: on time again)."""

    type: Literal["late"] = "late"
    minutes: int
    expected: str | None = None
    until: str | None = None


class WaitExpired(ServerModel):
    type: Literal["wait_expired"] = "wait_expired"
    minutes: int


class KnockNotice(ServerModel):
    type: Literal["knock"] = "knock"
    room: str
    participant: WaitingInfo


class Admitted(ServerModel):
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


class Denied(ServerModel):
    type: Literal["denied"] = "denied"


class Removed(ServerModel):
    type: Literal["removed"] = "removed"


class Joined(ServerModel):
    type: Literal["joined"] = "joined"
    participant: PeerInfo


class Updated(ServerModel):
    type: Literal["updated"] = "updated"
    participant: PeerInfo


class Back(ServerModel):
    type: Literal["back"] = "back"
    participant: PeerInfo


class Left(ServerModel):
    type: Literal["left"] = "left"
    participant: str


class Away(ServerModel):
    type: Literal["away"] = "away"
    participant: str


class PlaceTaken(ServerModel):
    """To the hosts: someone's place moved to another window of their browser, or to a second device they admitted."""

    type: Literal["place_taken"] = "place_taken"
    participant: str
    name: str
    second_device: bool


class RoomInfo(ServerModel):
    type: Literal["room"] = "room"
    id: str
    locked: bool
    state: Literal["open", "locked", "ended"]


EndReason = Literal["host_ended", "cancelled", "no_show", "withdrawn", "by_phone"]


class Ended(ServerModel):
    type: Literal["ended"] = "ended"
    reason: EndReason


class PhoneCall(ServerModel):
    """Sent just before ``ended`` with reason ``by_phone``: the clinician will now phone the patient on
    ``phone``, shown partly masked (``+47 ••• •• 678``). To the patient and the hosts; only the host who
    pressed Continue by phone gets ``tel`` (the full number as a ``tel:`` link). Nothing for a room's
    patient without a number: then only ``ended``."""

    type: Literal["phone_call"] = "phone_call"
    phone: str
    tel: str | None = Field(default=None, exclude_if=_absent_if_none)
class Withdrawn(ServerModel):
    """To the clinician (dashboard and call) and co-hosts: the patient withdrew from video, from their page."""

    type: Literal["withdrawn"] = "withdrawn"
    room: str
    participant: str
    name: str


class Paused(ServerModel):
    type: Literal["paused"] = "paused"
    by: str
    name: str
    reason: PAUSE_REASON | None = None


class Resumed(ServerModel):
    type: Literal["resumed"] = "resumed"
    by: str


class IdRequested(ServerModel):
    type: Literal["id_requested"] = "id_requested"
    participant: str


class UnmuteRequested(ServerModel):
    type: Literal["unmute_requested"] = "unmute_requested"
    from_: str = Field(serialization_alias="from")


class SignalIn(ServerModel):
    type: Literal["signal"] = "signal"
    from_: str = Field(serialization_alias="from")
    description: Description | None = Field(default=None, exclude_if=_absent_if_none)
    candidate: Candidate | None = Field(default=None, exclude_if=_absent_if_none)
    answers: str | None = Field(default=None, exclude_if=_absent_if_none)


class OfferAheadIn(ServerModel):
    """To the host's dashboards (and the co-hosts in the call): the offer a guest waiting in ``room`` has
    written for the call (``offer_ahead``). Their page answers it and gathers its candidates with ``ice``, sending
    nothing; the answer and the candidates go out when the same offer comes as a ``signal`` after the admission."""

    type: Literal["offer_ahead"] = "offer_ahead"
    room: str
    participant: str
    sdp: str
    ice: dict[str, Any]  # the receiving clinician's own ICE configuration, as their ``admitted`` would bring it


class ChatIn(ServerModel):
    type: Literal["chat"] = "chat"
    from_: str = Field(serialization_alias="from")
    name: str
    text: str | None = Field(default=None, exclude_if=_absent_if_none)
    phrase: Phrase | None = Field(default=None, exclude_if=_absent_if_none)
    at: str


class MeetingsChanged(ServerModel):
    """To the dashboards of the colleagues invited to a staff meeting by account: the host moved or cancelled
    it. The page fetches its list of meetings again; the socket never carries a meeting's title or time."""

    type: Literal["meetings_changed"] = "meetings_changed"


class ErrorMessage(ServerModel):
    type: Literal["error"] = "error"
    code: str
    message: str
    fields: dict[str, str] | None = Field(default=None, exclude_if=_absent_if_none)


class Bye(ServerModel):
    type: Literal["bye"] = "bye"


class PingOut(ServerModel):
    type: Literal["ping"] = "ping"


class PongOut(ServerModel):
    type: Literal["pong"] = "pong"


ServerMessage = Union[Welcome, Waiting, Lobby, LateNotice, WaitExpired, KnockNotice, Admitted, Denied, Removed,
                      Joined, Updated, Back, Left, Away, PlaceTaken, RoomInfo, Ended, PhoneCall, Paused, Resumed,
                      IdRequested, UnmuteRequested, SignalIn, OfferAheadIn, ChatIn, SfuPublished, SfuRestarted,
                      SfuOffer, SfuFeed, SfuKeys, SfuMove, SfuServer, MeetingsChanged, ErrorMessage, Bye,
                      PingOut, PongOut, Withdrawn]
SERVER_MESSAGES: tuple[type[ServerModel], ...] = get_args(ServerMessage)


def encode(message: ServerModel) -> str:
    """One server message as JSON text: the wire's only way out."""
    return message.model_dump_json(by_alias=True)
