"""The admin console's pages (``/staff/admin``): staff accounts, departments, API tokens and the audit
trail, for admins (everything) and department admins (their departments). The pages only parse forms
and show answers; the operations, their permissions and audit rows are in :mod:`visitt.staff_admin`,
:mod:`visitt.departments`, :mod:`visitt.api_tokens` and :mod:`visitt.audit_trail` - the same ones the
JSON API (:mod:`visitt.web.admin_api`) and the command line use. Also the page behind a one-time link
(``/staff/welcome/<token>``), where an invited member of staff, or one whose password an administrator
reset, chooses a password."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from visitt import access, accounts, api_tokens, audit_trail, departments, staff_admin, training
from visitt.errors import ValidationFailed, VisittError
from visitt.ids import RowId, parse_id
from visitt.store import audit
from visitt.store.models import Department, Role, Staff
from visitt.web.admin_api import csv_response
from visitt.web.deps import DB, base_url, clinic_tz, page_staff
from visitt.web.i18n import N_
from visitt.web.pages import render
from visitt.web.security import check_csrf

router = APIRouter(include_in_schema=False)
TZ = Annotated[ZoneInfo, Depends(clinic_tz)]
ROLES = {Role.clinician: N_("Clinician"), Role.secretary: N_("Secretary"),
         Role.department_admin: N_("Department admin"), Role.admin: N_("Admin")}
STATUSES = {"active": N_("Active"), "invited": N_("Invited"), "inactive": N_("Inactive")}


def _admin(request: Request, session: Session) -> Staff:
    staff = page_staff(request, session)
    access.require_admin(staff)
    return staff


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    values: dict[str, Any] = {key: str(value) for key, value in form.items()}
    values["department_ids"] = [number for value in form.getlist("department_ids")
                                if (number := parse_id(str(value))) is not None]
    return values


def _common(session: Session, staff: Staff) -> dict[str, Any]:
    grantable = [role for role in ROLES if access.may_grant(staff, role, set())]
    return {"staff": staff, "roles": ROLES, "grantable": grantable, "statuses": STATUSES,
            "departments": departments.listed(session, staff), "status_of": staff_admin.status,
            "department_ids_of": access.department_ids}


def _failed(session: Session, error: VisittError) -> tuple[dict[str, str], str, int]:
    session.rollback()
    return error.fields, error.message, error.status


# Staff -------------------------------------------------------------------------------------------------

def _staff_page(request: Request, session: Session, staff: Staff, *, values: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, problem: str = "", link: staff_admin.LinkPublic | None = None,
                invited: Staff | None = None, status_code: int = 200) -> Response:
    params = request.query_params
    role = Role(params["role"]) if params.get("role") in Role._value2member_map_ else None
    department_id = parse_id(params.get("department", ""))
    found = staff_admin.search(session, staff, text=params.get("q", ""), role=role, department_id=department_id,
                               state=params.get("status", "") if params.get("status") in STATUSES else "")
    return render(request, "admin_staff.html", status_code=status_code, people=found, values=values or {},
                  errors=errors or {}, problem=problem, link=link, invited=invited, search=params,
                  **_common(session, staff))


@router.get("/staff/admin")
def staff_list(request: Request, session: DB) -> Response:
    """Staff accounts: search, and invite a new one."""
    return _staff_page(request, session, _admin(request, session))


@router.post("/staff/admin/invite")
async def invite(request: Request, session: DB) -> Response:
    staff = _admin(request, session)
    form = await _form(request)
    role = form.get("role", "")
    try:
        if role not in Role._value2member_map_:
            raise ValidationFailed(N_("The account could not be created."), fields={"role": N_("Choose a role.")})
        data = staff_admin.StaffCreate(email=form.get("email", "")[:254], full_name=form.get("full_name", "")[:200],
                                       role=Role(role), department_ids=form["department_ids"][:50])
        invited, link = staff_admin.invite(session, staff, data, base_url=base_url(request))
    except VisittError as error:
        errors, problem, status = _failed(session, error)
        return _staff_page(request, session, staff, values=form, errors=errors, problem=problem, status_code=status)
    session.commit()
    return _staff_page(request, session, staff, link=link, invited=invited, status_code=201)


def _person_page(request: Request, session: Session, staff: Staff, person: Staff, *,
                 values: dict[str, Any] | None = None, errors: dict[str, str] | None = None, problem: str = "",
                 link: staff_admin.LinkPublic | None = None, status_code: int = 200) -> Response:
    return render(request, "admin_person.html", status_code=status_code, person=person, errors=errors or {},
                  values=values or {"full_name": person.full_name, "role": person.role.value,
                                    "department_ids": sorted(access.department_ids(person)),
                                    "portal": "on" if person.portal else ""},
                  problem=problem, link=link, done=request.query_params.get("done", ""), **_common(session, staff))


@router.get("/staff/admin/staff/{staff_id}")
def person(staff_id: RowId, request: Request, session: DB) -> Response:
    staff = _admin(request, session)
    return _person_page(request, session, staff, access.administered_account(session, staff, staff_id))


@router.post("/staff/admin/staff/{staff_id}")
async def change_person(staff_id: RowId, request: Request, session: DB) -> Response:
    staff = _admin(request, session)
    person = access.administered_account(session, staff, staff_id)
    form = await _form(request)
    role = form.get("role", "")
    try:
        if role not in Role._value2member_map_:
            raise ValidationFailed(N_("The account could not be changed."), fields={"role": N_("Choose a role.")})
        change = staff_admin.StaffUpdate(full_name=form.get("full_name", "")[:200], role=Role(role),
                                         department_ids=form["department_ids"][:50], portal=form.get("portal") == "on")
        staff_admin.update(session, staff, person, change)
    except VisittError as error:
        errors, problem, status = _failed(session, error)
        return _person_page(request, session, staff, access.administered_account(session, staff, staff_id),
                            values=form, errors=errors, problem=problem, status_code=status)
    session.commit()
    return RedirectResponse(f"/staff/admin/staff/{staff_id}?done=saved", status_code=303)


@router.post("/staff/admin/staff/{staff_id}/{operation}")
async def account_operation(staff_id: RowId, operation: str, request: Request, session: DB) -> Response:
    """``deactivate``, ``reactivate``, ``password-link`` (the link is shown on the page, once) or
    ``training`` (record training done elsewhere: the training gate, ``visitt.training``)."""
    staff = _admin(request, session)
    person = access.administered_account(session, staff, staff_id)
    await _form(request)
    link = None
    try:
        if operation == "deactivate":
            staff_admin.deactivate(session, staff, person)
        elif operation == "reactivate":
            staff_admin.reactivate(session, staff, person)
        elif operation == "training":
            training.record_training(session, person, by=staff)
        elif operation == "password-link":
            link = staff_admin.password_link(session, staff, person, base_url=base_url(request),
                                              hours=request.app.state.settings.reset_link_hours)
        else:
            raise ValidationFailed(N_("No such operation."))
    except VisittError as error:
        _errors, problem, status = _failed(session, error)
        return _person_page(request, session, staff, access.administered_account(session, staff, staff_id),
                            problem=problem, status_code=status)
    session.commit()
    if link is not None:
        return _person_page(request, session, staff, person, link=link)
    return RedirectResponse(f"/staff/admin/staff/{staff_id}?done={operation}", status_code=303)


# Departments -------------------------------------------------------------------------------------------

def _departments_page(request: Request, session: Session, staff: Staff, *, errors: dict[str, str] | None = None,
                      problem: str = "", values: dict[str, Any] | None = None, editing: int | None = None,
                      status_code: int = 200) -> Response:
    common = _common(session, staff)
    portal = {department.id: departments.portal_clinicians(session, department)
              for department in common["departments"]}
    return render(request, "admin_departments.html", status_code=status_code, errors=errors or {}, problem=problem,
                  values=values or {}, editing=editing, portal=portal, done=request.query_params.get("done", ""),
                  **common)


@router.get("/staff/admin/departments")
def departments_page(request: Request, session: DB) -> Response:
    return _departments_page(request, session, _admin(request, session))


@router.post("/staff/admin/departments")
async def create_department(request: Request, session: DB) -> Response:
    staff = _admin(request, session)
    form = await _form(request)
    try:
        departments.create(session, staff, departments.DepartmentCreate(
            name=form.get("name", "")[:200], phone=form.get("phone", "")[:40], offers_video=form.get("offers_video") == "on"))
    except VisittError as error:
        errors, problem, status = _failed(session, error)
        return _departments_page(request, session, staff, errors=errors, problem=problem, values=form,
                                 status_code=status)
    session.commit()
    return RedirectResponse("/staff/admin/departments?done=created", status_code=303)


@router.post("/staff/admin/departments/{department_id}")
async def change_department(department_id: RowId, request: Request, session: DB) -> Response:
    staff = _admin(request, session)
    department: Department = access.administered_department(session, staff, department_id)
    form = await _form(request)
    try:
        departments.update(session, staff, department, departments.DepartmentUpdate(
            name=form.get("name", "")[:200], phone=form.get("phone", "")[:40], offers_video=form.get("offers_video") == "on"))
    except VisittError as error:
        errors, problem, status = _failed(session, error)
        return _departments_page(request, session, staff, errors=errors, problem=problem, values=form,
                                 editing=department_id, status_code=status)
    session.commit()
    return RedirectResponse("/staff/admin/departments?done=saved", status_code=303)


# API tokens --------------------------------------------------------------------------------------------

def _tokens_page(request: Request, session: Session, staff: Staff, *, errors: dict[str, str] | None = None,
                 problem: str = "", values: dict[str, Any] | None = None, secret: str = "",
                 status_code: int = 200) -> Response:
    owners = [person for person in staff_admin.search(session, staff) if person.active]
    return render(request, "admin_tokens.html", status_code=status_code, tokens=api_tokens.listed(session, staff),
                  owners=owners, errors=errors or {}, problem=problem, secret=secret,
                  values=values or {"days": "90"}, state_of=accounts.token_state, **_common(session, staff))


@router.get("/staff/admin/tokens")
def tokens_page(request: Request, session: DB) -> Response:
    return _tokens_page(request, session, _admin(request, session))


@router.post("/staff/admin/tokens")
async def create_token(request: Request, session: DB) -> Response:
    staff = _admin(request, session)
    form = await _form(request)
    days, owner = form.get("days", ""), parse_id(form.get("owner_id", ""))
    try:
        if owner is None or not days.isdigit() or len(days) > 4:
            raise ValidationFailed(N_("The API token could not be created."), fields={
                **({"owner_id": N_("Choose an account from the list.")} if owner is None else {}),
                **({"days": N_("Choose from 1 to 365 days.")} if not days.isdigit() or len(days) > 4 else {})})
        _row, secret = api_tokens.create(session, staff, api_tokens.TokenCreate(
            name=form.get("name", "")[:100], owner_id=owner, days=int(days)))
    except VisittError as error:
        errors, problem, status = _failed(session, error)
        return _tokens_page(request, session, staff, errors=errors, problem=problem, values=form, status_code=status)
    session.commit()
    return _tokens_page(request, session, staff, secret=secret, status_code=201)


@router.post("/staff/admin/tokens/{token_id}/revoke")
async def revoke_token(token_id: RowId, request: Request, session: DB) -> Response:
    staff = _admin(request, session)
    await _form(request)
    try:
        api_tokens.revoke(session, staff, token_id)
    except VisittError as error:
        if error.status == 404:
            raise
        _errors, problem, status = _failed(session, error)
        return _tokens_page(request, session, staff, problem=problem, status_code=status)
    session.commit()
    return RedirectResponse("/staff/admin/tokens", status_code=303)


# The audit trail ---------------------------------------------------------------------------------------

def _filters(request: Request) -> dict[str, str]:
    params = request.query_params
    return {key: params.get(key, "")[:254] for key in ("person", "appointment", "action", "since", "until")}


@router.get("/staff/admin/audit")
def audit_page(request: Request, session: DB, tz: TZ, page: int = 1) -> Response:
    """Search the audit trail; the search is itself recorded."""
    staff = _admin(request, session)
    filters = _filters(request)
    try:
        query = audit_trail.parse(session, staff, tz, **filters)
    except ValidationFailed as error:
        return render(request, "admin_audit.html", status_code=422, found=None, values=filters, errors=error.fields,
                      actions=sorted(audit.ACTIONS), tz=tz, **_common(session, staff))
    found = audit_trail.search(session, staff, query, min(max(page, 1), 100_000))
    session.commit()
    return render(request, "admin_audit.html", found=found, values=filters, errors={}, actions=sorted(audit.ACTIONS),
                  tz=tz, **_common(session, staff))


@router.get("/staff/admin/audit.csv")
def audit_csv(request: Request, session: DB, tz: TZ) -> StreamingResponse:
    """The matching audit trail as a CSV file, streamed; the export is itself recorded."""
    staff = _admin(request, session)
    query = audit_trail.parse(session, staff, tz, **_filters(request))
    audit_trail.record_export(session, staff, query)
    session.commit()
    return csv_response(request, staff.id, query)


# The one-time link -------------------------------------------------------------------------------------

@router.get("/staff/welcome/{token}")
def account_form(token: str, request: Request, session: DB) -> Response:
    link = staff_admin.open_link(session, token[:100])
    return render(request, "account_link.html", person=link.staff, purpose=link.purpose, errors={}, token=token[:100])


@router.post("/staff/welcome/{token}")
def set_password(token: str, request: Request, session: DB, password: Annotated[str, Form()] = "",
                 repeated: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    try:
        staff_admin.use_link(session, token[:100], password[:1000], repeated[:1000])
    except ValidationFailed as error:
        session.rollback()
        link = staff_admin.open_link(session, token[:100])
        return render(request, "account_link.html", status_code=422, person=link.staff, purpose=link.purpose,
                      errors=error.fields, token=token[:100])
    session.commit()
    return RedirectResponse("/staff/login?ready=1", status_code=303)
