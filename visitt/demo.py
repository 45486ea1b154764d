"""Demo data: one department, two clinicians (one on the portal), a secretary and an admin, their training
recorded (source "demo data") so that the demo can host at once. Idempotent."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import accounts, training
from visitt.store.models import Department, Role, Staff, utcnow

PASSWORD = "visitt-demo-2026"
DEPARTMENT = ("Poliklinikk for psykisk helse", "+47 69 86 00 00")
PEOPLE = (
    ("lege@demo.visitt.no", Role.clinician, "Dr. Ingrid Berg"),
    ("psykolog@demo.visitt.no", Role.clinician, "Ola Hansen"),
    ("sekretaer@demo.visitt.no", Role.secretary, "Sara Lie"),
)
ADMIN = ("admin@demo.visitt.no", Role.admin, "Eva Dahl")  # the admin console (/staff/admin)
PORTAL = frozenset({"lege@demo.visitt.no"})  # takes unscheduled video visitors; Ola Hansen does not


def seed(session: Session) -> list[tuple[str, str, str]]:
    """Create what is missing; returns ``(email, role, name)`` for each demo login."""
    department = session.scalar(select(Department).where(Department.name == DEPARTMENT[0]))
    if department is None:
        department = Department(name=DEPARTMENT[0], phone=DEPARTMENT[1])
        session.add(department)
        session.flush()
    for email, role, name in (*PEOPLE, ADMIN):
        staff = session.scalar(select(Staff).where(Staff.email == email))
        if staff is None:
            staff = accounts.create_staff(session, email=email, full_name=name, role=role, password=PASSWORD,
                                          department=department, portal=email in PORTAL)
        else:  # demo data from before the portal
            staff.portal = email in PORTAL
        if staff.trained_at is None:
            staff.trained_at, staff.training_source = utcnow(), training.DEMO
    return [(email, role.value, name) for email, role, name in (*PEOPLE, ADMIN)]
