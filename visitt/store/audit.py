"""The append-only audit trail: who did what, when (UTC). Never personal data in ``detail``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import TextClause, insert, select, text
from sqlalchemy.orm import Session

from visitt.store.db import Deferred, Rows, later, run_later
from visitt.store.models import AuditEvent, utcnow

# INSERT for many rows at once, in their order, on PostgreSQL (:attr:`visitt.store.db.Deferred.many`)
INSERT_ROWS = text(
    f"INSERT INTO {AuditEvent.__tablename__} (at, actor, action, room_id, subject, detail) "
    "SELECT at, actor, action, room_id, subject, detail FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) "
    "AS (at timestamptz, actor varchar, action varchar, room_id integer, subject varchar, detail json)) "
    "WITH ORDINALITY AS v(at, actor, action, room_id, subject, detail, number) ORDER BY number")


def _insert_rows(rows: Rows) -> tuple[TextClause, dict[str, Any]]:
    return INSERT_ROWS, {"rows": json.dumps([{**row, "at": row["at"].isoformat()} for row in rows])}


INSERT = Deferred(insert(AuditEvent), many=_insert_rows)

ACTIONS = frozenset(
    {"login", "login_failed", "logout", "booking", "code_entry", "knock", "admit", "deny", "lock", "unlock",
     "end", "leave",
     "token_created", "token_revoked", "token_refused", "user_created", "pause", "resume", "identify", "id_requested", "no_show", "remove", "move", "cancel",
     "portal_visit", "invite", "ask_unmute", "take_over",
     "training_step", "trained", "retention",
     # local accounts (issue 18): second factor, sessions, password reset, deactivation
     "password_accepted", "second_factor_failed", "second_factor_enrolled", "second_factor_removed",
     "session_ended", "reset_link_created", "password_reset", "user_deactivated", "user_reactivated",
     # the admin console (visitt/staff_admin.py, departments.py, api_tokens.py, audit_trail.py)
     "staff_invited", "staff_changed", "staff_deactivated", "staff_reactivated", "password_link",
     "account_set_up", "department_created", "department_changed", "audit_viewed", "audit_exported",
     # single sign-on (visitt/web/sso.py)
     "sso_login", "sso_refused", "sso_user_created",
     # the consultation's record (issue 19): a withdrawal from video, an outcome confirmed by staff (consent
     # given is the patient's knock, Visitt's suggested outcome the end's: named in those rows)
     "withdraw", "outcome", "continue_by_phone", "export", "export_download",
     # staff meetings (visitt/meetings.py): no patient present
     "meeting_created", "meeting_changed", "meeting_cancelled"}
)


def record(session: Session, actor: str, action: str, *, room_id: int | None = None, subject: str = "",
           **detail: Any) -> None:
    """Add one audit row to ``session``; it is written with the rest of the unit of work.

    Rows are gathered on the session and inserted together (:func:`visitt.store.db.later`), after the
    session's other changes are flushed: they may name a room created in the same unit of work."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    later(session, INSERT, {"at": utcnow(), "actor": actor, "action": action, "room_id": room_id, "subject": subject,
                            "detail": detail})


def events(session: Session, *, room_id: int | None = None, action: str | None = None) -> list[AuditEvent]:
    run_later(session)
    query = select(AuditEvent).order_by(AuditEvent.id)
    if room_id is not None:
        query = query.where(AuditEvent.room_id == room_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))
