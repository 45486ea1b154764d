"""Booking a video consultation: the same validation for the staff form and the JSON API.

A booking creates the appointment, its room, the patient's invitation (an opaque link token and a
six-digit code) and queues the invitation SMS - and, when the patient gave an e-mail address, the
e-mail with the calendar file - all in one unit of work.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt.store import audit
from visitt.web import i18n
from visitt import access, codes, copayment, invites, patients, training
from visitt.messaging import mail, outbox
from visitt import text as human
from visitt.accounts import digest, new_secret
from visitt.errors import Forbidden, ValidationFailed
from visitt.web.help_page import address as help_address
from visitt.web.i18n import N_
from visitt.ids import RowId
from visitt.limiter import Limiter
from visitt.store.models import Appointment, Participant, Role, Room, Staff, utcnow

MIN_DURATION, MAX_DURATION = 5, 240
LANGUAGES = tuple(i18n.LANGUAGES)  # the SMS, the e-mail and the calendar file come in every page language
MAX_AHEAD = dt.timedelta(days=10 * 366)  # how far ahead a consultation can be booked or moved


class AppointmentCreate(BaseModel):
    """What a booking needs. ``starts_at`` is ISO 8601; without an offset it is the clinic's local time."""

    patient_name: str = Field("", description="The patient's full name.", examples=["Kari Nordmann"])
    patient_phone: str = Field("", description="Mobile number; Norwegian unless it starts with +.",
                               examples=["412 34 567"])
    starts_at: str = Field("", description="Start time, ISO 8601: in the future, at most ten years ahead.",
                           examples=["2026-12-01T09:30"])
    duration_minutes: int = Field(30, description=f"{MIN_DURATION}–{MAX_DURATION} minutes.")
    clinician_id: RowId | None = Field(None, description="Host. Defaults to the booking clinician.")
    language: str = Field("nb", description="Language of the SMS and the e-mail: nb, nn, en, ar, pl, so or ur.")
    patient_email: str = Field("", description="Optional. When given, the invitation also goes by e-mail, "
                               "with a calendar file.", examples=["kari.nordmann@example.no"])
    participants: list[invites.InviteCreate] = Field(
        default_factory=list, description="Others to invite, each with their own SMS: a companion, an interpreter "
                                          "or a colleague; in a group consultation also other patients. More than "
                                          "the mesh carries (VISITT_MAX_PARTICIPANTS) only while the media server "
                                          "(Janus) answers, up to VISITT_MAX_GROUP_PARTICIPANTS: the call moves there "
                                          "as it grows.")
    national_id: str = Field("", description="Optional: the patient's fødselsnummer or D-number (11 digits). "
                             "Kept for the record only: never shown to the patient, never in a URL, log or SMS.")
    external_ref: str = Field("", max_length=256, description="Optional: the hospital's own appointment or case "
                              "id (at most 64 characters).")
    video_suitable_confirmed: bool | None = Field(
        None, description="The clinician (or a secretary on their behalf) confirms that video is clinically "
                          "suitable for this consultation (routine 003). false refuses the booking.")
    exemption: str | None = Field(None, description="Co-payment exemption: frikort, child_under_16, "
                                                    "mental_health_under_18, pregnancy or other (with a reason).")
    exemption_reason: str = Field("", max_length=800, description="With exemption other: why (200 characters "
                                                                 "at most).")
    group: bool = Field(default=False, description="A group consultation (group therapy, say): up to "
                                           "VISITT_MAX_GROUP_PARTICIPANTS people besides the clinician, "
                                           "the media through the media server (Janus), which must answer.")


class BookingWarning(BaseModel):
    """Something the booker should know; the booking is made all the same."""

    code: str = Field(examples=["clinician_untrained"])
    message: str


UNTRAINED = N_("The clinician has not completed the training yet and cannot host the consultation until it is "
               "recorded.")




class AppointmentPublic(BaseModel):
    id: int
    starts_at: dt.datetime
    duration_minutes: int
    clinician: str
    state: str
    join_url: str
    code: str
    participants: list[invites.InvitePublic] = []
    warnings: list[BookingWarning] = Field(default_factory=list, description="Things to know; the booking is made.")


@dataclass(frozen=True)
class Booking:
    """A validated booking request."""

    patient_name: str
    patient_phone: str
    starts_at: dt.datetime
    duration_minutes: int
    clinician: Staff
    language: str
    patient_email: str = ""
    invites: tuple[invites.Invite, ...] = ()
    national_id: str = ""
    external_ref: str | None = None
    video_suitable_confirmed: bool = False
    exemption: str | None = None
    exemption_reason: str = ""
    group: bool = False
    past_mesh: bool = False  # a consultation with more people invited than the mesh carries: its call needs Janus

    @property
    def needs_media_server(self) -> bool:
        """Its call goes through Janus (a group), or will once everyone invited joins (past the mesh): the booking
        asks Janus first."""
        return self.group or self.past_mesh


def validate(session: Session, booker: Staff, data: AppointmentCreate, *, tz: ZoneInfo, region: str,
             now: dt.datetime | None = None, max_participants: int = 5, max_group: int = 12,
             grows: bool = False) -> Booking:
    """Check every field and report all problems at once, keyed by field name (``participants.0.phone``
    for the first other invitee's number). A group (``data.group``) takes ``max_group`` people besides
    the clinician, other patients among them; any other consultation ``max_participants`` in all, or,
    when it ``grows`` (Janus is configured: its call moves there past the mesh), ``max_group`` besides the
    clinician as well (:attr:`Booking.past_mesh` then says it needs Janus)."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    name = human.one_line(data.patient_name)
    if human.refused(data.patient_name):
        errors["patient_name"] = human.NAME_REFUSED
    elif not name:
        errors["patient_name"] = N_("Enter the patient's full name.")
    elif len(name) > 200:
        errors["patient_name"] = N_("The name is too long (200 characters at most).")

    phone = invites.mobile_number(data.patient_phone, region, errors, "patient_phone")

    starts_at = parse_start(data.starts_at, tz, now, errors)

    if not MIN_DURATION <= data.duration_minutes <= MAX_DURATION:
        errors["duration_minutes"] = N_("Choose between 5 and 240 minutes.")  # MIN_DURATION, MAX_DURATION
    if data.language not in LANGUAGES:
        errors["language"] = N_("Choose one of these languages: nb, nn, en, ar, pl, so, ur.")
    email = mail.normalise_address(data.patient_email) if data.patient_email.strip() else ""
    if email is None:
        errors["patient_email"] = N_("Enter a valid e-mail address, for example kari.nordmann@example.no, "
                                     "or leave the field empty.")

    clinician = _clinician(session, booker, data.clinician_id, errors)
    kinds = invites.GROUP_KINDS if data.group else invites.KINDS
    others = [invites.check(session, other, region=region, errors=errors, prefix=f"participants.{index}.",
                            kinds=kinds)
              for index, other in enumerate(data.participants)]
    on_mesh = max_participants - 2  # the patient is in it; the clinician too
    room_for = max_group - 1 if data.group or grows else on_mesh
    if len(data.participants) > room_for:
        errors["participants"] = N_("No more participants fit in this consultation.")
    if clinician is not None:
        for index, other in enumerate(data.participants):
            if other.staff_id is not None and other.staff_id == clinician.id:
                errors[f"participants.{index}.staff_id"] = N_("This clinician is already in the consultation.")
    national_id = patients.clean_national_id(data.national_id)
    if national_id is None:
        errors["national_id"] = patients.NATIONAL_ID_REFUSED
    reference = human.one_line(data.external_ref)
    if human.refused(data.external_ref):
        errors["external_ref"] = human.REFUSED
    elif len(reference) > 64:
        errors["external_ref"] = N_("The reference is too long (64 characters at most).")
    if data.video_suitable_confirmed is False:
        errors["video_suitable_confirmed"] = N_("Book video only when it is clinically suitable for this "
                                                "consultation.")
    exemption, exemption_reason = _exemption(session, data, starts_at, errors)
    if errors:
        raise ValidationFailed(N_("The appointment could not be booked."), fields=errors)
    assert clinician is not None and starts_at is not None and national_id is not None
    return Booking(name, phone, starts_at, data.duration_minutes, clinician, data.language, email or "",
                   tuple(other for other in others if other is not None), national_id, reference or None,
                   bool(data.video_suitable_confirmed), exemption, exemption_reason, data.group,
                   past_mesh=not data.group and len(data.participants) > on_mesh)


def _exemption(session: Session, data: AppointmentCreate, starts_at: dt.datetime | None,
               errors: dict[str, str]) -> tuple[str | None, str]:
    """The co-payment exemption, checked against the reasons valid on the appointment's day."""
    code = (data.exemption or "").strip() or None
    reason = human.one_line(data.exemption_reason)
    if code is None:
        return None, ""
    day = (starts_at or utcnow()).astimezone(copayment.CLINIC_TZ).date()
    known = copayment.exemptions_on(session, day)
    if code not in known:
        errors["exemption"] = N_("Choose an exemption from the list: %(codes)s.") % {"codes": ", ".join(known)}
        return None, ""
    if human.refused(data.exemption_reason):
        errors["exemption_reason"] = human.REFUSED
    elif known[code].needs_reason and not reason:
        errors["exemption_reason"] = N_("Say why the patient is exempt.")
    elif len(reason) > 200:
        errors["exemption_reason"] = N_("The reason is too long (200 characters at most).")
    return code, reason


def parse_start(value: str, tz: ZoneInfo, now: dt.datetime, errors: dict[str, str]) -> dt.datetime | None:
    """A start time in the future, at most :data:`MAX_AHEAD` away, in UTC; or None with the reason in
    ``errors["starts_at"]``.

    The bound keeps every time derived from an appointment (the link's window, the reminder, the
    calendar event's end) far from the ends of the calendar: a date near 9999-12-31, or before year 1
    once its offset is applied, is refused here and never overflows later.
    """
    try:
        starts_at = dt.datetime.fromisoformat(value.strip())
        if starts_at.tzinfo is None:
            starts_at = starts_at.replace(tzinfo=tz)
        starts_at = starts_at.astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        errors["starts_at"] = N_("Enter the date and time, for example 2026-12-01T09:30.")
        return None
    if starts_at <= now:
        errors["starts_at"] = N_("Choose a time in the future.")
        return None
    if starts_at > now + MAX_AHEAD:
        errors["starts_at"] = N_("Choose a time within the next ten years.")  # MAX_AHEAD
        return None
    return starts_at


def _clinician(session: Session, booker: Staff, clinician_id: int | None, errors: dict[str, str]) -> Staff | None:
    if clinician_id is None:
        if booker.role is Role.clinician:
            return _offering_video(booker, errors)
        errors["clinician_id"] = N_("Choose the clinician.")
        return None
    clinician = session.get(Staff, clinician_id)
    if clinician is None or clinician.role is not Role.clinician or not clinician.active:
        errors["clinician_id"] = N_("Choose a clinician from the list.")
        return None
    if booker.role is Role.clinician and clinician.id != booker.id:
        raise Forbidden(N_("Clinicians book their own consultations; a secretary books for others."))
    if booker.role in access.DEPARTMENT_ROLES and clinician.department_id not in access.department_ids(booker):
        raise Forbidden(N_("A secretary books only for clinicians in their own department."))
    return _offering_video(clinician, errors)


def _offering_video(clinician: Staff, errors: dict[str, str]) -> Staff | None:
    """``clinician``, unless their department does not offer video consultations (seed 000)."""
    if clinician.department is not None and not clinician.department.offers_video:
        errors["clinician_id"] = N_("This clinician's department does not offer video consultations.")
        return None
    return clinician


def clinicians_for(session: Session, booker: Staff) -> list[Staff]:
    """The clinicians ``booker`` may book for."""
    query = select(Staff).where(Staff.role == Role.clinician, Staff.active.is_(True)).order_by(Staff.full_name)
    if booker.role is Role.clinician:
        query = query.where(Staff.id == booker.id)
    elif booker.role in access.DEPARTMENT_ROLES:
        query = query.where(Staff.department_id.in_(access.department_ids(booker)))
    return list(session.scalars(query))


def book(session: Session, booker: Staff, booking: Booking, *, base_url: str, clinic_phone: str,
         tz: ZoneInfo, limiter: Limiter | None = None) -> tuple[Appointment, str, str]:
    """Create the appointment and everything hanging on it; returns it with its join URL and code."""
    clinician = booking.clinician
    patient = patients.match(session, national_id=booking.national_id, phone=booking.patient_phone,
                             name=booking.patient_name)
    appointment = Appointment(patient=patient, external_ref=booking.external_ref,
        video_suitable_confirmed=booking.video_suitable_confirmed, exemption=booking.exemption,
        exemption_reason=booking.exemption_reason,
        department_id=clinician.department_id, clinician_id=clinician.id, booked_by_id=booker.id,
        starts_at=booking.starts_at, duration_minutes=booking.duration_minutes,
        patient_name=booking.patient_name, patient_phone=booking.patient_phone, language=booking.language,
        patient_email=booking.patient_email, calendar_sequence=0, kind="group" if booking.group else "consultation",
    )
    room = Room(public_id=secrets.token_urlsafe(12), host_id=clinician.id, appointment=appointment)
    token, code = new_secret(), codes.draw(session, room)
    invitation = Participant(public_id=secrets.token_urlsafe(9), room=room, kind="patient",
                             token_hash=digest(token), code=code, phone=booking.patient_phone)
    session.add_all([appointment, room, invitation])
    session.flush()
    join_url = f"{base_url}/v/{token}"
    phone = clinician.department.phone if clinician.department and clinician.department.phone else clinic_phone
    body = outbox.invitation_text(booking.language, when=booking.starts_at.astimezone(tz), url=join_url, code=code,
                                  phone=phone, help_url=help_address(base_url, booking.language))
    outbox.enqueue(session, recipient=booking.patient_phone, body=body, appointment_id=appointment.id,
                   limiter=limiter, sender=booker.id)
    mail.queue(session, appointment, "invitation", code=code, phone=phone, address=base_url, url=join_url)
    audit.record(session, f"staff:{booker.id}", "booking", room_id=room.id, subject=f"appointment:{appointment.id}",
                 clinician=clinician.id)
    return appointment, join_url, code


def warnings(appointment: Appointment) -> list[BookingWarning]:
    """What to tell whoever booked ``appointment``; the booking is made all the same. A clinician not yet
    trained cannot host it (the training gate, ``training.py``: a secretary may book ahead of the
    training); a patient who withdrew from video before should be asked again. Messages untranslated:
    the caller translates them."""
    found = []
    if not training.is_trained(appointment.clinician):
        found.append(BookingWarning(code="clinician_untrained", message=UNTRAINED))
    patient = appointment.patient
    if patient is not None and patient.withdrew_video_at is not None:
        found.append(BookingWarning(code="patient_withdrew_video", message=WITHDREW_WARNING))
    return found


WITHDREW_WARNING = N_("This patient has said before that they do not want video consultations. "
                      "Check with them that video is all right this time.")
