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
secretary  their departments'                           never                                        never
department their departments'                           never                                        never
admin
admin      all                                          never                                        never
========== ============================================ =========================================== ==================

A staff meeting (``visitt/meetings.py``: a room with no appointment and no patient, where health personnel
discuss patients) is managed by its host alone, whatever the role of anyone else: not by the departments'
secretaries, not by an administrator. A colleague invited by account takes part through ``cohost`` on their
own invitation, as for a consultation, and sees the meeting (:func:`meeting`) but may not move or cancel it
(:func:`managed_meeting`); anyone else - a clinician of another department, say - finds no such meeting.

"Trained" is the training gate (``visitt/training.py``, routine 003 §3.1): until their training is
recorded, a clinician neither hosts nor joins as co-host; :func:`require` and
:func:`cohost_invitation` say so with ``training_required``.

Staff accounts (deactivate, reactivate, make a password-reset link, take the second factor away) are
administered by whoever may administer them in the admin console (below), but never one's own (an
administrator cannot lock themself out).

The admin console (``administer``: see and change staff accounts, departments, API tokens, and read the
audit trail) is for two roles: ``admin`` everywhere, ``department_admin`` for the departments they
belong to - the accounts with a department among theirs, those departments, those accounts' API tokens
and the audit events about them. A department admin never changes an admin, makes anyone an admin, or
gives a department that is not theirs.

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
from visitt.store.models import Appointment, Department, Meeting, Participant, Role, Room, Staff, staff_departments

# Roles that work for departments: they see their departments' appointments (and book for them).
DEPARTMENT_ROLES = (Role.secretary, Role.department_admin)
ADMIN_ROLES = (Role.admin, Role.department_admin)


class Action(str, enum.Enum):
    manage = "manage"
    cohost = "cohost"


Thing = Appointment | Room | Participant


def _department_of(thing: Appointment | Room) -> int | None:
    if isinstance(thing, Appointment):
        return thing.department_id
    return thing.host.department_id  # a portal visit's room: its clinician's department


def department_ids(staff: Staff) -> set[int]:
    """Every department ``staff`` belongs to: the home one and the others."""
    ids = {department.id for department in staff.departments}
    if staff.department_id is not None:
        ids.add(staff.department_id)
    return ids


def may(staff: Staff, action: Action, thing: Thing) -> bool:
    """Whether ``staff`` may do ``action`` to ``thing``: the one permission rule (see the module's table)."""
    if not staff.active:
        return False
    if action is Action.cohost:
        return (isinstance(thing, Participant) and staff.role is Role.clinician and training.is_trained(staff)
                and thing.staff_id is not None and thing.staff_id == staff.id)
    if isinstance(thing, Participant):
        thing = thing.room
    if isinstance(thing, Room) and thing.meeting is not None:  # a staff meeting: its host's alone
        return staff.role is Role.clinician and thing.host_id == staff.id
    if isinstance(thing, Room) and thing.appointment is not None:
        thing = thing.appointment
    if staff.role is Role.admin:
        return True
    if staff.role is Role.clinician:
        owner = thing.clinician_id if isinstance(thing, Appointment) else thing.host_id
        return owner == staff.id
    if staff.role in DEPARTMENT_ROLES:
        return _department_of(thing) in department_ids(staff)
    return False


def managed_appointments(staff: Staff) -> ColumnElement[bool]:
    """The same rule as :func:`may` for ``manage``, as a filter on :class:`Appointment` for a list."""
    if not staff.active:
        return false()
    if staff.role is Role.admin:
        return true()
    if staff.role is Role.clinician:
        return Appointment.clinician_id == staff.id
    if staff.role in DEPARTMENT_ROLES:
        return Appointment.department_id.in_(department_ids(staff))
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


def invited(staff: Staff, room: Room) -> Participant | None:
    """``staff``'s own invitation into ``room`` as co-host, if they have one they may use."""
    for participant in room.participants:
        if participant.staff_id == staff.id and may(staff, Action.cohost, participant):
            return participant
    return None


def meeting(session: Session, staff: Staff, meeting_id: int) -> Meeting:
    """The staff meeting ``staff`` hosts or is invited to as co-host, or :class:`NotFound`."""
    found = session.get(Meeting, meeting_id)
    if found is None or not (may(staff, Action.manage, found.room) or invited(staff, found.room) is not None):
        raise NotFound(N_("No such meeting."))
    return found


def managed_meeting(session: Session, staff: Staff, meeting_id: int) -> Meeting:
    """The staff meeting ``staff`` may change or cancel (its host alone), or :class:`NotFound`: an invited
    colleague, who may see it, is answered as anyone else is."""
    found = session.get(Meeting, meeting_id)
    if found is None or not may(staff, Action.manage, found.room):
        raise NotFound(N_("No such meeting."))
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

# The admin console -----------------------------------------------------------------------------------

def administers(staff: Staff) -> bool:
    """Whether ``staff`` may open the admin console at all."""
    return staff.active and staff.role in ADMIN_ROLES


def require_admin(staff: Staff) -> None:
    if not administers(staff):
        raise Forbidden(N_("Only administrators may use the admin console."))


def administered_departments(staff: Staff) -> ColumnElement[bool]:
    """The departments ``staff`` administers, as a filter on :class:`Department`."""
    if not administers(staff):
        return false()
    if staff.role is Role.admin:
        return true()
    return Department.id.in_(department_ids(staff))


def administered_staff(staff: Staff) -> ColumnElement[bool]:
    """The accounts ``staff`` administers, as a filter on :class:`Staff`: for a department admin, every
    account but an admin's with a department among theirs (home or other)."""
    if not administers(staff):
        return false()
    if staff.role is Role.admin:
        return true()
    ids = department_ids(staff)
    members = select(staff_departments.c.staff_id).where(staff_departments.c.department_id.in_(ids))
    return (Staff.id.in_(members) | Staff.department_id.in_(ids)) & (Staff.role != Role.admin)


def may_administer(staff: Staff, thing: Staff | Department) -> bool:
    """Whether ``staff`` may see and change this account or department in the admin console."""
    if not administers(staff):
        return False
    if staff.role is Role.admin:
        return True
    if isinstance(thing, Department):
        return thing.id in department_ids(staff)
    return thing.role is not Role.admin and bool(department_ids(thing) & department_ids(staff))


def administered_account(session: Session, staff: Staff, staff_id: int) -> Staff:
    """The account ``staff_id`` if ``staff`` administers it, else :class:`NotFound`."""
    require_admin(staff)
    found = session.get(Staff, staff_id)
    if found is None or not may_administer(staff, found):
        raise NotFound(N_("No such staff account."))
    return found


def administered_department(session: Session, staff: Staff, department_id: int) -> Department:
    """The department ``department_id`` if ``staff`` administers it, else :class:`NotFound`."""
    require_admin(staff)
    found = session.get(Department, department_id)
    if found is None or not may_administer(staff, found):
        raise NotFound(N_("No such department."))
    return found


def may_grant(staff: Staff, role: Role, departments: set[int]) -> bool:
    """Whether ``staff`` may give an account ``role`` in ``departments`` (only an admin makes admins;
    a department admin gives only their own departments)."""
    if staff.role is Role.admin:
        return administers(staff)
    return administers(staff) and role is not Role.admin and departments <= department_ids(staff)


def require_administer(staff: Staff, target: Staff) -> None:
    """Inside an account operation (deactivate, reactivate, reset link, second factor): refuse it (403)
    unless ``staff`` administers ``target`` (:func:`may_administer`) and it is not their own."""
    if not may_administer(staff, target) or staff.id == target.id:
        raise Forbidden(N_("Only an administrator may change another staff member's account."))
