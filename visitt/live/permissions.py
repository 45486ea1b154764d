"""Who may do what in a live room: one table, role × action, asked by every operation itself.

The socket layer only parses and dispatches; each operation of the lobby, the call and presence
begins with :func:`check`, so a new caller cannot forget it. A role is what the actor is *to this
room*: its own clinician, a colleague signed in as co-host, another clinician, or a guest of one
kind or another. Some powers hold only while the actor is in the call (a co-host's host powers,
signalling, chat); the table says where each one holds.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Literal

from visitt.errors import Conflict, Forbidden
from visitt.store.models import RoomState

if TYPE_CHECKING:
    from visitt.live.live_room import LiveRoom, Peer


class Role(enum.StrEnum):
    HOST = "host"  # the clinician who hosts the room
    COHOST = "cohost"  # a colleague invited with their staff account and signed in as it
    STAFF = "staff"  # another clinician's socket: nothing in this room
    PATIENT = "patient"
    COMPANION = "companion"
    INTERPRETER = "interpreter"
    COLLEAGUE = "colleague"  # invited by link, without a staff account: a guest like the others


class Action(enum.StrEnum):
    KNOCK = "knock"
    REJOIN = "rejoin"
    LEAVE = "leave"
    ENTER = "enter"
    ADMIT = "admit"
    DENY = "deny"
    REMOVE = "remove"
    LOCK = "lock"
    UNLOCK = "unlock"
    END = "end"
    CONTINUE_BY_PHONE = "continue_by_phone"
    LATE = "late"
    MEDIA = "media"
    SIGNAL = "signal"
    OFFER_AHEAD = "offer_ahead"  # a waiting guest's written offer, to the host's page before the admission
    CHAT = "chat"
    PAUSE = "pause"
    RESUME = "resume"
    IDENTIFY = "identify"
    REQUEST_ID = "request_id"
    SHARE = "share"
    ASK_UNMUTE = "ask_unmute"
    WITHDRAW = "withdraw"
    FLOWING = "flowing"
    SFU = "sfu"  # publish to, and subscribe from, the media server of a group call


Where = Literal["room", "call"]  # anywhere in the room (waiting, or not yet there), or only while in the call
GUESTS = (Role.PATIENT, Role.COMPANION, Role.INTERPRETER, Role.COLLEAGUE)


def _each(roles: tuple[Role, ...], where: Where) -> dict[Role, Where]:
    return {role: where for role in roles}


HOST_POWER: dict[Role, Where] = {Role.HOST: "room", Role.COHOST: "call"}
EVERYONE_IN_CALL: dict[Role, Where] = {Role.HOST: "call", Role.COHOST: "call", **_each(GUESTS, "call")}
# The table. An action not listed for a role is refused with ``forbidden``; a listed one held only in the
# call is refused with ``not_in_call`` elsewhere. Guests share a window only where the clinic allows it
# (VISITT_PATIENTS_MAY_SHARE, :func:`check`).
TABLE: dict[Action, dict[Role, Where]] = {
    Action.KNOCK: {Role.COHOST: "room", **_each(GUESTS, "room")},
    Action.REJOIN: {Role.COHOST: "room", **_each(GUESTS, "room")},
    Action.LEAVE: {Role.HOST: "call", Role.COHOST: "room", **_each(GUESTS, "room")},
    Action.ENTER: {Role.HOST: "room"},
    Action.ADMIT: HOST_POWER,
    Action.DENY: HOST_POWER,
    Action.REMOVE: HOST_POWER,
    Action.LOCK: HOST_POWER,
    Action.UNLOCK: HOST_POWER,
    Action.END: {Role.HOST: "room"},  # the consultation belongs to the clinician who hosts it
    Action.CONTINUE_BY_PHONE: {Role.HOST: "call"},  # ends the video: the host's alone, as End
    Action.LATE: {Role.HOST: "room"},
    Action.MEDIA: {Role.HOST: "room", Role.COHOST: "room", **_each(GUESTS, "room")},
    Action.SIGNAL: EVERYONE_IN_CALL,
    Action.OFFER_AHEAD: _each(GUESTS, "room"),  # only while waiting: Lobby.offer_ahead
    Action.CHAT: EVERYONE_IN_CALL,
    Action.PAUSE: EVERYONE_IN_CALL,
    Action.RESUME: {Role.HOST: "call", Role.COHOST: "call"},
    Action.IDENTIFY: {Role.HOST: "call", Role.COHOST: "call"},
    Action.REQUEST_ID: _each(GUESTS, "call"),
    Action.SHARE: EVERYONE_IN_CALL,
    Action.ASK_UNMUTE: {Role.HOST: "call", Role.COHOST: "call"},
    Action.WITHDRAW: {Role.PATIENT: "room"},  # only the patient withdraws their own consent
    Action.FLOWING: {Role.HOST: "call", Role.COHOST: "call"},
    Action.SFU: EVERYONE_IN_CALL,
}
# What an ended room still allows: saying goodbye and telling the others what one shows.
AFTER_THE_END = frozenset({Action.LEAVE, Action.MEDIA})


def role_of(room: LiveRoom | None, peer: Peer) -> Role:
    """What ``peer`` is to ``room`` (to the clinician's own rooms when ``room`` is None)."""
    if peer.role == "host":
        return Role.HOST if room is None or peer.staff_id == room.host_id else Role.STAFF
    if peer.cohost:
        return Role.COHOST
    return Role(peer.role) if peer.role in Role.__members__.values() else Role.PATIENT


def check(room: LiveRoom | None, peer: Peer, action: Action, *, guests_may_share: bool = False) -> Role:
    """Refuse ``action`` unless the table gives it to ``peer``'s role, here and now; returns the role."""
    role = role_of(room, peer)
    where = TABLE[action].get(role)
    if action is Action.SHARE and role in GUESTS and not guests_may_share:
        raise Forbidden("only the clinician can share a window", code="share_not_allowed")
    if where is None:
        raise Forbidden(f"{role.value} may not {action.value} here", code="forbidden")
    if room is not None:
        if room.state is RoomState.ended and action not in AFTER_THE_END:
            raise Conflict("the consultation has ended", code="room_ended")
        if where == "call" and room.in_call.get(peer.id) is not peer:
            raise Forbidden(f"only people in the call can {action.value}", code="not_in_call")
    return role
