"""Rooms and the people in them: the state machines and their durable side.

The database holds the durable state (room open/locked/ended, each invitation's participant
state) and the audit trail; :mod:`visitt.live.hub` holds who is connected right now. Every transition
goes through :func:`move_participant` or :func:`move_room`, which check the move, persist it and
write its audit row in one unit of work.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

from sqlalchemy import ARRAY, Integer, String, Table, TextClause, any_, bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from visitt.store import audit
from visitt.live import identity, protocol
from visitt.store.db import Database, Deferred, Rows, int_array, later
from visitt.errors import Conflict, IllegalTransition, NotFound
from visitt.store.models import (
    ActiveCode,
    Appointment,
    AppointmentState,
    Meeting,
    Participant,
    ParticipantState,
    Room,
    RoomState,
    utcnow,
)

P = ParticipantState
PARTICIPANT_MOVES: dict[ParticipantState, frozenset[ParticipantState]] = {
    P.invited: frozenset({P.waiting}),
    P.waiting: frozenset({P.admitted, P.denied, P.invited}),  # invited again: closed the page while waiting
    P.admitted: frozenset({P.left, P.removed}),
    P.denied: frozenset({P.waiting}),
    P.left: frozenset({P.waiting}),
    P.removed: frozenset({P.waiting}),
}
ROOM_MOVES: dict[RoomState, frozenset[RoomState]] = {
    RoomState.open: frozenset({RoomState.locked, RoomState.ended}),
    RoomState.locked: frozenset({RoomState.open, RoomState.ended}),
    RoomState.ended: frozenset(),
}
APPOINTMENT_MOVES: dict[AppointmentState, frozenset[AppointmentState]] = {
    # technical failure from booked: the patient never got in (the host records it, docs/record.md)
    AppointmentState.booked: frozenset({AppointmentState.in_progress, AppointmentState.no_show,
                                        AppointmentState.cancelled, AppointmentState.technical_failure}),
    AppointmentState.in_progress: frozenset({AppointmentState.completed, AppointmentState.technical_failure}),
    AppointmentState.completed: frozenset(),
    AppointmentState.no_show: frozenset(),
    AppointmentState.technical_failure: frozenset(),
    AppointmentState.cancelled: frozenset(),
}


def check_participant_move(current: ParticipantState, target: ParticipantState) -> None:
    if target not in PARTICIPANT_MOVES[current]:
        raise IllegalTransition("participant", current.value, target.value)


# After the call, the host's outcome may correct the state Visitt suggested when it ended
# (visitt.outcomes): between held and failed, or to withdrawn (cancelled). Only the outcome moves so.
OUTCOME_CORRECTIONS: dict[AppointmentState, frozenset[AppointmentState]] = {
    AppointmentState.completed: frozenset({AppointmentState.technical_failure, AppointmentState.cancelled}),
    AppointmentState.technical_failure: frozenset({AppointmentState.completed, AppointmentState.cancelled}),
}


def check_outcome_move(current: AppointmentState, target: AppointmentState) -> None:
    """An outcome may keep the state, make one of its ordinary moves, or one of the corrections above."""
    if target is current or target in APPOINTMENT_MOVES[current] or target in OUTCOME_CORRECTIONS.get(current, ()):
        return
    raise IllegalTransition("appointment", current.value, target.value)


def check_room_move(current: RoomState, target: RoomState) -> None:
    if target not in ROOM_MOVES[current]:
        raise IllegalTransition("room", current.value, target.value)


def check_appointment_move(current: AppointmentState, target: AppointmentState) -> None:
    if target not in APPOINTMENT_MOVES[current]:
        raise IllegalTransition("appointment", current.value, target.value)


def check_pause_move(paused: bool, target: bool) -> None:
    """The privacy pause is a machine of its own beside the room's: ``running`` ⇄ ``paused``.

    It is not a room state because it is orthogonal to one: a locked room and an open room can
    both be paused, lock and unlock go on working during a pause, and resuming needs no memory
    of which of the two the room was in.
    """
    if paused == target:
        state = "paused" if paused else "running"
        raise IllegalTransition("consultation", state, state)


# --- durable side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestRecord:
    participant_id: int
    public_id: str
    room: str
    kind: str
    state: ParticipantState
    name: str
    identified: str | None = None  # the newest identity check's method
    host_id: int = 0  # the room's clinician: whose shard the room is in (visitt.live.cluster)
    place_key_hash: str | None = None  # the place key of the page whose knock holds the place, hashed

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GuestRecord:
        return cls(**{**data, "state": ParticipantState(data["state"])})


@dataclass(frozen=True)
class Booked:
    """The appointment of a locked participant's room, as much of it as a move needs."""

    id: int
    state: AppointmentState
    starts_at: dt.datetime
    duration_minutes: int


@dataclass(frozen=True)
class Scheduled:
    """When a staff meeting is (:class:`visitt.store.models.Meeting`): its link's window follows it."""

    starts_at: dt.datetime
    duration_minutes: int


@dataclass
class Locked:
    """A participant row locked for this transaction (:func:`lock_participants`): what the moves
    read, kept up to date as they write. Plain values, not an ORM object: a knock or a leave is
    checked, written and audited with a few statements (``docs/performance.md``)."""

    id: int
    public_id: str
    room_id: int
    state: ParticipantState
    appointment: Booked | None
    meeting: Scheduled | None = None  # a staff meeting's room: no appointment, but a time


PARTICIPANTS = cast(Table, Participant.__table__)
APPOINTMENTS = cast(Table, Appointment.__table__)
MEETINGS = cast(Table, Meeting.__table__)
LOCKED = "visitt.locked"  # session.info: participant id → Locked, for the rest of the transaction
# Built once: building a statement costs more than running it on a row.
_LOCK_ROWS = (select(PARTICIPANTS.c.id, PARTICIPANTS.c.public_id, PARTICIPANTS.c.room_id, PARTICIPANTS.c.state,
                     APPOINTMENTS.c.id.label("appointment_id"), APPOINTMENTS.c.state.label("appointment_state"),
                     APPOINTMENTS.c.starts_at, APPOINTMENTS.c.duration_minutes,
                     MEETINGS.c.starts_at.label("meeting_starts_at"),
                     MEETINGS.c.duration_minutes.label("meeting_minutes"))
              .join(Room, Room.id == PARTICIPANTS.c.room_id)
              .outerjoin(APPOINTMENTS, APPOINTMENTS.c.id == Room.appointment_id)
              .outerjoin(MEETINGS, MEETINGS.c.room_id == Room.id)
              .with_for_update(of=PARTICIPANTS))
LOCK = _LOCK_ROWS.where(PARTICIPANTS.c.id.in_(bindparam("ids", expanding=True)))
# On PostgreSQL the ids go as one array (:func:`visitt.store.db.int_array`): one statement text whatever
# their number, parsed and prepared once, where ``IN`` has a parameter for each.
LOCK_ANY = _LOCK_ROWS.where(PARTICIPANTS.c.id == any_(bindparam("ids", type_=String).cast(ARRAY(Integer))))
# SET_STATE for many rows at once, on PostgreSQL (:attr:`visitt.store.db.Deferred.many`). ``p.id = ANY`` has the
# rows found by their key whatever the planner thinks of the table's size (freshly filled, not yet
# analysed, it scanned the whole table). ``updated_at`` as the single-row update sets it (the
# column's ``onupdate``): the department queue orders and ages the waiting by it.
SET_STATES = text(f"UPDATE {PARTICIPANTS.name} AS p SET state = v.state, "
                  "display_name = coalesce(v.name, p.display_name), updated_at = CAST(:now AS timestamptz) "
                  "FROM json_to_recordset(CAST(:moves AS json)) AS v(id integer, state varchar, name varchar) "
                  "WHERE p.id = v.id AND p.id = ANY(CAST(:ids AS integer[]))")


def _set_states(rows: Rows) -> tuple[TextClause, dict[str, Any]]:
    """:data:`SET_STATES` for these runs of :data:`SET_STATE`. A row moved twice in the transaction
    ends as its last move says, with the last name given (one statement updates a row only once)."""
    moves: dict[int, dict[str, Any]] = {}
    for row in rows:
        previous = moves.get(row["participant"], {"name": None})
        name = row["name"] if row["name"] is not None else previous["name"]
        state = ParticipantState(row["to"]).name
        moves[row["participant"]] = {"id": row["participant"], "state": state, "name": name}
    return SET_STATES, {"moves": json.dumps(list(moves.values())), "ids": int_array(moves), "now": utcnow()}


# a new name, or the one it had (name None); ``updated_at`` by the column's ``onupdate``
SET_STATE = Deferred(update(PARTICIPANTS).where(PARTICIPANTS.c.id == bindparam("participant"))
                     .values(state=bindparam("to"),
                             display_name=func.coalesce(bindparam("name", type_=String), PARTICIPANTS.c.display_name)),
                     many=_set_states)
SET_PLACE_KEY = Deferred(update(PARTICIPANTS).where(PARTICIPANTS.c.id == bindparam("participant"))
                         .values(place_key_hash=bindparam("key_hash")))
START_APPOINTMENT = Deferred(update(APPOINTMENTS).where(APPOINTMENTS.c.id == bindparam("appointment"))
                             .values(state=AppointmentState.in_progress, started_at=bindparam("now")))


def lock_participants(session: Session, participant_ids: list[int]) -> list[Locked]:
    """Lock the rows of the participants about to be moved, and read them with their appointments,
    in one statement: the first step of each of the hub's transactions
    (:class:`visitt.store.db.GroupCommit`), which may move hundreds of participants at once."""
    known: dict[int, Locked] = session.info.setdefault(LOCKED, {})
    found = []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(LOCK_ANY, {"ids": int_array(participant_ids)})
    else:
        rows = connection.execute(LOCK, {"ids": participant_ids})
    for row in rows:
        booked = (Booked(row.appointment_id, row.appointment_state, row.starts_at, row.duration_minutes)
                  if row.appointment_id is not None else None)
        meeting = (Scheduled(row.meeting_starts_at, row.meeting_minutes)
                   if row.meeting_starts_at is not None else None)
        known[row.id] = locked = Locked(row.id, row.public_id, row.room_id, row.state, booked, meeting)
        found.append(locked)
    return found


def _locked(session: Session, participant_id: int) -> Locked:
    """The participant's row as locked in this transaction; locked now if nothing locked it yet."""
    locked: Locked | None = session.info.get(LOCKED, {}).get(participant_id)
    if locked is not None:
        return locked
    found = lock_participants(session, [participant_id])
    if not found:
        raise NotFound("no such participant")
    return found[0]


def _write_state(session: Session, participant: Locked, target: ParticipantState, name: str | None = None) -> None:
    """Move the row; written with the transaction's other moves in one statement (:func:`visitt.store.db.later`)."""
    later(session, SET_STATE, {"participant": participant.id, "to": target, "name": name})
    participant.state = target


def move_participant(session: Session, participant_id: int, target: ParticipantState, *, actor: str,
                     action: str | None, name: str | None = None) -> None:
    """Check, make and audit the move, on the row :func:`lock_participants` locked (or locks now)."""
    participant = _locked(session, participant_id)
    check_participant_move(participant.state, target)
    _write_state(session, participant, target, name)
    appointment = participant.appointment
    if target is P.admitted and appointment is not None and appointment.state is AppointmentState.booked:
        later(session, START_APPOINTMENT, {"appointment": appointment.id, "now": utcnow()})
        participant.appointment = replace(appointment, state=AppointmentState.in_progress)
    if action:
        audit.record(session, actor, action, room_id=participant.room_id,
                     subject=f"participant:{participant.public_id}")


def knock_participant(session: Session, participant_id: int, name: str,
                      check: Callable[[Locked], None] | None = None, *,
                      key_hash: str | None = None, held_elsewhere: bool = False,
                      consent_language: str | None = None) -> ParticipantState | None:
    """Move an invitee to ``waiting``; returns the state they came from. One unit of work: the row
    (locked by :func:`lock_participants`, with its appointment for ``check``) is checked, moved and
    audited together.

    A participant whose row still says ``waiting`` or ``admitted`` has no live connection (the
    caller checked): the node that held it restarted or their socket died unseen. That stale
    state is closed first, audited, so the knock is always possible - unless ``held_elsewhere``
    (a page was given the place's key): then the place stays that page's, the knock is a second
    device's (audited so), and None is returned.

    ``consent_language``: the patient's knock is their consent to video (:func:`visitt.consent.record_given`),
    recorded in the same unit of work and named in the knock's audit row (the text's version, the language).
    """
    participant = _locked(session, participant_id)
    if check is not None:
        check(participant)
    previous = participant.state
    if held_elsewhere and previous in (P.waiting, P.admitted):
        actor = f"participant:{participant.public_id}"
        audit.record(session, actor, "knock", room_id=participant.room_id, subject=actor, device="second")
        return None
    actor, room_id = f"participant:{participant.public_id}", participant.room_id
    state = previous
    if previous in (P.waiting, P.admitted):
        state = P.invited if previous is P.waiting else P.left
        audit.record(session, "system", "leave", room_id=room_id, subject=actor, reason="connection_lost")
    check_participant_move(state, P.waiting)
    _write_state(session, participant, P.waiting, name)
    if key_hash is not None:
        later(session, SET_PLACE_KEY, {"participant": participant.id, "key_hash": key_hash})
    consented: dict[str, str] = {}
    if consent_language is not None and participant.appointment is not None:
        from visitt import consent  # consent ends rooms through this module

        if consent.record_given(session, participant.appointment.id, language=consent_language,
                                participant_id=participant_id):
            consented = {"consent": consent.TEXT_VERSION, "language": consent_language}
    audit.record(session, actor, "knock", room_id=room_id, subject=actor, **consented)
    return previous


def knock_second_device(session: Session, participant_id: int,
                        check: Callable[[Locked], None] | None = None) -> None:
    """A knock on an invitation whose place another page holds (in the waiting room or the call): the
    link's window is checked and the knock audited, and the place is left as it is. Only the host's
    admission gives the place to the new device (:func:`take_over`)."""
    participant = _locked(session, participant_id)
    if check is not None:
        check(participant)
    actor = f"participant:{participant.public_id}"
    audit.record(session, actor, "knock", room_id=participant.room_id, subject=actor, device="second")


def take_over(session: Session, participant_id: int, key_hash: str, *, actor: str) -> None:
    """The host admits a second device: it takes the invitation's place, whatever the first page's
    state, and only its place key is valid from now on. Audited as ``take_over`` (and ``admit``
    where the participant was not in the call)."""
    participant = _locked(session, participant_id)
    subject = f"participant:{participant.public_id}"
    if participant.state is not P.admitted:
        if participant.state is not P.waiting:  # the first page left meanwhile: the place is free
            check_participant_move(participant.state, P.waiting)
            _write_state(session, participant, P.waiting)
        move_participant(session, participant_id, P.admitted, actor=actor, action="admit")
    later(session, SET_PLACE_KEY, {"participant": participant.id, "key_hash": key_hash})
    audit.record(session, actor, "take_over", room_id=participant.room_id, subject=subject)


def move_room(session: Session, room_id: int, target: RoomState, *, actor: str, action: str,
              dropped: bool = False, **detail: Any) -> None:
    """Check, make and audit the room's move (``detail`` goes into the audit row). Ending it is the one
    transition every ending goes through - the host's End, a cancellation, a no-show: whoever was
    waiting or in the call leaves too, each leave audited. A call that was going on gets Visitt's
    suggested outcome (:func:`visitt.outcomes.call_ended`; ``dropped``: the live room saw a guest's
    connection drop and not come back for long)."""
    room = session.get(Room, room_id, with_for_update=True)
    if room is None:
        raise NotFound("no such room")
    check_room_move(room.state, target)
    room.state = target
    if target is RoomState.ended:
        room.ended_at = utcnow()
        appointment = room.appointment
        if appointment is not None and appointment.state is AppointmentState.in_progress:
            from visitt import outcomes  # outcomes builds on this module's checks

            # the suggested outcome goes into the end's own audit row
            detail["outcome"], detail["failure"] = outcomes.call_ended(session, appointment, dropped=dropped)
        # its invitations' codes open nothing any more: free them to be drawn again (visitt/codes.py)
        session.execute(delete(ActiveCode).where(ActiveCode.room_id == room.id))
    audit.record(session, actor, action, room_id=room.id, **detail)
    if target is RoomState.ended:
        for participant in room.participants:
            if participant.state in (P.waiting, P.admitted):
                after = P.left if participant.state is P.admitted else P.invited
                check_participant_move(participant.state, after)
                participant.state = after
                audit.record(session, "system", "leave", room_id=room.id,
                             subject=f"participant:{participant.public_id}", reason="ended")


def set_paused(session: Session, room_id: int, pause: protocol.PauseInfo | None, *, actor: str) -> None:
    """Pause (``pause`` given) or resume the consultation: check, store and audit the move."""
    room = session.get(Room, room_id, with_for_update=True)
    if room is None:
        raise NotFound("no such room")
    if room.state is RoomState.ended:
        raise Conflict("the consultation has ended", code="room_ended")
    check_pause_move(room.paused_at is not None, pause is not None)
    if pause is None:
        room.paused_at = room.paused_by = room.pause_reason = None
        audit.record(session, actor, "resume", room_id=room.id)
    else:
        room.paused_at, room.paused_by, room.pause_reason = utcnow(), pause.by, pause.reason
        audit.record(session, actor, "pause", room_id=room.id, reason=pause.reason)


def record_event(session: Session, actor: str, action: str, *, room_id: int, subject: str = "", **detail: Any) -> None:
    """An audit row for something that changes no state (a request between participants)."""
    audit.record(session, actor, action, room_id=room_id, subject=subject, **detail)


def participant_row_id(session: Session, public_id: str) -> int:
    row_id = session.scalar(select(Participant.id).where(Participant.public_id == public_id))
    if row_id is None:
        raise NotFound("no such participant")
    return row_id


def record_no_show(session: Session, appointment: Appointment, *, actor: str) -> None:
    """The patient never came (001, 002): the appointment becomes ``no_show`` and its room ends,
    so the link no longer leads anywhere. Part of the caller's unit of work."""
    check_appointment_move(appointment.state, AppointmentState.no_show)
    appointment.state = AppointmentState.no_show
    room = appointment.room
    if room is not None and room.state is not RoomState.ended:
        move_room(session, room.id, RoomState.ended, actor=actor, action="end", reason="no_show")
    audit.record(session, actor, "no_show", room_id=room.id if room else None,
                 subject=f"appointment:{appointment.id}")


def guest_for_token(database: Database, token_hash: str) -> GuestRecord | None:
    with database.session() as session:
        participant = session.scalar(select(Participant).where(Participant.token_hash == token_hash))
        if participant is None:
            return None
        method = identity.current_method(session, participant.id)
        return GuestRecord(participant.id, participant.public_id, participant.room.public_id, participant.kind,
                           participant.state, participant.display_name, method.value if method else None,
                           participant.room.host_id, participant.place_key_hash)
