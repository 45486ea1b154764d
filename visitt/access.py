"""Who may do what to which object: one rule, asked by every page, API route and socket that names
an object in its URL, and used as the filter of every list of them.

The rule (role × action):

========== ============================================ =========================================== ==================
role       ``manage`` an appointment, its room and its   ``cohost`` an invitation                     host calls
           participants (see it and its code, move,                                                  (:func:`may_host`)
           cancel, record a no-show, invite)
========== ============================================ =========================================== ==================
clinician  their own (they are its clinician; for a     the invitation that names their account,     their own, once
           portal visit: its host)                      once trained                                 trained
secretary  their department's                           never                                        never
admin      all                                          never                                        never
========== ============================================ =========================================== ==================

"Trained" is the training gate (``visitt/training.py``, routine 003 §3.1): until their training is
recorded, a clinician neither hosts nor joins as co-host; :func:`require` and
:func:`cohost_invitation` say so with ``training_required``.

An object the caller may not manage is answered exactly as one that does not exist (404): the
answer does not tell a stranger which ids are in use.
"""

from __future__ import annotations

import enum

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from visitt import training
from visitt.errors import Forbidden, NotFound
from visitt.web.i18n import N_
from visitt.store.models import Appointment, Participant, Role, Room, Staff


class Action(str, enum.Enum):
    manage = "manage"
    cohost = "cohost"


Thing = Appointment | Room | Participant


def _department_of(thing: Appointment | Room) -> int | None:
    if isinstance(thing, Appointment):
        return thing.department_id
    return thing.host.department_id  # a portal visit's room: its clinician's department


def may(staff: Staff, action: Action, thing: Thing) -> bool:
    """Whether ``staff`` may do ``action`` to ``thing``: the one permission rule (see the module's table)."""
    if not staff.active:
        return False
    if action is Action.cohost:
        return (isinstance(thing, Participant) and staff.role is Role.clinician and training.is_trained(staff)
                and thing.staff_id is not None and thing.staff_id == staff.id)
    if isinstance(thing, Participant):
        thing = thing.room
    if isinstance(thing, Room) and thing.appointment is not None:
        thing = thing.appointment
    if staff.role is Role.admin:
        return True
    if staff.role is Role.clinician:
        owner = thing.clinician_id if isinstance(thing, Appointment) else thing.host_id
        return owner == staff.id
    if staff.role is Role.secretary:
        return staff.department_id is not None and _department_of(thing) == staff.department_id
    return False


def managed_appointments(staff: Staff) -> ColumnElement[bool]:
    """The same rule as :func:`may` for ``manage``, as a filter on :class:`Appointment` for a list."""
    if not staff.active:
        return false()
    if staff.role is Role.admin:
        return true()
    if staff.role is Role.clinician:
        return Appointment.clinician_id == staff.id
    if staff.role is Role.secretary and staff.department_id is not None:
        return Appointment.department_id == staff.department_id
    return false()


def appointment(session: Session, staff: Staff, appointment_id: int) -> Appointment:
    """The appointment ``staff`` may manage, or :class:`NotFound`."""
    found = session.get(Appointment, appointment_id)
    if found is None or not may(staff, Action.manage, found):
        raise NotFound(N_("No such appointment."))
    return found


def room(session: Session, staff: Staff, public_id: str) -> Room:
    """The room (by its public id) ``staff`` may manage, or :class:`NotFound`."""
    found = session.scalar(select(Room).where(Room.public_id == public_id))
    if found is None or not may(staff, Action.manage, found):
        raise NotFound(N_("No such consultation."))
    return found


def cohost_invitation(session: Session, staff: Staff, public_id: str) -> Participant:
    """The invitation (by its public id) naming ``staff`` as co-host, or :class:`NotFound`."""
    found = session.scalar(select(Participant).where(Participant.public_id == public_id))
    if found is not None and found.staff_id == staff.id:
        training.require_trained(staff)  # theirs, but not yet: say why
    if found is None or not may(staff, Action.cohost, found):
        raise NotFound(N_("No such consultation."))
    return found


def require(staff: Staff, action: Action, thing: Thing) -> None:
    """Inside an operation: refuse it (403) if its caller did not load ``thing`` through the checks above."""
    if action is Action.cohost:
        training.require_trained(staff)
    if not may(staff, action, thing):
        raise Forbidden(N_("You may not change this consultation."))


def may_host(staff: Staff) -> bool:
    """Whether ``staff`` may host calls at all (the staff socket that carries their rooms): an active,
    trained clinician. Each room is then checked against its host (``visitt.live.permissions``)."""
    return staff.active and staff.role is Role.clinician and training.is_trained(staff)
