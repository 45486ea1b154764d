"""The portal: the way to a clinician without an appointment (000, steps 3-4).

The address in the letter leads to a list of departments, then the department's clinicians who take
video visitors (``Staff.portal``), then the chosen clinician's door: the visitor types their full name
and gets a visit of their own - a new room hosted by the clinician, with no appointment, and one
invitation with a fresh opaque token. From there the visitor is on the same patient page as anyone
with an SMS link: device check, knock, waiting room, call.

A room per visit, not one room per clinician, because a room is one consultation: two visitors who
shared a room would be let into each other's consultation, and an ended room would have to be
reopened for the next. The clinician's "personal room" is the door, not a row.

Visits are counted per client address by the limiter (rule ``portal_address``, like code entry's
attempts), so the portal cannot be used to fill a clinician's waiting room from one machine. See ``docs/portal.md``.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from visitt.store import audit
from visitt import text as human
from visitt.accounts import digest, new_secret
from visitt.errors import ValidationFailed
from visitt.web.i18n import N_
from visitt.limiter import Limiter, address_label
from visitt.store.models import Department, Participant, Role, Room, Staff
from visitt.settings import Settings

log = logging.getLogger("visitt.portal")
MAX_NAME = 200


def _listed() -> Select[Staff]:
    """Clinicians the portal lists: active, clinician, taking visitors, in a department that offers video -
    and trained (the training gate: an untrained clinician has no waiting room to take a visitor into)."""
    offering = select(Department.id).where(Department.offers_video.is_(True))
    return select(Staff).where(Staff.role == Role.clinician, Staff.active.is_(True), Staff.portal.is_(True),
                               Staff.department_id.in_(offering), Staff.trained_at.is_not(None))


def departments(session: Session) -> list[Department]:
    """Departments with at least one listed clinician, by name."""
    with_clinicians = _listed().with_only_columns(Staff.department_id)
    return list(session.scalars(select(Department).where(Department.id.in_(with_clinicians))
                                .order_by(Department.name)))


def clinicians(session: Session, department_id: int) -> list[Staff]:
    """The listed clinicians of one department, by name."""
    return list(session.scalars(_listed().where(Staff.department_id == department_id).order_by(Staff.full_name)))


def clinician(session: Session, department_id: int, clinician_id: int) -> Staff | None:
    """The listed clinician ``clinician_id`` of that department; ``None`` for anyone else."""
    return session.scalar(_listed().where(Staff.id == clinician_id, Staff.department_id == department_id))


def check_name(text: str) -> str:
    """The visitor's full name with spaces tidied, or :class:`ValidationFailed` for the ``name`` field."""
    name = human.one_line(text)
    if human.refused(text):
        raise ValidationFailed(human.NAME_REFUSED, code=human.CODE, fields={"name": human.NAME_REFUSED})
    if not name:
        raise ValidationFailed(N_("Enter your full name."), fields={"name": N_("Enter your full name.")})
    if len(name) > MAX_NAME:
        message = N_("The name is too long (200 characters at most).")  # MAX_NAME
        raise ValidationFailed(message, fields={"name": message})
    return name


def count_visit(address: str, settings: Settings, limiter: Limiter) -> None:
    """Count one visit from ``address``, or raise :class:`~visitt.errors.RateLimited` once it has made
    ``portal_visits_per_address`` within the look-back; refused visits are not counted."""
    limiter.count("portal_address", address, message=N_("Too many visits"), code="too_many_visits")
    if not limiter.test("portal_address", address):
        log.warning("portal visit limit reached for address %s: %d visits; refused for up to %d minutes",
                    address_label(address), settings.portal_visits_per_address, settings.portal_visit_minutes)


def open_visit(session: Session, host: Staff, name: str, address: str, settings: Settings,
               limiter: Limiter) -> tuple[Participant, str]:
    """A new visit to ``host`` for the visitor ``name``: their room and invitation, counted against
    ``address`` and audited. Returns the invitation and its token (the only clear copy of it).

    The invitation has no six-digit code (``""`` never matches one) and no phone number: the visitor
    came by the portal, not by SMS.
    """
    count_visit(address, settings, limiter)
    room = Room(public_id=secrets.token_urlsafe(12), host_id=host.id)
    token = new_secret()
    visitor = Participant(public_id=secrets.token_urlsafe(9), room=room, kind="patient", token_hash=digest(token),
                          code="", phone="", display_name=name)
    session.add_all([room, visitor])
    session.flush()
    who = f"participant:{visitor.public_id}"
    audit.record(session, who, "portal_visit", room_id=room.id, subject=who, clinician=host.id)
    return visitor, token
