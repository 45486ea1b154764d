"""The patient's ways in - the SMS link and the six-digit code on the front page - and the page both
lead to: device check, name, knock, waiting room and the call. Outside the link's window the page
says when to come back or whom to call. See ``docs/joining.md``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from visitt.store import audit
from visitt.web import client_text, clock
from visitt import code_entry, joining
from visitt.accounts import digest
from visitt.web.deps import DB, clinic_tz
from visitt.errors import RateLimited
from visitt.web.i18n import translations
from visitt.store.models import AppointmentState, Participant, RoomState, utcnow
from visitt.web.pages import language, render
from visitt.web.security import check_csrf, session_staff

router = APIRouter(include_in_schema=False)
TZ = Annotated[ZoneInfo, Depends(clinic_tz)]



@router.post("/")
def enter_code(request: Request, session: DB, code: Annotated[str, Form()] = "",
               csrf: Annotated[str, Form()] = "") -> Response:
    """The front page's form. A correct code earns a guest pass and leads to ``/v``, the link's page;
    every wrong code - unknown, cancelled, ended, outside its window - gets the same answer."""
    check_csrf(request, csrf)
    lang = language(request)
    gettext = translations(lang).gettext
    settings = request.app.state.settings
    digits = code_entry.normalise(code)
    if digits is None:
        return render(request, "front.html", status_code=422,
                      error=gettext("Enter the six digits from your SMS, for example 123 456."))
    # the client's own address: uvicorn has already read X-Forwarded-For if a trusted proxy sent it
    address = request.client.host if request.client else ""
    try:
        participant = code_entry.enter(session, digits, address, settings, request.app.state.limiter)
    except RateLimited as error:
        refused = render(request, "message.html", status_code=429, title=gettext("Too many attempts"),
                         text=gettext("Wait {duration} before you try a number again, or open the link in "
                                      "the SMS.").format(duration=_minutes(settings.code_attempt_minutes, lang)))
        refused.headers["Retry-After"] = str(error.retry_after)
        return refused
    if participant is None:
        session.commit()  # count the attempt before the next one can arrive
        return render(request, "front.html", status_code=422,
                      error=gettext("No consultation can be opened with this number now. Check the six digits "
                                    "in your SMS. The number works from {duration} before your "
                                    "appointment.").format(duration=_minutes(settings.link_opens_minutes, lang)))
    value, expires_at = joining.issue_pass(session, participant, settings)
    who = f"participant:{participant.public_id}"
    audit.record(session, who, "code_entry", room_id=participant.room_id, subject=who)
    session.commit()
    response = RedirectResponse("/v", status_code=303)
    response.set_cookie(joining.PASS_COOKIE, value, httponly=True, samesite="strict", secure=settings.secure_cookies,
                        max_age=max(60, int((expires_at - utcnow()).total_seconds())), path="/")
    return response


@router.post("/scripts-off")
def scripts_off(request: Request) -> Response:
    """Where the forms that scripts normally send (the knock, the chat, the invitation, the identity
    check) lead when the browser runs no scripts: a page that says so. The form posts, so the name, the
    number or the note never lands in an address, a history or a proxy's log; none of it is read or kept."""
    gettext = translations(language(request)).gettext
    return render(request, "message.html", status_code=400, title=gettext("This page needs JavaScript"),
                  text=gettext("Nothing was sent. Turn on JavaScript in your browser, go back and reload the page, "
                               "or call the clinic."))


@router.get("/v")
def pass_page(request: Request, session: DB, tz: TZ) -> Response:
    """The link's page for someone who entered the code on this device (the guest pass cookie)."""
    participant = joining.participant_for_pass(session, request.cookies.get(joining.PASS_COOKIE))
    if participant is None:
        gettext = translations(language(request)).gettext
        return render(request, "message.html", status_code=404, title=gettext("Enter the number from your SMS"),
                      text=gettext("Enter the six-digit number on the front page again, or open the link in the "
                                   "SMS."))
    return _patient_page(request, participant, tz)


@router.get("/v/{token}")
def join_page(token: str, request: Request, session: DB, tz: TZ) -> Response:
    participant = session.scalar(select(Participant).where(Participant.token_hash == digest(token)))
    if participant is None:
        gettext = translations(language(request)).gettext
        return render(request, "message.html", status_code=404, title=gettext("This link is not valid"),
                      text=gettext("Check that you opened the whole link from the SMS, or call the clinic."))
    if participant.staff_id is not None:  # a colleague invited as co-host, signed in as that account: their page
        staff = session_staff(request, session)
        if staff is not None and staff.id == participant.staff_id:
            return RedirectResponse(f"/staff/cohost/{participant.public_id}", status_code=303)
    return _patient_page(request, participant, tz)


def _minutes(minutes: float, lang: str) -> str:
    return clock.duration(dt.timedelta(minutes=minutes), lang)


def _patient_page(request: Request, participant: Participant, tz: ZoneInfo) -> Response:
    lang = language(request)
    gettext = translations(lang).gettext
    zone = request.app.state.settings.timezone
    room = participant.room
    if room.appointment is not None and room.appointment.state is AppointmentState.cancelled:
        cancelled_in = room.appointment.department
        return render(request, "message.html", status_code=410, title=gettext("The consultation has been cancelled"),
                      text=gettext("Your video consultation on {date} at {time} has been cancelled. Call the clinic if "
                                   "you have questions or need a new appointment.").format(
                          date=clock.day(room.appointment.starts_at, lang, zone),
                          time=clock.time_of_day(room.appointment.starts_at, lang, zone)),
                      clinic_phone=cancelled_in.phone if cancelled_in and cancelled_in.phone
                      else request.app.state.settings.clinic_phone)
    settings = request.app.state.settings
    meeting = room.meeting
    if meeting is not None and room.state is RoomState.ended:  # a staff meeting's guest: meeting words
        department = room.host.department
        meeting_phone = department.phone if department and department.phone else settings.clinic_phone
        if meeting.cancelled_at is not None:
            return render(request, "message.html", status_code=410, title=gettext("The meeting has been cancelled"),
                          text=gettext("The video meeting on {date} at {time} has been cancelled.").format(
                              date=clock.day(meeting.starts_at, lang, zone),
                              time=clock.time_of_day(meeting.starts_at, lang, zone)),
                          clinic_phone=meeting_phone)
        return render(request, "message.html", status_code=410, title=gettext("The meeting has ended"),
                      text=gettext("This video meeting is over."),
                      clinic_phone=meeting_phone)
    if room.state is RoomState.ended:
        if room.appointment is None and settings.portal_path:  # a portal visit: the portal is the way back
            return render(request, "message.html", status_code=410, title=gettext("The consultation has ended"),
                          text=gettext("To see a clinician again, start a new visit on the portal."),
                          link=settings.portal_path, link_text=gettext("Find your clinician"))
        return render(request, "message.html", status_code=410, title=gettext("The consultation has ended"),
                      text=gettext("If you need a new appointment, please call the clinic."))
    appointment = room.appointment
    texts = {**client_text.PATIENT, **client_text.SHARE} if settings.patients_may_share else client_text.PATIENT
    if meeting is not None:  # health personnel in a staff meeting: the host and the meeting, not a consultation
        texts = {key: text for key, text in {**texts, **client_text.MEETING_GUEST}.items()
                 if key not in client_text.CONSULTATION_ONLY}
    strings = client_text.translate(texts, gettext)
    # a portal visit has no appointment: the clinician's own department is the one to call
    department = appointment.department if appointment else room.host.department
    phone = department.phone if department and department.phone else settings.clinic_phone
    scheduled = appointment or meeting
    span = joining.window(scheduled, settings)
    timing = span.timing(utcnow()) if span else joining.Timing.open
    if scheduled is not None and span is not None and timing is not joining.Timing.open:
        when = {"date": clock.day(scheduled.starts_at, lang, zone),
                "time": clock.time_of_day(scheduled.starts_at, lang, zone)}
        if timing is joining.Timing.early:
            text = (gettext("Your video meeting is on {date} at {time}. The link opens {duration} before, on "
                            "{opens}. Please come back then.") if meeting is not None else
                    gettext("Your consultation is on {date} at {time}. The link opens {duration} before, on "
                            "{opens}. Please come back then."))
            return render(request, "message.html", status_code=403, title=gettext("It is too early to join"),
                          text=text.format(**when, duration=_minutes(settings.link_opens_minutes, lang),
                                           opens=clock.when(span.opens_at, lang, zone)),
                          clinic_phone=phone)
        text = (gettext("Your video meeting was on {date} at {time}, and the link has closed. Contact the person "
                        "who invited you if you need a new meeting.") if meeting is not None else
                gettext("Your consultation was on {date} at {time}, and the link has closed. Call the clinic if you "
                        "need to talk to someone or want a new appointment."))
        return render(request, "message.html", status_code=410, title=gettext("This link no longer works"),
                      text=text.format(**when), clinic_phone=phone)
    # whom the patient meets: the clinician's name and department, as on the staff badge they will see. A staff
    # meeting's guest sees its time and host, never its title, and the warning that patients are discussed.
    starts_at = appointment.starts_at if appointment else meeting.starts_at if meeting else None
    return render(request, "patient.html", starts_at=starts_at.astimezone(tz) if starts_at else None,
                  meeting=meeting is not None,
                  clinician_name=room.host.full_name, department_name=department.name if department else "",
                  strings=strings, clinic_phone=phone, name=participant.display_name,
                  may_share=settings.patients_may_share)
