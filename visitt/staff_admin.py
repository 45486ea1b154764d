"""Staff accounts in the admin console: list and search, invite, change, deactivate and reactivate,
and the one-time links that set a password (an invitation, or a reset by an administrator).

Every operation takes the administrator doing it and asks :mod:`visitt.access` first; every change is
one audit row with the values before and after (roles, departments, flags - a name or an e-mail
address only as "changed", never its value: the audit trail holds no personal data).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session, object_session

from visitt import access, accounts, password_reset
from visitt import text as human
from visitt.ids import RowId
from visitt.errors import Conflict, Forbidden, NotFound, ValidationFailed
from visitt.messaging import mail
from visitt.store import audit
from visitt.store.models import Department, Role, Staff, StaffLink, WebSession, utcnow
from visitt.web.i18n import N_

LINK_DAYS = 7  # how long an invitation or a reset link works
PAGE = 500  # the most accounts one search lists


class StaffCreate(BaseModel):
    """An invitation: the account stays inactive until its one-time link is used."""

    email: str = Field(max_length=254)
    full_name: str = Field(max_length=200)
    role: Role = Role.clinician
    department_ids: list[RowId] = Field(default_factory=list, max_length=50)


class StaffUpdate(BaseModel):
    """Only the fields given change."""

    full_name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    department_ids: list[RowId] | None = Field(default=None, max_length=50)
    portal: bool | None = None


class StaffPublic(BaseModel):
    id: int
    email: str
    full_name: str
    role: Role
    status: str  # active, invited (link not used yet) or inactive
    department_ids: list[int]
    home_department_id: int | None
    portal: bool
    last_sign_in_at: dt.datetime | None
    trained_at: dt.datetime | None = None  # the training gate (``training.py``): null until recorded
    training_source: str = ""  # "course", "recorded by <e-mail>", "before the training gate", ...


class LinkPublic(BaseModel):
    """A one-time link, shown once: only its hash is kept."""

    url: str
    expires_at: dt.datetime


class StaffInvited(BaseModel):
    staff: StaffPublic
    link: LinkPublic


def _open_invitation() -> ColumnElement[bool]:
    """An account that has never set a password and has an invitation link that still works."""
    return (Staff.password_hash == "") & select(StaffLink.id).where(
        StaffLink.staff_id == Staff.id, StaffLink.purpose == "invite", StaffLink.used_at.is_(None),
        StaffLink.expires_at > utcnow()).exists()


def status(staff: Staff) -> str:
    """``active``, ``invited`` (never signed in; the invitation link still works) or ``inactive``
    (deactivated, or an invitation withdrawn or run out)."""
    if staff.active:
        return "active"
    session = object_session(staff)
    invited = session is not None and session.scalar(select(Staff.id).where(Staff.id == staff.id, _open_invitation()))
    return "invited" if invited else "inactive"


def public(staff: Staff) -> StaffPublic:
    return StaffPublic(id=staff.id, email=staff.email, full_name=staff.full_name, role=staff.role,
                       status=status(staff), department_ids=sorted(access.department_ids(staff)),
                       home_department_id=staff.department_id, portal=staff.portal,
                       last_sign_in_at=staff.last_sign_in_at, trained_at=staff.trained_at,
                       training_source=staff.training_source)


def _facts(staff: Staff) -> dict[str, Any]:
    """What the audit trail keeps of an account's state: no name, no address."""
    return {"role": staff.role.value, "departments": sorted(access.department_ids(staff)), "active": staff.active,
            "portal": staff.portal}


def search(session: Session, actor: Staff, *, text: str = "", role: Role | None = None,
           department_id: int | None = None, state: str = "") -> list[Staff]:
    """The accounts ``actor`` administers matching every filter given, by name: ``text`` in the name or
    the e-mail address, ``state`` one of :func:`status`'s answers."""
    access.require_admin(actor)
    query = select(Staff).where(access.administered_staff(actor)).order_by(Staff.full_name, Staff.id).limit(PAGE)
    if text.strip():
        pattern = f"%{text.strip().lower()}%"
        query = query.where(or_(func.lower(Staff.full_name).like(pattern), Staff.email.like(pattern)))
    if role is not None:
        query = query.where(Staff.role == role)
    if department_id is not None:
        query = query.where(Staff.departments.any(Department.id == department_id)
                            | (Staff.department_id == department_id))
    if state == "active":
        query = query.where(Staff.active.is_(True))
    elif state == "invited":
        query = query.where(Staff.active.is_(False), _open_invitation())
    elif state == "inactive":
        query = query.where(Staff.active.is_(False), ~_open_invitation())
    return list(session.scalars(query))


def _departments(session: Session, actor: Staff, ids: list[int], errors: dict[str, str]) -> list[Department]:
    found = list(session.scalars(select(Department).where(Department.id.in_(ids)))) if ids else []
    if len(found) != len(set(ids)):
        errors["department_ids"] = N_("Choose departments from the list.")
    return found


def _check_name(full_name: str, errors: dict[str, str]) -> str:
    name = human.one_line(full_name)
    if human.refused(full_name):
        errors["full_name"] = human.NAME_REFUSED
    elif not name:
        errors["full_name"] = N_("Enter the full name.")
    return name


def _grant(actor: Staff, role: Role, departments: set[int]) -> None:
    if not access.may_grant(actor, role, departments):
        raise Forbidden(N_("You may give only your own departments, and only an admin makes admins."))


def _new_link(session: Session, staff: Staff, purpose: str, base_url: str) -> LinkPublic:
    """Spend ``staff``'s open links and make a new one."""
    _spend_links(session, staff)
    token = accounts.new_secret()
    link = StaffLink(staff_id=staff.id, purpose=purpose, token_hash=accounts.digest(token),
                     expires_at=utcnow() + dt.timedelta(days=LINK_DAYS))
    session.add(link)
    return LinkPublic(url=f"{base_url}/staff/welcome/{token}", expires_at=link.expires_at)


def _spend_links(session: Session, staff: Staff) -> None:
    for link in session.scalars(select(StaffLink).where(StaffLink.staff_id == staff.id, StaffLink.used_at.is_(None))):
        link.used_at = utcnow()


def invite(session: Session, actor: Staff, data: StaffCreate, *, base_url: str) -> tuple[Staff, LinkPublic]:
    """A new account, inactive until its one-time sign-up link is used; the link, to show once."""
    access.require_admin(actor)
    errors: dict[str, str] = {}
    email = mail.normalise_address(data.email)
    if email is None:
        errors["email"] = N_("Enter a valid e-mail address.")
    name = _check_name(data.full_name, errors)
    departments = _departments(session, actor, data.department_ids, errors)
    if not departments and actor.role is Role.department_admin and "department_ids" not in errors:
        errors["department_ids"] = N_("Choose at least one of your departments.")
    if errors:
        raise ValidationFailed(N_("The account could not be created."), fields=errors)
    assert email is not None
    email = email.lower()
    _grant(actor, data.role, {department.id for department in departments})
    if session.scalar(select(Staff).where(Staff.email == email)) is not None:
        raise Conflict(N_("An account with that e-mail address already exists."),
                       fields={"email": N_("Already in use.")})
    staff = Staff(email=email, full_name=name, role=data.role, password_hash="", active=False,
                  department=departments[0] if departments else None, departments=departments)
    session.add(staff)
    session.flush()
    link = _new_link(session, staff, "invite", base_url)
    audit.record(session, f"staff:{actor.id}", "staff_invited", subject=f"staff:{staff.id}", after=_facts(staff))
    return staff, link


def update(session: Session, actor: Staff, staff: Staff, change: StaffUpdate) -> Staff:
    """Change the name, role, departments or portal listing of an account ``actor`` administers."""
    before = _facts(staff)
    errors: dict[str, str] = {}
    name = _check_name(change.full_name, errors) if change.full_name is not None else staff.full_name
    role = change.role or staff.role
    departments = list(staff.departments)
    if change.department_ids is not None:
        given = _departments(session, actor, change.department_ids, errors)
        if actor.role is Role.admin:
            departments = given
        else:  # a department admin changes only their own departments of the account
            mine = access.department_ids(actor)
            if not {department.id for department in given} <= mine:
                raise Forbidden(N_("You may give only your own departments, and only an admin makes admins."))
            departments = [d for d in departments if d.id not in mine] + given
    portal = staff.portal if change.portal is None else change.portal
    home = staff.department if staff.department in departments else (departments[0] if departments else None)
    if portal and (role is not Role.clinician or home is None):
        if change.portal:
            errors["portal"] = N_("Only a clinician with a department can be listed on the portal.")
        portal = False  # no longer a clinician with a department: off the portal
    if errors:
        raise ValidationFailed(N_("The account could not be changed."), fields=errors)
    if change.role not in (None, staff.role):
        _grant(actor, role, set())
    if staff.id == actor.id and role is not staff.role:
        raise Forbidden(N_("You cannot change your own role."))
    renamed = name != staff.full_name
    staff.full_name, staff.role, staff.departments, staff.department, staff.portal = \
        name, role, departments, home, portal
    after = _facts(staff)
    if after != before or renamed:
        changed = {key: {"before": before[key], "after": after[key]} for key in after if after[key] != before[key]}
        if renamed:
            changed["full_name"] = {"before": "…", "after": "changed"}
        audit.record(session, f"staff:{actor.id}", "staff_changed", subject=f"staff:{staff.id}", changes=changed)
    return staff


def deactivate(session: Session, actor: Staff, staff: Staff) -> Staff:
    """No more sign-ins, sessions, API tokens or open links for the account, and its live sockets closed
    on every node (:func:`visitt.accounts.deactivate`, audited there); its data stays."""
    if staff.id == actor.id:
        raise Forbidden(N_("You cannot deactivate your own account."))
    if status(staff) == "invited":  # an invitation withdrawn: its link stops working (below)
        access.require_administer(actor, staff)
        audit.record(session, f"staff:{actor.id}", "user_deactivated", subject=f"staff:{staff.id}",
                     sessions_ended=0, tokens_revoked=0)
    else:
        accounts.deactivate(session, actor, staff)
    staff.portal = False
    _spend_links(session, staff)
    return staff


def reactivate(session: Session, actor: Staff, staff: Staff) -> Staff:
    if not staff.active and not staff.password_hash:
        raise Conflict(N_("The invitation has not been accepted yet: send a new link instead."))
    accounts.reactivate(session, actor, staff)
    return staff


def password_link(session: Session, actor: Staff, staff: Staff, *, base_url: str, hours: int) -> LinkPublic:
    """A one-time link to set a new password (:mod:`visitt.password_reset`, valid ``hours``); for an
    account not yet set up, a new invitation link."""
    if staff.active:
        url = password_reset.create_link(session, actor, staff, base_url=base_url, hours=hours)
        return LinkPublic(url=url, expires_at=utcnow() + dt.timedelta(hours=hours))
    if staff.password_hash:
        raise Conflict(N_("The account is inactive: reactivate it first."))
    link = _new_link(session, staff, "invite", base_url)
    audit.record(session, f"staff:{actor.id}", "password_link", subject=f"staff:{staff.id}", purpose="invite")
    return link


def open_link(session: Session, token: str) -> StaffLink:
    """The unspent, unexpired link with this token, else :class:`NotFound`."""
    link = session.scalar(select(StaffLink).where(StaffLink.token_hash == accounts.digest(token)))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        raise NotFound(N_("This link has been used or has expired. Ask your administrator for a new one."))
    return link


def use_link(session: Session, token: str, password: str, repeated: str) -> Staff:
    """Set the password through a one-time link; an invitation's account becomes active. Every other
    session of the account ends (a reset is often made because someone else may know the password)."""
    link = open_link(session, token)
    if len(password) < accounts.MIN_PASSWORD:
        raise ValidationFailed(N_("The password could not be set."),
                               fields={"password": N_("Use at least 10 characters.")})
    if password != repeated:
        raise ValidationFailed(N_("The password could not be set."),
                               fields={"repeated": N_("The two passwords are not the same.")})
    staff = link.staff
    staff.password_hash = accounts.hash_password(password)
    if link.purpose == "invite":
        staff.active = True
    link.used_at = utcnow()
    session.execute(delete(WebSession).where(WebSession.staff_id == staff.id))
    audit.record(session, f"staff:{staff.id}", "account_set_up", subject=f"staff:{staff.id}", purpose=link.purpose)
    return staff
