"""The department queue: everyone waiting for any clinician of one department, for its clinicians and
secretaries to see (``/staff/queue``).

It reads the durable state, never the live hub: a participant in state ``waiting`` in a room that has
not ended, whose appointment - or, for a portal visit, whose clinician - belongs to the department.
So it shows the same on every node, whichever node holds each room. Only the room's clinician can
admit; the queue is for seeing who waits, for whom, and since when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from visitt.store.models import (
    Appointment,
    Participant,
    ParticipantState,
    Room,
    RoomState,
    Staff,
    utcnow,
)

# The waiting room sends everyone home after the longest wait; a ``waiting`` row older than that and
# this margin was left behind by a node that stopped, and nobody is really waiting there.
STALE_MARGIN = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class QueueEntry:
    """One person waiting. ``starts_at`` is the appointment's start; ``None``: an unscheduled visitor."""

    name: str
    clinician: str
    clinician_id: int
    since: dt.datetime
    starts_at: dt.datetime | None

    @property
    def scheduled(self) -> bool:
        return self.starts_at is not None


def waiting_in(session: Session, department_id: int, *, max_wait: dt.timedelta,
               now: dt.datetime | None = None) -> list[QueueEntry]:
    """Everyone waiting in the department's rooms, longest wait first."""
    host = aliased(Staff)
    cutoff = (now or utcnow()) - max_wait - STALE_MARGIN
    rows = session.execute(
        select(Participant.display_name, host.full_name, host.id, Participant.updated_at, Appointment.starts_at)
        .join(Room, Participant.room_id == Room.id)
        .join(host, Room.host_id == host.id)
        .outerjoin(Appointment, Room.appointment_id == Appointment.id)
        .where(Participant.state == ParticipantState.waiting, Room.state != RoomState.ended,
               func.coalesce(Appointment.department_id, host.department_id) == department_id,
               Participant.updated_at >= cutoff)
        .order_by(Participant.updated_at, Participant.id))
    return [QueueEntry(name, clinician, clinician_id, since, starts_at)
            for name, clinician, clinician_id, since, starts_at in rows]
