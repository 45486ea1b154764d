"""The admin console on the command line: ``visitt users list|invite|set|deactivate|reactivate|reset-link``,
``visitt departments list|add|set`` and ``visitt audit search|export``.

Each command acts as the admin account named by ``--as`` (an admin or a department admin): the same
operations, permissions and audit rows as the console's pages and the JSON API.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import access, audit_trail, departments, staff_admin
from visitt.errors import ValidationFailed
from visitt.settings import Settings
from visitt.store.db import Database
from visitt.store.models import Department, Role, Staff
from visitt.web.i18n import N_

Command = Callable[[argparse.Namespace], None]


@contextmanager
def _as_admin(settings: Settings, email: str) -> Iterator[tuple[Database, Session, Staff]]:
    database = Database.from_settings(settings)
    database.upgrade()
    try:
        with database.session() as session:
            actor = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
            if actor is None or not access.administers(actor):
                raise ValidationFailed(N_("Only administrators may use the admin console."),
                                       fields={"as": "not an active admin or department admin account"})
            yield database, session, actor
    finally:
        database.dispose()


def _account(session: Session, actor: Staff, email: str) -> Staff:
    found = session.scalar(select(Staff.id).where(Staff.email == email.strip().lower()))
    if found is None:
        raise ValidationFailed(N_("No staff account has that e-mail address."), fields={"email": "unknown"})
    return access.administered_account(session, actor, found)


def _department_ids(session: Session, names: list[str] | None) -> list[int] | None:
    if names is None:
        return None
    ids = []
    for name in names:
        found = session.scalar(select(Department.id).where(Department.name == name))
        if found is None:
            raise ValidationFailed(N_("Choose departments from the list."), fields={"department": name})
        ids.append(found)
    return ids


def _department(session: Session, actor: Staff, name: str) -> Department:
    found = session.scalar(select(Department.id).where(Department.name == name))
    if found is None:
        raise ValidationFailed(N_("No such department."), fields={"department": name})
    return access.administered_department(session, actor, found)


def _print_staff(staff: Staff) -> None:
    names = ", ".join(department.name for department in staff.departments) or "-"
    last = f"{staff.last_sign_in_at:%Y-%m-%d %H:%M}" if staff.last_sign_in_at else "-"
    print(f"{staff.id:>5}  {staff.email:<32} {staff.role.value:<16} {staff_admin.status(staff):<8} {last:<16} "
          f"{staff.full_name} [{names}]")


def users_list(settings: Settings, args: argparse.Namespace) -> None:
    with _as_admin(settings, args.admin) as (_db, session, actor):
        department = _department_ids(session, [args.department]) if args.department else None
        found = staff_admin.search(session, actor, text=args.search or "", role=Role(args.role) if args.role else None,
                                   department_id=department[0] if department else None, state=args.status or "")
        print(f"{'id':>5}  {'e-mail':<32} {'role':<16} {'status':<8} {'last sign-in':<16} name [departments]")
        for staff in found:
            _print_staff(staff)


def users_invite(settings: Settings, args: argparse.Namespace) -> None:
    with _as_admin(settings, args.admin) as (_db, session, actor):
        data = staff_admin.StaffCreate(email=args.email, full_name=args.name, role=Role(args.role),
                                       department_ids=_department_ids(session, args.department or []) or [])
        _staff, link = staff_admin.invite(session, actor, data, base_url=settings.public_url)
    print(link.url)  # alone on stdout, for scripts
    print(f"one-time sign-up link, valid until {link.expires_at:%Y-%m-%d %H:%M} UTC; it is not shown again",
          file=sys.stderr)


def users_set(settings: Settings, args: argparse.Namespace) -> None:
    with _as_admin(settings, args.admin) as (_db, session, actor):
        staff = _account(session, actor, args.email)
        change = staff_admin.StaffUpdate(full_name=args.name, role=Role(args.role) if args.role else None,
                                         department_ids=_department_ids(session, args.department),
                                         portal=None if args.portal is None else args.portal == "on")
        _print_staff(staff_admin.update(session, actor, staff, change))


def _print_department(session: Session, department: Department) -> None:
    listed = ", ".join(staff.full_name for staff in departments.portal_clinicians(session, department)) or "-"
    print(f"{department.id:>5}  {department.name:<32} {department.phone or '-':<18} "
          f"{'video' if department.offers_video else 'no video':<9} portal: {listed}")


def departments_list(settings: Settings, args: argparse.Namespace) -> None:
    with _as_admin(settings, args.admin) as (_db, session, actor):
        for department in departments.listed(session, actor):
            _print_department(session, department)


def departments_add(settings: Settings, args: argparse.Namespace) -> None:
    with _as_admin(settings, args.admin) as (_db, session, actor):
        department = departments.create(session, actor, departments.DepartmentCreate(
            name=args.name, phone=args.phone or "", offers_video=not args.no_video))
        _print_department(session, department)


def departments_set(settings: Settings, args: argparse.Namespace) -> None:
    with _as_admin(settings, args.admin) as (_db, session, actor):
        department = departments.update(session, actor, _department(session, actor, args.department),
                                        departments.DepartmentUpdate(
                                            name=args.name, phone=args.phone,
                                            offers_video=None if args.video is None else args.video == "on"))
        _print_department(session, department)


def _query(session: Session, actor: Staff, settings: Settings, args: argparse.Namespace) -> audit_trail.AuditQuery:
    return audit_trail.parse(session, actor, ZoneInfo(settings.timezone), person=args.person or "",
                             appointment=args.appointment or "", action=args.action or "", since=args.since or "",
                             until=args.until or "")


def audit_search(settings: Settings, args: argparse.Namespace) -> None:
    with _as_admin(settings, args.admin) as (_db, session, actor):
        found = audit_trail.search(session, actor, _query(session, actor, settings, args), args.page)
        for event in found.events:
            print(f"{event.id:>7}  {event.at:%Y-%m-%d %H:%M:%S}  {event.actor:<16} {event.action:<20} "
                  f"{event.subject or '-':<20} {event.detail}")
        if found.more:
            print(f"more: --page {found.page + 1}", file=sys.stderr)


def audit_export(settings: Settings, args: argparse.Namespace) -> None:
    with _as_admin(settings, args.admin) as (database, session, actor):
        query = _query(session, actor, settings, args)
        audit_trail.record_export(session, actor, query)
        actor_id = actor.id
    database = Database.from_settings(settings)
    try:
        for chunk in audit_trail.export(database, actor_id, query):
            sys.stdout.write(chunk)
    finally:
        database.dispose()


def add_commands(sub: Any, users: Any, with_data_dir: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
                 run: Callable[[Callable[[Settings, argparse.Namespace], None]], Command]) -> None:
    """Add the commands to ``visitt``'s parser: ``users`` is its ``users`` sub-parsers, ``run`` makes a
    command of a function of the settings and the arguments."""
    def admin(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        with_data_dir(p).add_argument("--as", dest="admin", required=True, metavar="EMAIL",
                                      help="the admin or department admin account doing it (audited)")
        return p

    roles = [role.value for role in Role]
    listing = admin(users.add_parser("list", help="list and search staff accounts"))
    listing.add_argument("--search", help="text in the name or e-mail address")
    listing.add_argument("--role", choices=roles)
    listing.add_argument("--department", help="department name")
    listing.add_argument("--status", choices=["active", "invited", "inactive"])
    listing.set_defaults(func=run(users_list))
    invite = admin(users.add_parser("invite", help="invite a member of staff: prints a one-time sign-up link"))
    invite.add_argument("email")
    invite.add_argument("--name", required=True, help="full name")
    invite.add_argument("--role", choices=roles, default="clinician")
    invite.add_argument("--department", action="append", help="department name (repeat for several)")
    invite.set_defaults(func=run(users_invite))
    change = admin(users.add_parser("set", help="change an account's name, role, departments or portal listing"))
    change.add_argument("email")
    change.add_argument("--name", help="full name")
    change.add_argument("--role", choices=roles)
    change.add_argument("--department", action="append", help="department name (repeat; replaces the list)")
    change.add_argument("--portal", choices=["on", "off"])
    change.set_defaults(func=run(users_set))
    depts = sub.add_parser("departments", help="departments").add_subparsers(dest="departments_command",
                                                                             required=True)
    admin(depts.add_parser("list", help="list departments")).set_defaults(func=run(departments_list))
    add = admin(depts.add_parser("add", help="create a department (admins)"))
    add.add_argument("name")
    add.add_argument("--phone", help="the number patients are given")
    add.add_argument("--no-video", action="store_true", help="it does not offer video consultations")
    add.set_defaults(func=run(departments_add))
    change_department = admin(depts.add_parser("set", help="change a department"))
    change_department.add_argument("department", help="its current name")
    change_department.add_argument("--name", help="a new name")
    change_department.add_argument("--phone")
    change_department.add_argument("--video", choices=["on", "off"], help="offers video consultations")
    change_department.set_defaults(func=run(departments_set))

    trail = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    for name, func, text in (("search", audit_search, "search the audit trail, 50 events a page, newest first"),
                             ("export", audit_export, "write the matching audit trail as CSV to stdout")):
        p = admin(trail.add_parser(name, help=text))
        p.add_argument("--person", help="e-mail address or staff id: done by or to them")
        p.add_argument("--appointment", help="appointment number")
        p.add_argument("--action")
        p.add_argument("--since", help="date (2026-12-01) or ISO time, in the clinic's time zone")
        p.add_argument("--until", help="date (the whole day) or ISO time")
        if name == "search":
            p.add_argument("--page", type=int, default=1)
        p.set_defaults(func=run(func))
