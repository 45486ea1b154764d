"""Staff accounts: passwords (argon2), browser sessions and API tokens.

Secrets are stored only as SHA-256 hashes; the clear value exists in the cookie or in the
caller's hands.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import access, sessions
from visitt.store import audit
from visitt import text as human
from visitt.errors import Busy, Conflict, NotAuthenticated, NotFound, ValidationFailed
from visitt.web.i18n import N_
from visitt.limiter import Limiter, address_label
from visitt.store.models import ApiToken, Department, Role, Staff, utcnow

log = logging.getLogger("visitt.accounts")
# VISITT_PASSWORD_HASHING: argon2-cffi's profiles. "cheapest" is argon2-cffi's profile for tests (a hash in
# microseconds instead of a good part of a second): never for real passwords.
HASHING = {"standard": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}
_hasher = PasswordHasher.from_parameters(HASHING["standard"])
# Verifying against this keeps a login for an unknown e-mail as slow as one for a known e-mail.
_DUMMY_HASH = _hasher.hash("not a password")


def use_hashing(name: str) -> None:
    """Hash new passwords with the named profile (``HASHING``); the process's choice, set by
    :func:`visitt.app.create_app` and the command line from ``VISITT_PASSWORD_HASHING``. A stored hash
    carries its own parameters, so passwords hashed under either profile still verify."""
    global _hasher, _DUMMY_HASH
    hasher = PasswordHasher.from_parameters(HASHING[name])
    if hasher.time_cost != _hasher.time_cost or hasher.memory_cost != _hasher.memory_cost:
        _hasher, _DUMMY_HASH = hasher, hasher.hash("not a password")
MIN_PASSWORD = 10
TOKEN_DAYS = 90  # how long a new API token lasts unless ``visitt tokens create --days`` says otherwise
MAX_TOKEN_DAYS = 365


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
                  department=department, portal=portal, departments=[department] if department else [])
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


TOO_MANY = N_("Too many failed sign-ins. Wait {duration} and try again.")


def throttle(limiter: Limiter, email: str, address: str) -> None:
    """Refuse a sign-in step for ``email`` from ``address`` while either is locked out (docs/administration.md,
    "Wrong passwords"): the address for every account; the account only from addresses that have failed
    lately, so the real user on their own connection still gets in."""
    code = "too_many_sign_ins"
    limiter.check("login_address", address, message=TOO_MANY, code=code)
    if limiter.locked_for("login_account", email) and not limiter.untouched("login_address", address):
        raise limiter.refuse_locked("login_account", email, message=TOO_MANY, code=code)


def count_failure(session: Session, limiter: Limiter, email: str, address: str, actor: str = "anonymous",
                  action: str = "login_failed") -> None:
    """One wrong password or second-factor code for ``email`` from ``address``: counted, and audited
    (with the lock-out it caused, if any)."""
    limiter.hit("login_address", address)
    wait = limiter.fail("login_account", email)
    if wait:
        audit.record(session, actor, action, locked_seconds=wait)
    else:
        audit.record(session, actor, action)
    if wait:
        log.warning("sign-in limit reached for one account from address %s: refused from failing addresses "
                    "for %d seconds", address_label(address), wait)


def authenticate(session: Session, email: str, password: str, limiter: Limiter, address: str) -> Staff:
    """The active account with this e-mail address and password, from the client ``address``.

    Failed sign-ins are counted per client address and per account (``login_address``,
    ``login_account``; docs/administration.md says why). Over the address's limit, the address is refused
    for every account; over the account's, the account is locked out for a wait that doubles with each
    lock-out (capped), but only for addresses that have failed lately, so the real user on their own
    connection still gets in. Refused attempts cost no password check and are not counted. At most
    ``VISITT_PASSWORD_CHECKS_AT_ONCE`` checks run at once (argon2 takes 64 MiB each); a sign-in that
    cannot get its turn in time gets :class:`Busy`.
    """
    email = email.strip().lower()
    throttle(limiter, email, address)
    staff = session.scalar(select(Staff).where(Staff.email == email, Staff.active.is_(True)))
    with limiter.password_checks.turn() as turn:
        if not turn:
            raise Busy(N_("Many people are signing in right now. Try again in a moment."))
        try:
            _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            staff = None
    if staff is None:
        count_failure(session, limiter, email, address)
        raise NotAuthenticated(N_("Wrong e-mail address or password."))
    # signed in now, or (a second factor to come, or to set up first) once that is done (``second_factor.py``)
    further = staff.totp_secret is not None or staff.role is Role.admin
    audit.record(session, f"staff:{staff.id}", "password_accepted" if further else "login")
    return staff


def set_password(staff: Staff, password: str) -> None:
    """Give ``staff`` a new password (checked here: :class:`ValidationFailed` if too short)."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(N_("The password could not be set."),
                               fields={"password": N_("Use at least 10 characters.")})  # MIN_PASSWORD
    if len(password) > 1024:
        raise ValidationFailed(N_("The password could not be set."),
                               fields={"password": N_("Use at most 1024 characters.")})
    staff.password_hash = _hasher.hash(password)


def open_session(session: Session, staff: Staff, hours: int, stage: str = "full", idle_minutes: int | None = None,
                 *, id_token: str | None = None) -> str:
    """A new browser session for ``staff`` (:func:`visitt.sessions.open_session`); ``id_token``: the one
    single sign-on opened it with."""
    return sessions.open_session(session, staff, hours, stage, idle_minutes, id_token=id_token)


def staff_for_session(session: Session, token: str | None) -> Staff | None:
    """The staff member fully signed in with the session ``token`` (:func:`visitt.sessions.look_up`)."""
    return sessions.look_up(session, token).staff


def close_session(session: Session, token: str | None) -> str | None:
    """End the session; the ID token it was opened with by single sign-on, if it was."""
    return sessions.close_session(session, token)


class TokenRefused(NotAuthenticated):
    """A real API token that may no longer be used: expired or revoked. Whoever answers it records
    the refusal in the audit trail (the request's own unit of work is rolled back)."""

    def __init__(self, row: ApiToken, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.staff_id, self.token_id = row.staff_id, row.id


def _staff_by_email(session: Session, email: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if staff is None:
        raise ValidationFailed(N_("No staff account has that e-mail address."), fields={"email": N_("Unknown.")})
    return staff


def create_api_token(session: Session, email: str, days: int = TOKEN_DAYS, name: str = "") -> str:
    """A new API token for the staff member with ``email``, valid for ``days`` days; only its hash is kept."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationFailed(N_("An API token lasts from 1 to 365 days."),  # MAX_TOKEN_DAYS
                               fields={"days": N_("Choose from 1 to 365 days.")})
    staff = _staff_by_email(session, email)
    token = new_secret()
    row = ApiToken(staff_id=staff.id, token_hash=digest(token), expires_at=utcnow() + dt.timedelta(days=days),
                   name=" ".join(name.split())[:100])
    session.add(row)
    session.flush()
    audit.record(session, f"staff:{staff.id}", "token_created", subject=f"api_token:{row.id}", days=days)
    return token


def api_tokens(session: Session, email: str | None = None) -> list[ApiToken]:
    """Every API token (or one staff member's), oldest first: revoked and expired ones too."""
    query = select(ApiToken).order_by(ApiToken.id)
    if email is not None:
        query = query.where(ApiToken.staff_id == _staff_by_email(session, email).id)
    return list(session.scalars(query))


def token_state(row: ApiToken, now: dt.datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= (now or utcnow()) else "active"


def revoke_api_tokens(session: Session, *, token_id: int | None = None, email: str | None = None) -> list[ApiToken]:
    """Revoke one token by its id, or every token of one staff member; the ones revoked now (a token
    revoked before stays as it was). Takes effect at the next request that uses it."""
    if token_id is not None:
        rows = list(session.scalars(select(ApiToken).where(ApiToken.id == token_id)))
        if not rows:
            raise ValidationFailed(N_("No API token has that number."), fields={"token": N_("Unknown.")})
    else:
        assert email is not None
        rows = api_tokens(session, email)
    revoked = [row for row in rows if row.revoked_at is None]
    for row in revoked:
        row.revoked_at = utcnow()
        audit.record(session, "system", "token_revoked", subject=f"api_token:{row.id}", staff=row.staff_id)
    return revoked


def staff_for_api_token(session: Session, token: str) -> Staff | None:
    """The staff member an API token belongs to; None for a token nobody was given (or whose owner
    is no longer active); :class:`TokenRefused` for one that has expired or been revoked."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    if row is None or not row.staff.active:
        return None
    state = token_state(row)
    if state == "revoked":
        raise TokenRefused(row, "token_revoked", N_("The API token has been revoked. Ask for a new one."))
    if state == "expired":
        raise TokenRefused(row, "token_expired", N_("The API token has expired. Ask for a new one."))
    return row.staff


def staff_by_id(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(N_("No such staff member."))
    return staff


def staff_by_email(session: Session, email: str) -> Staff:
    """The account with ``email``, or :class:`ValidationFailed` naming the field."""
    return _staff_by_email(session, email)


def deactivate(session: Session, actor: Staff | None, staff: Staff) -> None:
    """Deactivate ``staff``'s account, by ``actor`` (None: the command line): they cannot sign in, every
    web session and API token of theirs ends now, and each node closes their live sockets within a
    second (:mod:`visitt.live.deactivation`)."""
    if actor is not None:
        access.require_administer(actor, staff)
    if not staff.active:
        raise Conflict(N_("The account is already deactivated."), code="already_deactivated")
    staff.active = False
    ended = sessions.end_all(session, staff)
    revoked = revoke_api_tokens(session, email=staff.email)
    audit.record(session, f"staff:{actor.id}" if actor else "system", "user_deactivated",
                 subject=f"staff:{staff.id}", sessions_ended=ended, tokens_revoked=len(revoked))


def reactivate(session: Session, actor: Staff | None, staff: Staff) -> None:
    """Let ``staff`` sign in again (their old sessions and API tokens stay ended)."""
    if actor is not None:
        access.require_administer(actor, staff)
    if staff.active:
        raise Conflict(N_("The account is already active."), code="already_active")
    staff.active = True
    audit.record(session, f"staff:{actor.id}" if actor else "system", "user_reactivated", subject=f"staff:{staff.id}")
def hash_password(password: str) -> str:
    """``password`` hashed with the process's profile (:func:`use_hashing`)."""
    return _hasher.hash(password)
