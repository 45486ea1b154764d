"""Staff pages: sign in and out, the dashboard (with the live waiting room and the call), booking, the
department queue, outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from visitt import access, accounts, appointments, booking, consent, copayment, groups, invites, journal_note
from visitt import meetings, outcomes, rooms, sessions
from visitt.web import account, client_text, sso
from visitt.web import training as web_training
from visitt.messaging import delivery, fhir, mail
from visitt.live import department_queue, protocol
from visitt.web.deps import CODE_PAGE, DB, ENROL_PAGE, app_limiter, base_url, clinic_tz, page_staff
from visitt.errors import Busy, Forbidden, MediaServerUnavailable, NotAuthenticated, NotFound, RateLimited, ValidationFailed
from visitt.errors import VisittError
from visitt.web.i18n import N_, translations
from visitt.ids import RowId, parse_id
from visitt.store.models import Appointment, AppointmentState, Meeting, OutboxMessage, Participant, Role, Room, RoomState, Staff, utcnow
from visitt.web.pages import language, render
from visitt.web.security import SESSION_COOKIE, check_csrf

router = APIRouter(include_in_schema=False)
TZ = Annotated[ZoneInfo, Depends(clinic_tz)]


@router.get("/")
def front(request: Request) -> Response:
    return render(request, "front.html")


# why the sign-in page was shown again (``?ended=``), in the page's words
ENDED = {"idle": N_("You were signed out because the page was not used for a while. Sign in again."),
         "expired": N_("Your session has reached its time limit. Sign in again."),
         "step": N_("The sign-in took too long. Start again."),
         "password_set": N_("Your new password is set. Sign in with it.")}


@router.get("/staff/login")
def login_form(request: Request, ended: str = "") -> Response:
    return render(request, "login.html", error="", email="", notice=ENDED.get(ended, ""))


@router.post("/staff/login")
def login(request: Request, session: DB, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    # the client's own address: uvicorn has already read X-Forwarded-For if a trusted proxy sent it
    address = request.client.host if request.client else ""
    try:
        staff = accounts.authenticate(session, email, password, request.app.state.limiter, address)
    except NotAuthenticated as error:
        session.commit()  # keep the audit row of the failed attempt
        return render(request, "login.html", status_code=401, error=error.message, email=email)
    except (RateLimited, Busy) as error:
        return account.refused(request, "login.html", error, email=email)
    settings = request.app.state.settings
    # with a second factor, its code comes next; an administrator without one sets it up first (web/account.py)
    stage = "second_factor" if staff.totp_secret else "enrol" if staff.role is Role.admin else "full"
    token = sessions.open_session(session, staff, settings.session_hours, stage, settings.session_idle_minutes)
    session.commit()
    response = RedirectResponse({"full": "/staff", "second_factor": CODE_PAGE, "enrol": ENROL_PAGE}[stage],
                                status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
                        max_age=settings.session_hours * 3600, path="/")
    return response


@router.post("/staff/logout")
def logout(request: Request, session: DB, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    id_token = accounts.close_session(session, request.cookies.get(SESSION_COOKIE))
    session.commit()
    # a session single sign-on opened ends at the identity provider too (RP-initiated logout)
    response = RedirectResponse(sso.signed_out_target(request, id_token), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _appointments(session: Session, staff: Staff) -> list[Appointment]:
    since = utcnow() - dt.timedelta(hours=12)
    query = select(Appointment).where(Appointment.starts_at >= since).order_by(Appointment.starts_at).limit(200)
    return list(session.scalars(query.where(access.managed_appointments(staff))))


@router.get("/staff")
def dashboard(request: Request, session: DB, tz: TZ, booked: RowId | None = None, meeting: str = "") -> Response:
    """The staff member's consultations; ``booked``: the appointment just booked, shown with its link and code."""
    staff = page_staff(request, session)
    strings = client_text.translate(client_text.HOST, translations(language(request)).gettext)
    settings = request.app.state.settings
    listed = _appointments(session, staff)
    hosted_or_invited = meetings.listed(session, staff)
    invitations = {meeting.id: invitation.public_id for meeting in hosted_or_invited
                   if (invitation := access.invited(staff, meeting.room)) is not None}
    return render(request, "dashboard.html", staff=staff, appointments=listed, tz=tz,
                  meetings=hosted_or_invited, meeting_invitations=invitations, meeting_created=meeting == "created",
                  meeting_cancelled=meeting == "cancelled",
                  strings=strings, now=utcnow(), no_show_after=dt.timedelta(minutes=settings.no_show_minutes),
                  booked=access.appointment(session, staff, booked) if booked is not None else None,
                  failures=delivery.failures(session, [appointment.id for appointment in listed]),
                  cohost=None, cohost_invitations=_cohost_invitations(session, staff),
                  colleagues=invites.colleagues(session, staff.id), training_missing=web_training.missing_for(staff),
                  unconfirmed=outcomes.unconfirmed(session, staff), outcome_names=outcomes.NAMES,
                  failure_names=outcomes.FAILURE_NAMES,
                  booked_warnings=booking.warnings(access.appointment(session, staff, booked))
                  if booked is not None else [])


def _cohost_invitations(session: Session, staff: Staff) -> list[Participant]:
    """The consultations ``staff`` is invited to as co-host that have not ended."""
    return list(session.scalars(
        select(Participant).join(Room).join(Appointment).where(
            Participant.staff_id == staff.id, Room.state != RoomState.ended,
            Appointment.state.in_((AppointmentState.booked, AppointmentState.in_progress)))
        .order_by(Appointment.starts_at)))


@router.get("/staff/cohost/{participant_id}")
def cohost_page(participant_id: str, request: Request, session: DB, tz: TZ) -> Response:
    """The dashboard's waiting room and call for a colleague invited as co-host: they knock, and once
    let in they admit, deny, remove, lock and check identities like the clinician (not End)."""
    staff = page_staff(request, session)
    participant = access.cohost_invitation(session, staff, participant_id)
    if participant.room.state is RoomState.ended:
        meeting = participant.room.meeting
        raise NotFound(N_("The consultation has ended.") if meeting is None else
                       N_("The meeting has been cancelled.") if meeting.cancelled_at is not None else
                       N_("The meeting has ended."))
    strings = client_text.translate(client_text.HOST, translations(language(request)).gettext)
    return render(request, "dashboard.html", staff=staff, appointments=[], tz=tz, strings=strings, now=utcnow(), failures={},
                  meetings=[], meeting_invitations={}, meeting_created=False,
                  meeting_cancelled=False,
                  booked=None, cohost=participant, cohost_invitations=[], colleagues=[], training_missing=[],
                  unconfirmed=[], outcome_names=outcomes.NAMES, failure_names=outcomes.FAILURE_NAMES,
                  booked_warnings=[])


@router.post("/staff/rooms/{room_id}/participants")
async def invite_during_call(room_id: str, request: Request, session: DB, tz: TZ) -> Response:
    """The clinician in the call invites a companion, an interpreter or a colleague (JSON, for host.js).
    Errors come back in the one error shape, translated for the page."""
    staff = page_staff(request, session)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    gettext = translations(language(request)).gettext
    settings = request.app.state.settings
    try:
        room = access.room(session, staff, room_id)
        staff_id = form.get("staff_id", "")
        if staff_id and parse_id(staff_id) is None:
            raise ValidationFailed(N_("The invitation could not be sent."),
                                   fields={"staff_id": N_("Choose a clinician from the list.")})
        data = invites.InviteCreate(name=form.get("name", ""), kind=form.get("kind", ""), phone=form.get("phone", ""),
                                    language=form.get("language") or None,
                                    staff_id=parse_id(staff_id) if staff_id else None)
        kinds = invites.GROUP_KINDS if groups.is_group(room.appointment) else invites.KINDS
        invite = invites.validate(session, data, region=settings.default_region, kinds=kinds)
        invitation = invites.create(session, staff, room, invite, base_url=base_url(request),
                                    clinic_phone=settings.clinic_phone, tz=tz,
                                    max_participants=groups.invitations(room.appointment, settings),
                                    limiter=app_limiter(request),
                                    growth=groups.growth(room.appointment, settings))
    except VisittError as error:
        session.rollback()
        body = error.public()
        body["message"] = gettext(error.message)
        if error.fields:
            body["fields"] = {key: gettext(text) for key, text in error.fields.items()}
        return JSONResponse({"error": body}, status_code=error.status)
    session.commit()
    request.app.state.sender.wakeup.set()
    participant = invitation.participant
    return JSONResponse({"id": participant.public_id, "kind": participant.kind, "name": participant.display_name,
                         "cohost": participant.staff_id is not None, "code": invitation.code}, status_code=201)


def _book_page(request: Request, session: Session, staff: Staff, *, values: dict[str, str],
               errors: dict[str, str], status_code: int = 200, problem: str = "") -> Response:
    """The booking form; ``problem``: why nothing was booked, when no field is to blame (untranslated)."""
    return render(request, "book.html", status_code=status_code, staff=staff, values=values, errors=errors,
                  clinicians=booking.clinicians_for(session, staff), exemptions=copayment.EXEMPTION_NAMES,
                  problem=problem, max_group=request.app.state.settings.max_group_participants)


@router.get("/staff/book")
def book_form(request: Request, session: DB, tz: TZ) -> Response:
    staff = page_staff(request, session)
    tomorrow = (dt.datetime.now(tz) + dt.timedelta(days=1)).date().isoformat()
    values = {"date": tomorrow, "time": "09:00", "duration_minutes": "30", "language": "nb"}
    return _book_page(request, session, staff, values=values, errors={})


@router.post("/staff/book")
async def book(request: Request, session: DB, tz: TZ) -> Response:
    staff = page_staff(request, session)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    if staff.role not in (Role.clinician, Role.secretary, Role.admin, Role.department_admin):
        raise Forbidden(N_("You cannot book consultations."))
    duration = _minutes(form.get("duration_minutes", ""))
    clinician = form.get("clinician_id", "")
    # One more participant may be invited on this form (more from the call, or through the API).
    others = [invites.InviteCreate(name=form.get("other_name", ""), kind=form.get("other_kind", ""),
                                   phone=form.get("other_phone", ""), language=None, staff_id=None)] \
        if form.get("other_name", "").strip() or form.get("other_phone", "").strip() else []
    data = booking.AppointmentCreate(
        patient_name=form.get("patient_name", ""), patient_phone=form.get("patient_phone", ""),
        starts_at=f"{form.get('date', '')}T{form.get('time', '')}", duration_minutes=duration,
        clinician_id=parse_id(clinician) if clinician else None, language=form.get("language", "nb"),
        patient_email=form.get("patient_email", ""), participants=others,
        national_id=form.get("national_id", ""), external_ref=form.get("external_ref", ""),
        # an unticked box is not sent: the form's own "required" asks for it; the record keeps what was said
        video_suitable_confirmed=True if form.get("video_suitable_confirmed") else None,
        exemption=form.get("exemption") or None, exemption_reason=form.get("exemption_reason", ""),
        group=bool(form.get("group")))
    settings = request.app.state.settings
    if clinician and data.clinician_id is None:
        return _book_page(request, session, staff, values=form, status_code=422,
                          errors={"clinician_id": N_("Choose a clinician from the list.")})
    try:
        validated = booking.validate(session, staff, data, tz=tz, region=settings.default_region,
                                     max_participants=settings.max_participants,
                                     max_group=settings.max_group_participants, grows=groups.grows(settings))
    except ValidationFailed as error:
        fields = {key.replace("participants.0.", "other_"): text for key, text in error.fields.items()}
        if "starts_at" in fields:
            fields["date"] = fields.pop("starts_at")
        return _book_page(request, session, staff, values=form, errors=fields, status_code=422)
    if validated.needs_media_server:  # its call needs Janus: say so now, on the form, and book nothing
        try:
            await asyncio.to_thread(groups.ask_before_booking, validated, settings)
        except MediaServerUnavailable as error:
            return _book_page(request, session, staff, values=form, errors={}, status_code=error.status,
                              problem=error.message)
    appointment, _url, _code = booking.book(session, staff, validated, base_url=base_url(request),
                                            clinic_phone=settings.clinic_phone, tz=tz, limiter=app_limiter(request))
    for invite in validated.invites:
        invites.create(session, staff, appointment.room, invite, base_url=base_url(request),
                       clinic_phone=settings.clinic_phone, tz=tz,
                       max_participants=groups.invitations(appointment, settings), limiter=app_limiter(request),
                       growth=groups.growth(appointment, settings, answered=validated.past_mesh))
    session.commit()
    request.app.state.sender.wakeup.set()
    return RedirectResponse(f"/staff?booked={appointment.id}", status_code=303)


def _form(fields: dict[str, str], name: str) -> str:
    return fields.get(name, "")


@router.post("/staff/appointments/{appointment_id}/outcome")
async def record_outcome(appointment_id: RowId, request: Request, session: DB, tz: TZ) -> Response:
    """The outcome from the appointment page, or from the dialog after the call (``Accept: application/json``)."""
    staff, appointment = _managed(request, session, appointment_id)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    follow_up = {"yes": True, "no": False}.get(_form(form, "follow_up"))
    data = outcomes.OutcomeSet(outcome=_form(form, "outcome"), failure_reason=_form(form, "failure_reason") or None,
                               follow_up=follow_up, note=_form(form, "note")[:4 * outcomes.MAX_NOTE])
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        ended = outcomes.record(session, staff, appointment, data)
        fhir.export_on_outcome(session, appointment, request.app.state.settings)  # the record, with the outcome
    except VisittError as error:
        session.rollback()
        if wants_json:
            return _json_error(request, error)
        fields = dict(error.fields or {}) or {"outcome": error.message}
        return _appointment_page(request, session, staff, appointment, tz, errors=fields, values=form,
                                 status_code=error.status)
    session.commit()
    request.app.state.sender.wakeup.set()  # the record to the FHIR server, when one is configured
    if ended:
        await _ended(request, appointment, "no_show" if data.outcome == "no_show" else "host_ended")
    if wants_json:
        return JSONResponse(outcomes.public(session, appointment).model_dump())
    return RedirectResponse(f"/staff/appointments/{appointment_id}?recorded=1", status_code=303)


@router.post("/staff/appointments/{appointment_id}/patients/{participant_id}/outcome")
async def record_patient_outcome(appointment_id: RowId, participant_id: str, request: Request, session: DB,
                                 tz: TZ) -> Response:
    """One patient's outcome in a group consultation, from their form on the appointment page."""
    staff, appointment = _managed(request, session, appointment_id)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    participant = outcomes.group_patient(appointment, participant_id)
    data = outcomes.PatientOutcomeSet(
        outcome=_form(form, "outcome"), failure_reason=_form(form, "failure_reason") or None,
        follow_up={"yes": True, "no": False}.get(_form(form, "follow_up")),
        note=_form(form, "note")[:4 * outcomes.MAX_NOTE], exemption=_form(form, "exemption") or None)
    try:
        outcomes.record_for_patient(session, staff, appointment, participant, data)
        fhir.export_on_outcome(session, appointment, request.app.state.settings)  # each patient's record
    except VisittError as error:
        session.rollback()
        fields = {f"{participant_id}.{key}": text for key, text in (error.fields or {"outcome": error.message}).items()}
        return _appointment_page(request, session, staff, appointment, tz, errors=fields, status_code=error.status)
    session.commit()
    request.app.state.sender.wakeup.set()  # the record to the FHIR server, when one is configured
    return RedirectResponse(f"/staff/appointments/{appointment_id}?patient={participant_id}#patient-{participant_id}",
                            status_code=303)


@router.get("/staff/rooms/{room_id}/outcome")
def room_outcome(room_id: str, request: Request, session: DB) -> JSONResponse:
    """The outcome of the consultation in this room as it stands (Visitt's suggestion until confirmed),
    for the dialog after the call (outcome.js)."""
    staff = page_staff(request, session)
    room = access.room(session, staff, room_id)
    if room.appointment is None:
        raise NotFound(N_("No such appointment."))
    return JSONResponse(outcomes.public(session, room.appointment).model_dump())


@router.post("/staff/appointments/{appointment_id}/withdraw")
async def record_withdrawal(appointment_id: RowId, request: Request, session: DB, tz: TZ) -> Response:
    """The patient phoned to say they do not want video (004): recorded by staff; video ends. In a group
    consultation only for the patient the staff member chose (``participant``: their invitation); the others
    go on."""
    staff, appointment = _managed(request, session, appointment_id)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    how = form.get("how", "phone_to_secretary")
    if how not in consent.HOW or how in ("knock", "patient_page"):
        how = "other"
    if groups.is_group(appointment):
        try:
            participant = outcomes.group_patient(appointment, form.get("participant", ""))
        except NotFound:
            return _appointment_page(request, session, staff, appointment, tz, status_code=422,
                                     errors={"participant": N_("Choose the patient who does not want video.")})
        consent.withdraw_from_group(session, appointment, participant, how=how, language=appointment.language,
                                    staff_id=staff.id)
        session.commit()
        room = appointment.room
        if room is not None:
            await request.app.state.cluster.patient_withdrew(room.host_id, room.public_id, participant.id)
        return RedirectResponse(f"/staff/appointments/{appointment_id}?withdrawn={participant.public_id}",
                                status_code=303)
    ended = consent.withdraw(session, appointment, how=how, language=appointment.language, staff_id=staff.id)
    session.commit()
    if ended:
        await _ended(request, appointment, "withdrawn")
    return RedirectResponse(f"/staff/appointments/{appointment_id}?withdrawn=1", status_code=303)


def _json_error(request: Request, error: VisittError) -> JSONResponse:
    gettext = translations(language(request)).gettext
    body = error.public()
    body["message"] = gettext(error.message)
    if error.fields:
        body["fields"] = {key: gettext(text) for key, text in error.fields.items()}
    return JSONResponse({"error": body}, status_code=error.status)


def _minutes(text: str) -> int:
    """A duration typed into a form; 0 (refused by the validation) for anything but a few digits."""
    return int(text) if re.fullmatch(r"[0-9]{1,4}", text) else 0


def _managed(request: Request, session: Session, appointment_id: int) -> tuple[Staff, Appointment]:
    staff = page_staff(request, session)
    return staff, access.appointment(session, staff, appointment_id)


async def _ended(request: Request, appointment: Appointment, reason: str) -> None:
    if appointment.room is not None:
        room = appointment.room
        await request.app.state.cluster.room_ended(room.host_id, room.public_id, reason)


@router.post("/staff/appointments/{appointment_id}/no-show")
async def no_show(appointment_id: RowId, request: Request, session: DB,
                  csrf: Annotated[str, Form()] = "") -> Response:
    """Record that the patient never came (after the clinician tried to call them)."""
    staff, appointment = _managed(request, session, appointment_id)
    check_csrf(request, csrf)
    rooms.record_no_show(session, appointment, actor=f"staff:{staff.id}")
    session.commit()
    await _ended(request, appointment, "no_show")
    return RedirectResponse("/staff", status_code=303)


@router.get("/staff/appointments/{appointment_id}")
def appointment_page(appointment_id: RowId, request: Request, session: DB, tz: TZ) -> Response:
    staff, appointment = _managed(request, session, appointment_id)
    return _appointment_page(request, session, staff, appointment, tz)


def _appointment_page(request: Request, session: Session, staff: Staff, appointment: Appointment, tz: ZoneInfo, *,
                      errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                      status_code: int = 200) -> Response:
    local = appointment.starts_at.astimezone(tz)
    values = values or {"date": local.date().isoformat(), "time": local.strftime("%H:%M"),
                        "duration_minutes": str(appointment.duration_minutes)}
    ended = appointment.room is not None and appointment.room.state is RoomState.ended
    journal = journal_note.note(session, appointment, language(request), tz) if ended else None
    patients = []  # a group's: each patient's outcome, co-payment and journal note, recorded separately
    if groups.is_group(appointment) and appointment.state is not AppointmentState.in_progress:
        for participant, row in outcomes.patient_rows(session, appointment):
            patients.append({"participant": participant, "outcome": row,
                             "name": participant.display_name or appointment.patient_name,
                             "copayment": copayment.copayment_for_patient(session, appointment, row),
                             "journal": journal_note.note(session, appointment, language(request), tz, row)
                             if ended and row is not None else None})
    return render(request, "appointment.html", status_code=status_code, staff=staff, appointment=appointment,
                  group=groups.is_group(appointment), patients=patients, patient_outcomes=outcomes.PATIENT_OUTCOMES,
                  values=values, errors=errors or {}, tz=tz,
                  failures=delivery.failures(session, [appointment.id]).get(appointment.id, []),
                  copayment=copayment.copayment_for(session, appointment), outcome_names=outcomes.NAMES,
                  failure_names=outcomes.FAILURE_NAMES, exemption_names=copayment.EXEMPTION_NAMES,
                  warnings=booking.warnings(appointment), journal=journal)


@router.post("/staff/appointments/{appointment_id}/move")
async def move_appointment(appointment_id: RowId, request: Request, session: DB, tz: TZ) -> Response:
    staff, appointment = _managed(request, session, appointment_id)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    duration = form.get("duration_minutes", "")
    change = appointments.AppointmentMove(starts_at=f"{form.get('date', '')}T{form.get('time', '')}",
                                          duration_minutes=_minutes(duration))
    try:
        appointments.move(session, appointment, change, staff=staff, tz=tz,
                          clinic_phone=request.app.state.settings.clinic_phone, base_url=base_url(request),
                          limiter=app_limiter(request))
    except ValidationFailed as error:
        session.rollback()
        fields = dict(error.fields)
        if "starts_at" in fields:
            fields["date"] = fields.pop("starts_at")
        return _appointment_page(request, session, staff, appointment, tz, values=form,
                                 errors=fields or {"date": error.message}, status_code=422)
    session.commit()
    request.app.state.sender.wakeup.set()
    return RedirectResponse(f"/staff/appointments/{appointment_id}?moved=1", status_code=303)


@router.post("/staff/appointments/{appointment_id}/cancel")
async def cancel_appointment(appointment_id: RowId, request: Request, session: DB, tz: TZ,
                             csrf: Annotated[str, Form()] = "") -> Response:
    staff, appointment = _managed(request, session, appointment_id)
    check_csrf(request, csrf)
    appointments.cancel(session, appointment, staff=staff, tz=tz,
                        clinic_phone=request.app.state.settings.clinic_phone, base_url=base_url(request),
                        limiter=app_limiter(request))
    session.commit()
    request.app.state.sender.wakeup.set()
    await _ended(request, appointment, "cancelled")
    return RedirectResponse(f"/staff/appointments/{appointment_id}", status_code=303)


def _queue(request: Request, session: Session, staff: Staff) -> list[department_queue.QueueEntry]:
    if staff.department_id is None:
        return []
    # the longest anyone waits: the limit, moved at most by running-late notices (visitt.live.lobby.Lobby.late)
    longest = dt.timedelta(minutes=request.app.state.settings.max_wait_minutes + protocol.LATE_MAX_MINUTES)
    return department_queue.waiting_in(session, staff.department_id, max_wait=longest)


@router.get("/staff/queue")
def queue_page(request: Request, session: DB, tz: TZ) -> Response:
    """Everyone waiting in the staff member's department; the page refreshes it from ``/staff/queue/waiting``."""
    staff = page_staff(request, session)
    strings = client_text.translate(client_text.QUEUE, translations(language(request)).gettext)
    return render(request, "queue.html", staff=staff, entries=_queue(request, session, staff), tz=tz,
                  strings=strings)


@router.get("/staff/queue/waiting")
def queue_waiting(request: Request, session: DB) -> JSONResponse:
    """The department queue as JSON, for the queue page's refresh: ``{"waiting": [...]}``, longest wait first."""
    staff = page_staff(request, session)
    return JSONResponse({"waiting": [
        {"name": entry.name, "clinician": entry.clinician, "yours": entry.clinician_id == staff.id,
         "since": entry.since.isoformat(), "scheduled": entry.scheduled,
         "starts_at": entry.starts_at.isoformat() if entry.starts_at else None}
        for entry in _queue(request, session, staff)]})


@router.get("/staff/outbox")
def outbox_page(request: Request, session: DB) -> Response:
    staff = page_staff(request, session)
    if not request.app.state.settings.demo:
        raise Forbidden(N_("The outbox page is shown only in demo mode: messages carry personal data."))
    # the messages of the appointments this member of staff manages and of the staff meetings they host (a
    # meeting's host alone manages it): messages carry links and codes
    managed = select(Appointment.id).where(access.managed_appointments(staff))
    hosted = select(Meeting.room_id).join(Room, Room.id == Meeting.room_id).where(Room.host_id == staff.id)
    messages = list(session.scalars(select(OutboxMessage)
                                    .where(or_(OutboxMessage.appointment_id.in_(managed),
                                               OutboxMessage.room_id.in_(hosted)))
                                    .order_by(OutboxMessage.id.desc()).limit(100)))
    clinic = mail.Clinic.from_settings(request.app.state.settings)
    texts = {message.id: mail.preview(message.body, clinic) if message.channel == "email" and message.body
             else message.body for message in messages}
    return render(request, "outbox.html", staff=staff, messages=messages, texts=texts,
                  failed={message.id for message in messages if delivery.is_failed(message)},
                  reason_text=delivery.reason_text)
