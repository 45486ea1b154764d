"""The second factor of a local account: a TOTP code (RFC 6238, by pyotp) or a one-time recovery code.

Enrolment shows a new secret as a QR code (segno, an SVG made on the server) and as text; it is
kept only once the staff member has typed a code it made, and then ten recovery codes are shown,
once. A code is accepted for the current 30-second step or the one either side (clocks drift), and
never for a step at or before the last one accepted, so a code seen over a shoulder or replayed
is refused. Wrong codes count against the same limits as wrong passwords (:mod:`visitt.accounts`).

Recovery codes carry 80 random bits each, so they are stored as SHA-256 hashes, like session
tokens: a slow hash (argon2) protects guessable secrets, and nothing guesses 80 bits. The TOTP
secret itself must be readable to check a code; it is stored as it is (docs/security.md says what
that means for a database dump).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from visitt.errors import NotAuthenticated, ValidationFailed
from visitt.store import audit
from visitt.store.models import RecoveryCode, Staff, utcnow
from visitt.web.i18n import N_

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to mistype
_RECOVERY_LENGTH = 16  # 16 of 31 letters: 79 bits


def new_secret() -> str:
    """A new random TOTP secret (base32, 160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_code(uri: str) -> str:
    """The QR code of ``uri`` as an SVG ``data:`` address, for an ``<img>``."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def _digits(code: str) -> str | None:
    digits = re.sub(r"\s", "", code)
    return digits if re.fullmatch(r"[0-9]{6}", digits) else None


def _step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step (within one of now) for which ``code`` is the TOTP code, if any."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(re.sub(r"[^a-z0-9]", "", code.lower()).encode()).hexdigest()


def _new_recovery_codes(session: Session, staff: Staff) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
        session.add(RecoveryCode(staff_id=staff.id, code_hash=_recovery_hash(raw)))
    return codes


def enrol(session: Session, staff: Staff, secret: str, code: str, now: dt.datetime | None = None) -> list[str]:
    """Keep ``secret`` as ``staff``'s second factor if ``code`` is right for it; the ten new recovery
    codes (shown once). A wrong code: :class:`ValidationFailed`, nothing kept."""
    digits = _digits(code)
    if not re.fullmatch(r"[A-Z2-7]{16,64}", secret):
        raise ValidationFailed(N_("The set-up has expired. Start again."), code="setup_expired",
                               fields={"code": N_("Start again.")})
    step = _step(secret, digits, now or utcnow()) if digits else None
    if step is None:
        raise ValidationFailed(N_("That code is not right. Type the six digits the app shows now."),
                               fields={"code": N_("Not the code the app shows.")})
    staff.totp_secret, staff.totp_last_step = secret, step
    codes = _new_recovery_codes(session, staff)
    audit.record(session, f"staff:{staff.id}", "second_factor_enrolled", subject=f"staff:{staff.id}")
    return codes


def check(session: Session, staff: Staff, code: str, now: dt.datetime | None = None) -> str:
    """Accept ``code`` (a TOTP code or an unused recovery code) for ``staff``: ``totp`` or
    ``recovery_code``. Wrong or already used: :class:`NotAuthenticated`, nothing changed."""
    if staff.totp_secret is None:
        raise NotAuthenticated(N_("No second factor is set up for this account."))
    digits = _digits(code)
    if digits is not None:
        step = _step(staff.totp_secret, digits, now or utcnow())
        if step is not None and staff.totp_last_step is not None and step <= staff.totp_last_step:
            raise NotAuthenticated(N_("That code has been used already. Wait for the next one."),
                                   code="code_used")
        if step is None:
            raise NotAuthenticated(N_("That code is not right."), code="wrong_code")
        staff.totp_last_step = step
        return "totp"
    row = session.scalar(select(RecoveryCode).where(RecoveryCode.staff_id == staff.id,
                                                    RecoveryCode.code_hash == _recovery_hash(code)))
    if row is None or row.used_at is not None:
        raise NotAuthenticated(N_("That code is not right."), code="wrong_code")
    row.used_at = utcnow()
    return "recovery_code"


def recovery_codes_left(session: Session, staff: Staff) -> int:
    return len(session.scalars(select(RecoveryCode.id).where(RecoveryCode.staff_id == staff.id,
                                                             RecoveryCode.used_at.is_(None))).all())


def remove(session: Session, staff: Staff, actor: str) -> None:
    """Take ``staff``'s second factor away (a lost phone and lost codes): they set a new one up at
    their next sign-in (an administrator must)."""
    staff.totp_secret, staff.totp_last_step = None, None
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff.id))
    audit.record(session, actor, "second_factor_removed", subject=f"staff:{staff.id}")
