"""Password reset by an administrator: a one-time link, never a password sent anywhere.

The administrator makes a link (``visitt users reset-link EMAIL``, ``POST /api/v1/staff/{id}/reset-link``,
the admin console) and gives it to the staff member by a channel they trust. The link's token is
random (256 bits) and kept only as a SHA-256 hash; it works once, for ``VISITT_RESET_LINK_HOURS``
(24 by default), and a newer link for the same person replaces it. Setting the password ends the
person's sessions everywhere: whoever knew the old one is signed out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from visitt import access, sessions
from visitt.accounts import set_password
from visitt.errors import NotFound, ValidationFailed
from visitt.store import audit
from visitt.store.models import PasswordReset, Staff, utcnow
from visitt.web.i18n import N_

PATH = "/staff/reset/"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(session: Session, actor: Staff | None, staff: Staff, *, base_url: str, hours: int) -> str:
    """A new one-time link for ``staff`` to set a password, made by ``actor`` (None: the command
    line, which is the server's operator); earlier unused links for them stop working."""
    if actor is not None:
        access.require_administer(actor, staff)
    if not staff.active:
        raise ValidationFailed(N_("The account is deactivated. Reactivate it first."),
                               fields={"staff": N_("Deactivated.")})
    session.execute(delete(PasswordReset).where(PasswordReset.staff_id == staff.id, PasswordReset.used_at.is_(None)))
    token = secrets.token_urlsafe(32)
    session.add(PasswordReset(staff_id=staff.id, token_hash=_digest(token),
                              expires_at=utcnow() + dt.timedelta(hours=hours)))
    audit.record(session, f"staff:{actor.id}" if actor else "system", "reset_link_created",
                 subject=f"staff:{staff.id}", hours=hours)
    return f"{base_url}{PATH}{token}"


def find(session: Session, token: str) -> PasswordReset:
    """The unused, unexpired reset for ``token``; else :class:`NotFound` (the same for every reason)."""
    row = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _digest(token)))
    if row is None or row.used_at is not None or row.expires_at <= utcnow() or not row.staff.active:
        raise NotFound(N_("This link does not work any more. Ask your administrator for a new one."),
                       code="reset_link_invalid")
    return row


def use(session: Session, token: str, password: str, repeated: str) -> Staff:
    """Set the new password through the link ``token``: it is used up, and every session of the
    staff member is ended. A bad password: :class:`ValidationFailed`, the link still works."""
    row = find(session, token)
    if password != repeated:
        raise ValidationFailed(N_("The password could not be set."),
                               fields={"repeated": N_("The two passwords are not the same.")})
    set_password(row.staff, password)
    row.used_at = utcnow()
    ended = sessions.end_all(session, row.staff)
    audit.record(session, f"staff:{row.staff_id}", "password_reset", subject=f"staff:{row.staff_id}",
                 sessions_ended=ended)
    return row.staff
