"""Identity checks: how the clinician established who each participant is (002, 003 §2.3–2.4).

The clinician records one of :class:`~visitt.store.models.IdentityMethod` per participant during the
call; each check is a row of its own (the newest counts) and an ``identify`` audit row with the
method only. The note that goes with "other" is free text, so it stays in ``identity_checks`` and
never reaches the audit trail or another participant.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt.store import audit
from visitt.errors import NotFound, ProtocolError
from visitt.store.models import IdentityCheck, IdentityMethod, Participant


def record_check(session: Session, room_id: int, participant: str, method: str, note: str, *,
                 staff_id: int) -> IdentityMethod:
    """Store that ``staff_id`` established the identity of ``participant`` (a public id) by ``method``."""
    chosen = IdentityMethod(method)
    note = " ".join(note.split()) if chosen is IdentityMethod.other else ""
    if chosen is IdentityMethod.other and not note:
        raise ProtocolError("say briefly how identity was established", code="note_required")
    row = session.scalar(select(Participant).where(Participant.public_id == participant,
                                                   Participant.room_id == room_id))
    if row is None:
        raise NotFound("that participant is not in the call", code="unknown_peer")
    session.add(IdentityCheck(room_id=room_id, participant_id=row.id, method=chosen, note=note,
                              checked_by_id=staff_id))
    audit.record(session, f"staff:{staff_id}", "identify", room_id=room_id, subject=f"participant:{participant}",
                 method=chosen.value)
    return chosen


def current_method(session: Session, participant_id: int) -> IdentityMethod | None:
    """The method of the newest check of this participant, or None if nobody has checked yet."""
    return session.scalar(select(IdentityCheck.method).where(IdentityCheck.participant_id == participant_id)
                          .order_by(IdentityCheck.id.desc()).limit(1))
