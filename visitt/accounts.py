"""Staff accounts: passwords (argon2), browser sessions and API tokens.

Secrets are stored only as SHA-256 hashes; the clear value exists in the cookie or in the
caller's hands.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import audit
from . import text as human
from .errors import Conflict, NotAuthenticated, ValidationFailed
from .i18n import N_
from .models import ApiToken, Department, Role, Staff, WebSession, utcnow

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown e-mail as slow as one for a known e-mail.
_DUMMY_HASH = _hasher.hash("not a password")
MIN_PASSWORD = 10


def new_secret() -> str:
    """An opaque, URL-safe random token of 256 bits."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _portal_problem(role: Role, department: Department | None) -> str | None:
    """Why this account cannot be listed on the portal, if it cannot."""
    if role is not Role.clinician:
        return N_("Only clinicians take video visitors on the portal.")
    if department is None:
        return N_("A clinician on the portal needs a department.")
    return None


def create_staff(session: Session, *, email: str, full_name: str, role: Role, password: str,
                 department: Department | None, portal: bool = False) -> Staff:
    """A new account; ``portal``: list this clinician on the portal for unscheduled visitors."""
    email = email.strip().lower()
    errors = {}
    if "@" not in email or len(email) > 254:
        errors["email"] = N_("Enter a valid e-mail address.")
    if human.refused(full_name):
        errors["full_name"] = human.NAME_REFUSED
    elif not full_name.strip():
        errors["full_name"] = N_("Enter the full name.")
    if len(password) < MIN_PASSWORD:
        errors["password"] = N_("Use at least 10 characters.")  # MIN_PASSWORD
    problem = _portal_problem(role, department) if portal else None
    if problem:
        errors["portal"] = problem
    if errors:
        raise ValidationFailed(N_("The account could not be created."), fields=errors)
    if session.scalar(select(Staff).where(Staff.email == email)) is not None:
        raise Conflict(N_("An account with that e-mail address already exists."),
                       fields={"email": N_("Already in use.")})
    staff = Staff(email=email, full_name=full_name.strip(), role=role, password_hash=_hasher.hash(password),
                  department=department, portal=portal)
    session.add(staff)
    session.flush()
    audit.record(session, "system", "user_created", subject=f"staff:{staff.id}", role=role.value)
    return staff


def set_portal(session: Session, email: str, listed: bool) -> Staff:
    """List a clinician on the portal, or take them off it (visits already open go on)."""
    staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if staff is None:
        raise ValidationFailed(N_("No staff account has that e-mail address."), fields={"email": N_("Unknown.")})
    problem = _portal_problem(staff.role, staff.department) if listed else None
    if problem:
        raise ValidationFailed(N_("The account could not be changed."), fields={"portal": problem})
    staff.portal = listed
    return staff


def authenticate(session: Session, email: str, password: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower(), Staff.active.is_(True)))
    try:
        _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        staff = None
    if staff is None:
        audit.record(session, "anonymous", "login_failed")
        raise NotAuthenticated(N_("Wrong e-mail address or password."))
    audit.record(session, f"staff:{staff.id}", "login")
    return staff


def open_session(session: Session, staff: Staff, hours: int) -> str:
    token = new_secret()
    session.add(WebSession(staff_id=staff.id, token_hash=digest(token),
                           expires_at=utcnow() + dt.timedelta(hours=hours)))
    return token


def staff_for_session(session: Session, token: str | None) -> Staff | None:
    if not token:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))
    if row is None or row.expires_at < utcnow() or not row.staff.active:
        return None
    return row.staff


def close_session(session: Session, token: str | None) -> None:
    if token:
        row = session.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))
        if row is not None:
            audit.record(session, f"staff:{row.staff_id}", "logout")
            session.execute(delete(WebSession).where(WebSession.id == row.id))


def create_api_token(session: Session, email: str) -> str:
    staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if staff is None:
        raise ValidationFailed(N_("No staff account has that e-mail address."), fields={"email": N_("Unknown.")})
    token = new_secret()
    session.add(ApiToken(staff_id=staff.id, token_hash=digest(token)))
    audit.record(session, f"staff:{staff.id}", "token_created")
    return token


def staff_for_api_token(session: Session, token: str) -> Staff | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    if row is None or not row.staff.active:
        return None
    return row.staff
