"""Six-digit codes: each held by at most one invitation whose room is open, by the database itself.

A code is claimed by inserting it into ``active_codes``, whose primary key is the code. Two bookings
that draw the same code at the same moment - on two nodes, or two threads of one - cannot both insert
it: the second insert fails with an integrity error inside its own savepoint, and that booking draws
again. Nothing is checked first and inserted later, so there is no window for a race.

A claim is released when its room ends (:func:`release`, from ``rooms.move_room``) and, for a room
that never ended, once the link window of its appointment has closed (:func:`sweep`, daily with
retention): after that the code opens nothing (``code_entry.find``) and may be drawn again.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from visitt import joining
from visitt.settings import Settings
from visitt.store.models import ActiveCode, Room, RoomState

MAX_DRAWS = 100  # with a million codes, a hundred taken in a row means the table is full, not bad luck


def random_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


class CodesExhausted(RuntimeError):
    """No free code after :data:`MAX_DRAWS` draws: far more open invitations than codes can tell apart."""


def draw(session: Session, room: Room, *, pick: Callable[[], str] = random_code, tries: int = MAX_DRAWS) -> str:
    """A code no other open invitation holds, claimed for ``room`` in this unit of work; at most ``tries``
    draws, then :class:`CodesExhausted`.

    ``pick`` draws a candidate (a test passes one that repeats itself, to force collisions)."""
    if room.id is None:
        session.add(room)
        session.flush()
    for _ in range(tries):
        code = pick()
        try:
            with session.begin_nested():
                session.add(ActiveCode(code=code, room_id=room.id))
        except IntegrityError:
            continue  # held by another open invitation, perhaps one committed a moment ago: draw again
        return code
    raise CodesExhausted("no free six-digit code")


def release(session: Session, room_id: int) -> None:
    """Free the codes of ``room_id`` (its room has ended)."""
    session.execute(delete(ActiveCode).where(ActiveCode.room_id == room_id))


def sweep(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Free the codes of ended rooms and of appointments and meetings whose link window has closed; returns how
    many."""
    freed = 0
    held = session.execute(select(ActiveCode.code, Room).join(Room, Room.id == ActiveCode.room_id)).all()
    for code, room in held:
        span = joining.room_window(room, settings)
        if room.state is RoomState.ended or (span is not None and now >= span.closes_at):
            session.execute(delete(ActiveCode).where(ActiveCode.code == code, ActiveCode.room_id == room.id))
            freed += 1
    return freed
