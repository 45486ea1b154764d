"""The admin console's operations in the JSON API (``/api/v1/staff``, ``/departments``, ``/tokens``,
``/audit``), for a hospital that scripts them. The same operations, permissions and audit rows as the
console's pages (:mod:`visitt.web.admin`) and the command line."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from visitt import access, api_tokens, audit_trail, departments, staff_admin, training
from visitt.ids import RowId
from visitt.store.models import Role
from visitt.web.api import ERRORS, ErrorResponse
from visitt.web.deps import DB, api_staff, base_url, clinic_tz

router = APIRouter(prefix="/api/v1", tags=["admin"])
TZ = Annotated[ZoneInfo, Depends(clinic_tz)]
MORE = {**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}


@router.get("/staff", response_model=list[staff_admin.StaffPublic], responses=ERRORS)
def list_staff(request: Request, session: DB, q: str = "", role: Role | None = None,
               department_id: RowId | None = None,
               status: Annotated[str, Query(pattern="^(|active|invited|inactive)$")] = "") \
        -> list[staff_admin.StaffPublic]:
    """The accounts the caller administers (an admin: all; a department admin: their departments'),
    filtered by text in the name or e-mail address, role, department and status."""
    actor = api_staff(request, session)
    found = staff_admin.search(session, actor, text=q, role=role, department_id=department_id, state=status)
    return [staff_admin.public(staff) for staff in found]


@router.post("/staff", status_code=201, response_model=staff_admin.StaffInvited, responses=MORE)
def invite_staff(data: staff_admin.StaffCreate, request: Request, session: DB) -> staff_admin.StaffInvited:
    """Invite a member of staff: the account is inactive until they open the one-time link (returned here,
    once; valid 7 days) and choose a password."""
    actor = api_staff(request, session)
    staff, link = staff_admin.invite(session, actor, data, base_url=base_url(request))
    session.commit()
    return staff_admin.StaffInvited(staff=staff_admin.public(staff), link=link)


@router.get("/staff/{staff_id}", response_model=staff_admin.StaffPublic, responses=MORE)
def get_staff(staff_id: RowId, request: Request, session: DB) -> staff_admin.StaffPublic:
    actor = api_staff(request, session)
    return staff_admin.public(access.administered_account(session, actor, staff_id))


@router.patch("/staff/{staff_id}", response_model=staff_admin.StaffPublic, responses=MORE)
def change_staff(staff_id: RowId, change: staff_admin.StaffUpdate, request: Request,
                 session: DB) -> staff_admin.StaffPublic:
    """Change the name, role, departments or portal listing."""
    actor = api_staff(request, session)
    staff = staff_admin.update(session, actor, access.administered_account(session, actor, staff_id), change)
    session.commit()
    return staff_admin.public(staff)


@router.post("/staff/{staff_id}/deactivate", response_model=staff_admin.StaffPublic, responses=MORE)
def deactivate_staff(staff_id: RowId, request: Request, session: DB) -> staff_admin.StaffPublic:
    """No more sign-ins: ends the account's sessions; its API tokens stop working."""
    actor = api_staff(request, session)
    staff = staff_admin.deactivate(session, actor, access.administered_account(session, actor, staff_id))
    session.commit()
    return staff_admin.public(staff)


@router.post("/staff/{staff_id}/reactivate", response_model=staff_admin.StaffPublic, responses=MORE)
def reactivate_staff(staff_id: RowId, request: Request, session: DB) -> staff_admin.StaffPublic:
    actor = api_staff(request, session)
    staff = staff_admin.reactivate(session, actor, access.administered_account(session, actor, staff_id))
    session.commit()
    return staff_admin.public(staff)


@router.post("/staff/{staff_id}/training", response_model=staff_admin.StaffPublic, responses=MORE)
def record_training(staff_id: RowId, request: Request, session: DB) -> staff_admin.StaffPublic:
    """Record training done elsewhere (the training gate: until it is recorded, a clinician cannot host or be
    co-host). Recording it again changes nothing."""
    actor = api_staff(request, session)
    staff = access.administered_account(session, actor, staff_id)
    training.record_training(session, staff, by=actor)
    session.commit()
    return staff_admin.public(staff)


@router.post("/staff/{staff_id}/password-link", status_code=201, response_model=staff_admin.LinkPublic,
             responses=MORE)
def password_link(staff_id: RowId, request: Request, session: DB) -> staff_admin.LinkPublic:
    """A one-time link to set a new password (returned once; valid ``VISITT_RESET_LINK_HOURS``; for an account
    not yet set up, a new invitation link, valid 7 days). Passwords are never sent."""
    actor = api_staff(request, session)
    link = staff_admin.password_link(session, actor, access.administered_account(session, actor, staff_id),
                                     base_url=base_url(request),
                                     hours=request.app.state.settings.reset_link_hours)
    session.commit()
    return link


@router.get("/departments", response_model=list[departments.DepartmentPublic], responses=ERRORS)
def list_departments(request: Request, session: DB) -> list[departments.DepartmentPublic]:
    actor = api_staff(request, session)
    return [departments.public(session, department) for department in departments.listed(session, actor)]


@router.post("/departments", status_code=201, response_model=departments.DepartmentPublic, responses=MORE)
def create_department(data: departments.DepartmentCreate, request: Request,
                      session: DB) -> departments.DepartmentPublic:
    """Create a department (admins only)."""
    actor = api_staff(request, session)
    department = departments.create(session, actor, data)
    session.commit()
    return departments.public(session, department)


@router.patch("/departments/{department_id}", response_model=departments.DepartmentPublic, responses=MORE)
def change_department(department_id: RowId, change: departments.DepartmentUpdate, request: Request,
                      session: DB) -> departments.DepartmentPublic:
    """Change the name, the phone number patients are given, or whether it offers video consultations."""
    actor = api_staff(request, session)
    department = departments.update(session, actor, access.administered_department(session, actor, department_id),
                                    change)
    session.commit()
    return departments.public(session, department)


@router.get("/tokens", response_model=list[api_tokens.TokenPublic], responses=ERRORS)
def list_tokens(request: Request, session: DB) -> list[api_tokens.TokenPublic]:
    """API tokens (never their secrets), newest first."""
    actor = api_staff(request, session)
    return [api_tokens.public(row) for row in api_tokens.listed(session, actor)]


@router.post("/tokens", status_code=201, response_model=api_tokens.TokenCreated, responses=MORE)
def create_token(data: api_tokens.TokenCreate, request: Request, session: DB) -> api_tokens.TokenCreated:
    """A new API token acting as ``owner_id``; its secret is in this answer only."""
    actor = api_staff(request, session)
    row, secret = api_tokens.create(session, actor, data)
    session.commit()
    return api_tokens.TokenCreated(**api_tokens.public(row).model_dump(), token=secret)


@router.post("/tokens/{token_id}/revoke", response_model=api_tokens.TokenPublic, responses=MORE)
def revoke_token(token_id: RowId, request: Request, session: DB) -> api_tokens.TokenPublic:
    """Revoke a token: refused (401) from its next request on, on every node."""
    actor = api_staff(request, session)
    row = api_tokens.revoke(session, actor, token_id)
    session.commit()
    return api_tokens.public(row)


@router.get("/audit", response_model=audit_trail.AuditPage, responses=ERRORS)
def search_audit(request: Request, session: DB, tz: TZ, person: str = "", appointment: str = "", action: str = "",
                 since: str = "", until: str = "", page: Annotated[int, Query(ge=1, le=100_000)] = 1) \
        -> audit_trail.AuditPage:
    """The audit trail, newest first, 50 events a page: ``person`` an e-mail address or staff id,
    ``since``/``until`` dates or ISO times. The search is itself recorded."""
    actor = api_staff(request, session)
    access.require_admin(actor)
    query = audit_trail.parse(session, actor, tz, person=person, appointment=appointment, action=action,
                              since=since, until=until)
    found = audit_trail.search(session, actor, query, page)
    session.commit()
    return found


@router.get("/audit.csv", response_class=StreamingResponse, responses=ERRORS)
def export_audit(request: Request, session: DB, tz: TZ, person: str = "", appointment: str = "", action: str = "",
                 since: str = "", until: str = "") -> StreamingResponse:
    """The matching audit trail as CSV, streamed; the export is itself recorded."""
    actor = api_staff(request, session)
    access.require_admin(actor)
    query = audit_trail.parse(session, actor, tz, person=person, appointment=appointment, action=action,
                              since=since, until=until)
    audit_trail.record_export(session, actor, query)
    session.commit()
    return csv_response(request, actor.id, query)


def csv_response(request: Request, actor_id: int, query: audit_trail.AuditQuery) -> StreamingResponse:
    return StreamingResponse(audit_trail.export(request.app.state.database, actor_id, query),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="visitt-audit.csv"'})
