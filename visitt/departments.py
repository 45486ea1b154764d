"""Departments in the admin console: name, phone number (in patients' SMS and on their pages), whether
the department offers video consultations at all (booking for one that does not is refused), and the
clinicians it lists on the portal (``Staff.portal``, changed on each account).

An admin creates departments; a department admin changes their own. Every change is one audit row with
the values before and after (a department's name and number are the hospital's, not personal data).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import access, phones
from visitt import text as human
from visitt.errors import Conflict, Forbidden, ValidationFailed
from visitt.store import audit
from visitt.store.models import Department, Role, Staff
from visitt.web.i18n import N_


class DepartmentCreate(BaseModel):
    name: str = Field(max_length=200)
    phone: str = Field(default="", max_length=40)
    offers_video: bool = True


class DepartmentUpdate(BaseModel):
    """Only the fields given change."""

    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    offers_video: bool | None = None


class DepartmentPublic(BaseModel):
    id: int
    name: str
    phone: str
    offers_video: bool
    portal_clinician_ids: list[int]  # the clinicians it lists on the portal


def portal_clinicians(session: Session, department: Department) -> list[Staff]:
    return list(session.scalars(select(Staff).where(
        Staff.department_id == department.id, Staff.portal.is_(True), Staff.active.is_(True),
        Staff.role == Role.clinician).order_by(Staff.full_name)))


def public(session: Session, department: Department) -> DepartmentPublic:
    return DepartmentPublic(id=department.id, name=department.name, phone=department.phone,
                            offers_video=department.offers_video,
                            portal_clinician_ids=[staff.id for staff in portal_clinicians(session, department)])


def listed(session: Session, actor: Staff) -> list[Department]:
    """The departments ``actor`` administers, by name."""
    access.require_admin(actor)
    return list(session.scalars(select(Department).where(access.administered_departments(actor))
                                .order_by(Department.name)))


def _facts(department: Department) -> dict[str, Any]:
    return {"name": department.name, "phone": department.phone, "offers_video": department.offers_video}


def _checked(session: Session, department_id: int | None, name: str | None, phone: str | None) -> dict[str, str]:
    """The name (shown to patients on the portal) and the number, checked and written as kept."""
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if name is not None:
        values["name"] = human.one_line(name)
        if human.refused(name):
            errors["name"] = human.NAME_REFUSED
        elif not values["name"]:
            errors["name"] = N_("Enter the department's name.")
        elif session.scalar(select(Department.id).where(Department.name == values["name"],
                                                        Department.id != (department_id or 0))) is not None:
            raise Conflict(N_("A department with that name already exists."), fields={"name": N_("Already in use.")})
    if phone is not None:
        values["phone"] = phones.written(phone) if phone.strip() else ""
        if phone.strip() and not phones.possible(phone):
            errors["phone"] = N_("Enter a phone number, for example 69 86 00 00 or +47 69 86 00 00.")
    if errors:
        raise ValidationFailed(N_("The department could not be saved."), fields=errors)
    return values


def create(session: Session, actor: Staff, data: DepartmentCreate) -> Department:
    access.require_admin(actor)
    if actor.role is not Role.admin:
        raise Forbidden(N_("Only an admin creates departments."))
    values = _checked(session, None, data.name, data.phone)
    department = Department(name=values["name"], phone=values["phone"], offers_video=data.offers_video)
    session.add(department)
    session.flush()
    audit.record(session, f"staff:{actor.id}", "department_created", subject=f"department:{department.id}",
                 after=_facts(department))
    return department


def update(session: Session, actor: Staff, department: Department, change: DepartmentUpdate) -> Department:
    """Change a department ``actor`` administers (loaded with :func:`visitt.access.administered_department`)."""
    before = _facts(department)
    values = _checked(session, department.id, change.name, change.phone)
    department.name = values.get("name", department.name)
    department.phone = values.get("phone", department.phone)
    if change.offers_video is not None:
        department.offers_video = change.offers_video
    after = _facts(department)
    if after != before:
        audit.record(session, f"staff:{actor.id}", "department_changed", subject=f"department:{department.id}",
                     changes={key: {"before": before[key], "after": after[key]}
                              for key in after if after[key] != before[key]})
    return department
