"""The append-only audit trail: who did what, when (UTC). Never personal data in ``detail``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from .models import AuditEvent, utcnow

PENDING = "visitt.audit"  # the session.info key of rows recorded and not yet written

ACTIONS = frozenset(
    {"login", "login_failed", "logout", "booking", "code_entry", "knock", "admit", "deny", "lock", "unlock",
     "end", "leave",
     "token_created", "user_created", "pause", "resume", "identify", "id_requested", "no_show", "remove", "move", "cancel",
     "portal_visit", "invite", "ask_unmute"}
)


def record(session: Session, actor: str, action: str, *, room_id: int | None = None, subject: str = "",
           **detail: Any) -> None:
    """Add one audit row to ``session``; it is written with the rest of the unit of work.

    Rows are gathered on the session and inserted together, one statement for all (a group
    commit holds hundreds), after the session's other changes are flushed: they may name a room
    created in the same unit of work."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    session.info.setdefault(PENDING, []).append(
        {"at": utcnow(), "actor": actor, "action": action, "room_id": room_id, "subject": subject, "detail": detail})


def _write(session: Session) -> None:
    rows = session.info.pop(PENDING, None)
    if rows:
        session.connection().execute(insert(AuditEvent), rows)  # on the connection: no flush inside a flush


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    _write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    session.flush()  # the others first, then the audit rows, if the flush did not write them
    _write(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(PENDING, None)


def events(session: Session, *, room_id: int | None = None, action: str | None = None) -> list[AuditEvent]:
    _write(session)
    query = select(AuditEvent).order_by(AuditEvent.id)
    if room_id is not None:
        query = query.where(AuditEvent.room_id == room_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))
