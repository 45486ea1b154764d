"""Staff meetings over HTTP (``visitt/meetings.py``): ``/api/v1/meetings`` and the staff page's
"New meeting" form. The meeting's call is the dashboard's, like a consultation's."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from visitt import access, invites, meetings
from visitt.errors import ValidationFailed, VisittError
from visitt.ids import RowId, parse_id
from visitt.store.models import Meeting, Staff
from visitt.web.i18n import N_
from visitt.web.api import ERRORS, ErrorResponse
from visitt.web.deps import DB, api_staff, app_limiter, base_url, clinic_tz, page_staff
from visitt.web.pages import render
from visitt.web.security import check_csrf

api = APIRouter(prefix="/api/v1", tags=["meetings"])
pages = APIRouter(include_in_schema=False)
TZ = Annotated[ZoneInfo, Depends(clinic_tz)]
GUEST_ROWS = 3  # guests the form takes at once (more through the API)


def _create(request: Request, session: Session, staff: Staff, data: meetings.MeetingCreate,
            tz: ZoneInfo) -> tuple[Meeting, list[invites.Invitation]]:
    settings = request.app.state.settings
    new = meetings.validate(session, staff, data, tz=tz, region=settings.default_region,
                            max_invitations=settings.max_group_participants)
    return meetings.create(session, staff, new, settings=settings, base_url=base_url(request), tz=tz,
                           limiter=app_limiter(request))


@api.post("/meetings", status_code=201, response_model=meetings.MeetingCreated,
          responses={**ERRORS, 503: {"model": ErrorResponse}})
def create_meeting(data: meetings.MeetingCreate, request: Request, session: DB, tz: TZ) -> meetings.MeetingCreated:
    """Create a staff meeting (no patient present): colleagues invited by account see it on their dashboard
    and join as co-hosts; each guest gets an SMS or e-mail with a link and a code and knocks."""
    staff = api_staff(request, session)
    meeting, invitations = _create(request, session, staff, data, tz)
    session.commit()
    request.app.state.sender.wakeup.set()
    shown = meetings.public(meeting, request.app.state.settings.max_participants)
    return meetings.MeetingCreated(**shown.model_dump(),
                                   invitations=[invitation.public() for invitation in invitations])


@api.get("/meetings", response_model=list[meetings.MeetingPublic], responses=ERRORS)
def list_meetings(request: Request, session: DB) -> list[meetings.MeetingPublic]:
    """The meetings the caller hosts or is invited to by account, not yet ended."""
    staff = api_staff(request, session)
    limit = request.app.state.settings.max_participants
    return [meetings.public(meeting, limit) for meeting in meetings.listed(session, staff)]


@api.get("/meetings/{meeting_id}", response_model=meetings.MeetingPublic,
         responses={**ERRORS, 404: {"model": ErrorResponse}})
def get_meeting(meeting_id: RowId, request: Request, session: DB) -> meetings.MeetingPublic:
    """One meeting, for its host or a colleague invited by account; anyone else gets 404."""
    staff = api_staff(request, session)
    meeting = access.meeting(session, staff, meeting_id)
    return meetings.public(meeting, request.app.state.settings.max_participants)


@api.patch("/meetings/{meeting_id}", response_model=meetings.MeetingPublic,
           responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def change_meeting(meeting_id: RowId, data: meetings.MeetingChange, request: Request, session: DB,
                         tz: TZ) -> meetings.MeetingPublic:
    """Change a meeting's title or time (its host alone; anyone else gets 404). A new time is sent to each
    guest by SMS or e-mail, in neutral words; the links and codes stay."""
    staff = api_staff(request, session)
    meeting = access.managed_meeting(session, staff, meeting_id)
    _change(request, session, staff, meeting, data, tz)
    session.commit()
    request.app.state.sender.wakeup.set()
    await _tell_colleagues(request, meeting)
    return meetings.public(meeting, request.app.state.settings.max_participants)


@api.post("/meetings/{meeting_id}/cancel", response_model=meetings.MeetingPublic,
          responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def cancel_meeting(meeting_id: RowId, request: Request, session: DB, tz: TZ) -> meetings.MeetingPublic:
    """Cancel a meeting (its host alone; anyone else gets 404): its room ends, each guest gets a neutral
    SMS or e-mail, and the guests' links then say it was cancelled."""
    staff = api_staff(request, session)
    meeting = access.managed_meeting(session, staff, meeting_id)
    await _cancel(request, session, staff, meeting, tz)
    return meetings.public(meeting, request.app.state.settings.max_participants)


@api.post("/meetings/{meeting_id}/colleagues", response_model=meetings.MeetingPublic,
          responses={**ERRORS, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse},
                     503: {"model": ErrorResponse}})
async def invite_colleagues(meeting_id: RowId, data: meetings.ColleaguesInvite, request: Request, session: DB,
                            tz: TZ) -> meetings.MeetingPublic:
    """Invite more colleagues by staff account to a meeting not yet ended (its host alone; anyone else gets
    404): they see it on their dashboard and join as co-hosts, without knocking."""
    staff = api_staff(request, session)
    meeting = access.managed_meeting(session, staff, meeting_id)
    await _invite_colleagues(request, session, staff, meeting, data, tz)
    return meetings.public(meeting, request.app.state.settings.max_participants)


async def _invite_colleagues(request: Request, session: Session, staff: Staff, meeting: Meeting,
                             data: meetings.ColleaguesInvite, tz: ZoneInfo) -> None:
    meetings.invite_colleagues(session, meeting, data, staff=staff, settings=request.app.state.settings,
                               base_url=base_url(request), tz=tz, limiter=app_limiter(request))
    session.commit()
    await _tell_colleagues(request, meeting)


def _change(request: Request, session: Session, staff: Staff, meeting: Meeting, data: meetings.MeetingChange,
            tz: ZoneInfo) -> None:
    meetings.change(session, meeting, data, staff=staff, tz=tz, clinic_phone=request.app.state.settings.clinic_phone,
                    base_url=base_url(request), limiter=app_limiter(request))


async def _tell_colleagues(request: Request, meeting: Meeting) -> None:
    """The invited colleagues' open dashboards fetch their list of meetings again."""
    await request.app.state.cluster.meetings_changed(
        [participant.staff_id for participant in meeting.room.participants if participant.staff_id is not None])


async def _cancel(request: Request, session: Session, staff: Staff, meeting: Meeting, tz: ZoneInfo) -> None:
    meetings.cancel(session, meeting, staff=staff, tz=tz, clinic_phone=request.app.state.settings.clinic_phone,
                    base_url=base_url(request), limiter=app_limiter(request))
    session.commit()
    request.app.state.sender.wakeup.set()
    room = meeting.room
    await request.app.state.cluster.room_ended(room.host_id, room.public_id, "cancelled")
    await _tell_colleagues(request, meeting)


def _form_page(request: Request, session: Session, staff: Staff, values: dict[str, str], errors: dict[str, str],
               status_code: int = 200) -> Response:
    return render(request, "meeting_new.html", status_code=status_code, staff=staff, values=values, errors=errors,
                  colleagues=invites.colleagues(session, staff.id), rows=range(GUEST_ROWS),
                  chosen={value for key, value in values.items() if key.startswith("colleague_")})


@pages.get("/staff/meetings/new")
def new_meeting_form(request: Request, session: DB) -> Response:
    staff = page_staff(request, session)
    meetings.require_host(staff)
    return _form_page(request, session, staff, {"duration_minutes": "60"}, {})


def _minutes(text: str) -> int:
    return int(text) if text.isdigit() and len(text) <= 4 else 0


@pages.post("/staff/meetings/new")
async def new_meeting(request: Request, session: DB, tz: TZ) -> Response:
    staff = page_staff(request, session)
    multi = await request.form()
    form = {key: str(value) for key, value in multi.items()}
    check_csrf(request, form.get("csrf"))
    colleague_ids = [parse_id(str(value)) for value in multi.getlist("colleague")]
    values = {**form, **{f"colleague_{value}": str(value) for value in multi.getlist("colleague")}}
    guests = []
    for row in range(GUEST_ROWS):
        name, contact = form.get(f"guest_{row}_name", "").strip(), form.get(f"guest_{row}_contact", "").strip()
        if name or contact:
            by_mail = "@" in contact
            guests.append((row, meetings.MeetingGuest(name=name, phone="" if by_mail else contact,
                                                      email=contact if by_mail else "",
                                                      language=form.get(f"guest_{row}_language", "nb"))))
    when = f"{form.get('date', '')}T{form.get('time', '')}" if form.get("date") or form.get("time") else ""
    data = meetings.MeetingCreate(title=form.get("title", ""), starts_at=when,
                                  duration_minutes=_minutes(form.get("duration_minutes", "")),
                                  colleagues=[staff_id for staff_id in colleague_ids if staff_id is not None],
                                  guests=[guest for _row, guest in guests])
    try:
        if None in colleague_ids:
            raise ValidationFailed(N_("The meeting could not be created."),
                                   fields={"colleagues": N_("Choose a clinician from the list.")})
        _create(request, session, staff, data, tz)
    except VisittError as error:
        session.rollback()
        fields: dict[str, str] = {}
        for key, text in (error.fields or {}).items():
            if key.startswith("guests."):  # guests.<index>.<field> → the form's row
                _guests, index, field = (key.split(".") + [""])[:3]
                row = guests[int(index)][0] if index.isdigit() and int(index) < len(guests) else 0
                key = f"guest_{row}_{'contact' if field in ('phone', 'email') else field or 'name'}"
            elif key.startswith("colleagues"):
                key = "colleagues"
            elif key == "starts_at":
                key = "date"
            fields.setdefault(key, text)
        return _form_page(request, session, staff, values, fields or {"title": error.message},
                          status_code=error.status)
    session.commit()
    request.app.state.sender.wakeup.set()
    return RedirectResponse("/staff?meeting=created", status_code=303)


# after /staff/meetings/new, which these paths would otherwise take
def _meeting_page(request: Request, session: Session, staff: Staff, meeting: Meeting, tz: ZoneInfo,
                  values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  status_code: int = 200) -> Response:
    local = meeting.starts_at.astimezone(tz)
    shown = values or {"title": meeting.title, "date": local.strftime("%Y-%m-%d"), "time": local.strftime("%H:%M"),
                       "duration_minutes": str(meeting.duration_minutes)}
    invited = {participant.staff_id for participant in meeting.room.participants}
    return render(request, "meeting.html", status_code=status_code, staff=staff, meeting=meeting, values=shown,
                  errors=errors or {}, colleagues=[colleague for colleague in invites.colleagues(session, meeting.room.host_id)
                                                   if colleague.id not in invited])


@pages.get("/staff/meetings/{meeting_id}")
def meeting_page(meeting_id: RowId, request: Request, session: DB, tz: TZ) -> Response:
    """The host's page of one meeting: change its title or time, or cancel it."""
    staff = page_staff(request, session)
    return _meeting_page(request, session, staff, access.managed_meeting(session, staff, meeting_id), tz)


@pages.post("/staff/meetings/{meeting_id}")
async def change_meeting_form(meeting_id: RowId, request: Request, session: DB, tz: TZ) -> Response:
    staff = page_staff(request, session)
    meeting = access.managed_meeting(session, staff, meeting_id)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    local = meeting.starts_at.astimezone(tz)
    when = f"{form.get('date', '')}T{form.get('time', '')}"
    data = meetings.MeetingChange(title=form.get("title", ""), duration_minutes=_minutes(form.get("duration_minutes", "")),
                                  starts_at=None if when == local.strftime("%Y-%m-%dT%H:%M") else when)
    try:
        _change(request, session, staff, meeting, data, tz)
    except VisittError as error:
        session.rollback()
        fields = {("date" if key == "starts_at" else key): text for key, text in (error.fields or {}).items()}
        return _meeting_page(request, session, staff, meeting, tz, values=form,
                             errors=fields or {"title": error.message}, status_code=error.status)
    session.commit()
    request.app.state.sender.wakeup.set()
    await _tell_colleagues(request, meeting)
    return RedirectResponse(f"/staff/meetings/{meeting_id}?changed=1", status_code=303)


@pages.post("/staff/meetings/{meeting_id}/cancel")
async def cancel_meeting_form(meeting_id: RowId, request: Request, session: DB, tz: TZ,
                              csrf: Annotated[str, Form()] = "") -> Response:
    staff = page_staff(request, session)
    meeting = access.managed_meeting(session, staff, meeting_id)
    check_csrf(request, csrf)
    await _cancel(request, session, staff, meeting, tz)
    return RedirectResponse("/staff?meeting=cancelled", status_code=303)


@pages.post("/staff/meetings/{meeting_id}/colleagues")
async def invite_colleagues_form(meeting_id: RowId, request: Request, session: DB, tz: TZ) -> Response:
    """The meeting page's "Invite colleagues": the clinicians ticked, by staff account."""
    staff = page_staff(request, session)
    meeting = access.managed_meeting(session, staff, meeting_id)
    multi = await request.form()
    check_csrf(request, str(multi.get("csrf", "")))
    chosen = [parse_id(str(value)) for value in multi.getlist("colleague")]
    try:
        if None in chosen:
            raise ValidationFailed(N_("The colleagues could not be invited."),
                                   fields={"colleagues": N_("Choose a clinician from the list.")})
        data = meetings.ColleaguesInvite.model_construct(colleagues=[staff_id for staff_id in chosen if staff_id])
        await _invite_colleagues(request, session, staff, meeting, data, tz)
    except VisittError as error:
        session.rollback()
        text = next(iter((error.fields or {}).values()), error.message)
        return _meeting_page(request, session, staff, meeting, tz, errors={"colleagues": text},
                             status_code=error.status)
    return RedirectResponse(f"/staff/meetings/{meeting_id}?invited=1", status_code=303)
