"""Staff meetings: health personnel discussing identifiable patients, with no patient present (issue 20 §1,
routine 003). See ``docs/meetings.md#staff-meetings``.

A meeting is a room with no appointment, so no patient record: no outcome, no co-payment, no journal note,
no consent to video. Its host (a trained clinician) creates it now or for later, with a title that only
staff see. Colleagues invited by their staff account find it on their dashboard and join as co-hosts,
signed in, without knocking; external health personnel are invited by SMS or e-mail (a link and a six-digit
code, in neutral words) and come through the waiting room like any guest. Everything else is the
consultation's: the invitations (:func:`visitt.invites.create`), the lobby, lock, removal, chat, the audit
trail, and who may do what (:mod:`visitt.access`, :mod:`visitt.live.permissions`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from visitt import access, groups, invites, phones
from visitt import text as human
from visitt.booking import MAX_DURATION, MIN_DURATION, parse_start
from visitt.errors import Conflict, Forbidden, ValidationFailed
from visitt.ids import RowId
from visitt.limiter import Limiter
from visitt.messaging import mail, outbox
from visitt.rooms import move_room
from visitt.settings import Settings
from visitt.store import audit
from visitt.store.models import Meeting, Participant, ParticipantState, Role, Room, RoomState, Staff, utcnow
from visitt.web.i18n import N_, translations

MAX_TITLE = 200


class MeetingGuest(BaseModel):
    """Someone from outside the hospital's accounts (health personnel elsewhere), invited by SMS or e-mail."""

    name: str = Field("", description="Their full name, as the host sees it in the waiting room.",
                      examples=["Dr. Ola Hansen"])
    phone: str = Field("", description="Mobile number for the SMS; Norwegian unless it starts with +. "
                                       "Give this or email.", examples=["412 34 568"])
    email: str = Field("", description="E-mail address, when there is no phone number.",
                       examples=["ola.hansen@example.no"])
    language: str = Field("nb", description="Language of the SMS or e-mail: nb, nn, en, ar, pl, so or ur.")


class MeetingCreate(BaseModel):
    """A staff meeting to create. No patient data: there is no field for any."""

    title: str = Field("", description="For staff only: never sent to the guests.", examples=["MDT lung"])
    starts_at: str = Field("", description="ISO 8601 start, in the future; empty: now.",
                           examples=["2026-12-01T14:00"])
    duration_minutes: int = Field(60, description=f"{MIN_DURATION}–{MAX_DURATION} minutes.")
    colleagues: list[RowId] = Field([], description="Staff accounts (clinicians) to invite: they see the meeting "
                                                    "on their dashboard and join as co-hosts, without knocking.")
    guests: list[MeetingGuest] = Field([], description="External health personnel, each with their own link and "
                                                       "code; they knock and the host admits them.")


class MeetingChange(BaseModel):
    """A staff meeting's new title or time; what is absent stays as it is."""

    title: str | None = Field(None, description="For staff only: never sent to the guests.")
    starts_at: str | None = Field(None, description="ISO 8601 start, in the future; without an offset the "
                                                    "clinic's local time.", examples=["2026-12-02T14:00"])
    duration_minutes: int | None = Field(None, description=f"{MIN_DURATION}–{MAX_DURATION} minutes.")


class ColleaguesInvite(BaseModel):
    """More colleagues to invite by staff account to a meeting already created."""

    colleagues: list[RowId] = Field([], description="Staff accounts (clinicians) to invite, at least one: they "
                                                    "see the meeting on their dashboard and join as co-hosts, "
                                                    "without knocking.", max_length=100, examples=[[3]])


class MeetingParticipant(BaseModel):
    id: str = Field(description="The participant's id in the call (the peer id).")
    name: str
    cohost: bool = Field(description="A colleague invited by staff account.")
    state: str


class MeetingPublic(BaseModel):
    """A meeting as the API shows it to its host and to invited colleagues."""

    id: int
    room: str = Field(description="The room's id on the signaling socket.")
    title: str
    starts_at: dt.datetime
    duration_minutes: int
    host: str
    state: str = Field(description="The room's state: open, locked or ended.")
    cancelled: bool = Field(description="Whether its host cancelled it (its room is then ended).")
    uses_media_server: bool = Field(description="Whether its call goes through the media server (Janus) rather "
                                                "than the peer-to-peer mesh (docs/meetings.md).")
    participants: list[MeetingParticipant]


class MeetingCreated(MeetingPublic):
    invitations: list[invites.InvitePublic] = Field(description="The guests' links and codes, shown this once.")


@dataclass(frozen=True)
class NewMeeting:
    """A validated :class:`MeetingCreate`."""

    title: str
    starts_at: dt.datetime
    duration_minutes: int
    colleagues: list[Staff]
    guests: list[invites.Invite]


def uses_media_server(invitations: int, max_participants: int) -> bool:
    """Whether a meeting's call goes through the media server (Janus) rather than the mesh: the one place
    this is decided. The mesh carries ``max_participants`` (``VISITT_MAX_PARTICIPANTS``) people; a meeting
    whose host and ``invitations`` could be more than that is a group call (``LiveRoom.group``)."""
    return invitations + 1 > max_participants


def require_host(staff: Staff) -> None:
    """Only someone who may host calls (an active, trained clinician) hosts a meeting."""
    if not access.may_host(staff):
        raise Forbidden(N_("Only a clinician who has completed the training can host a meeting."))


def _title(value: str, errors: dict[str, str]) -> str:
    title = human.one_line(value)
    if human.refused(value):
        errors["title"] = human.REFUSED
    elif not title:
        errors["title"] = N_("Give the meeting a title.")
    elif len(title) > MAX_TITLE:
        errors["title"] = N_("The title is too long (200 characters at most).")
    return title


def _duration(minutes: int, errors: dict[str, str]) -> None:
    if not MIN_DURATION <= minutes <= MAX_DURATION:
        errors["duration_minutes"] = N_("Choose between 5 and 240 minutes.")


def _colleagues(session: Session, host: Staff, staff_ids: list[int], errors: dict[str, str],
                invited: frozenset[int] = frozenset()) -> list[Staff]:
    """The clinicians ``staff_ids`` names, each an active clinician other than the host and not yet among
    ``invited``; a problem per index (``colleagues.0``) in ``errors``."""
    colleagues: list[Staff] = []
    for index, staff_id in enumerate(staff_ids):
        colleague = session.get(Staff, staff_id)
        if (colleague is None or colleague.role is not Role.clinician or not colleague.active
                or colleague.id == host.id):
            errors[f"colleagues.{index}"] = N_("Choose a clinician from the list.")
        elif colleague in colleagues or colleague.id in invited:
            errors[f"colleagues.{index}"] = N_("This clinician is already invited.")
        else:
            colleagues.append(colleague)
    return colleagues


def validate(session: Session, host: Staff, data: MeetingCreate, *, tz: ZoneInfo, region: str,
             max_invitations: int) -> NewMeeting:
    """Every problem at once, keyed by field (``guests.0.phone``); :class:`ValidationFailed` if any."""
    require_host(host)
    errors: dict[str, str] = {}
    title = _title(data.title, errors)
    now = utcnow()
    starts_at = parse_start(data.starts_at, tz, now, errors) if data.starts_at.strip() else now
    _duration(data.duration_minutes, errors)
    colleagues = _colleagues(session, host, data.colleagues, errors)
    guests = []
    for index, guest in enumerate(data.guests):
        prefix = f"guests.{index}."
        before = len(errors)
        name = invites.full_name(guest.name, errors, prefix + "name")
        if guest.language not in invites.LANGUAGES:
            errors[prefix + "language"] = N_("Choose one of these languages: nb, nn, en, ar, pl, so, ur.")
        phone, email = "", ""
        if guest.phone.strip() and guest.email.strip():
            errors[prefix + "email"] = N_("Give a mobile number or an e-mail address, not both.")
        elif guest.email.strip():
            email = mail.normalise_address(guest.email) or ""
            if not email:
                errors[prefix + "email"] = N_("Enter a valid e-mail address, for example kari.nordmann@example.no.")
        else:
            phone = invites.mobile_number(guest.phone, region, errors, prefix + "phone")
        if len(errors) == before:
            guests.append(invites.Invite(name, "colleague", phone, guest.language, None, email=email))
    if len(data.colleagues) + len(data.guests) > max_invitations:
        errors["guests"] = N_("No more participants fit in this meeting.")
    if errors:
        raise ValidationFailed(N_("The meeting could not be created."), fields=errors)
    assert starts_at is not None
    return NewMeeting(title, starts_at, data.duration_minutes, colleagues, guests)


def create(session: Session, host: Staff, new: NewMeeting, *, settings: Settings, base_url: str, tz: ZoneInfo,
           limiter: Limiter | None = None) -> tuple[Meeting, list[invites.Invitation]]:
    """The meeting, its room and its invitations (each colleague's, each guest's SMS or e-mail), audited, in
    the caller's unit of work. A meeting larger than the mesh needs the media server: refused with 503 now
    if it cannot be reached (:func:`visitt.groups.require_media_server`)."""
    require_host(host)
    invited = len(new.colleagues) + len(new.guests)
    if uses_media_server(invited, settings.max_participants):
        groups.require_media_server(settings)
    room = Room(public_id=secrets.token_urlsafe(12), host_id=host.id)
    meeting = Meeting(room=room, title=new.title, starts_at=new.starts_at, duration_minutes=new.duration_minutes,
                      created_by_id=host.id)
    session.add_all([room, meeting])
    session.flush()
    audit.record(session, f"staff:{host.id}", "meeting_created", room_id=room.id, subject=f"meeting:{meeting.id}",
                 colleagues=len(new.colleagues), guests=len(new.guests))

    def send(invite: invites.Invite) -> invites.Invitation:
        return invites.create(session, host, room, invite, base_url=base_url, clinic_phone=settings.clinic_phone,
                              tz=tz, max_participants=max(invited, 1), limiter=limiter)

    for colleague in new.colleagues:  # on their dashboard: no message
        send(invites.Invite(colleague.full_name, "colleague", "", None, colleague.id))
    created = [send(guest) for guest in new.guests]
    return meeting, created


def invite_colleagues(session: Session, meeting: Meeting, data: ColleaguesInvite, *, staff: Staff,
                      settings: Settings, base_url: str, tz: ZoneInfo,
                      limiter: Limiter | None = None) -> list[Participant]:
    """Invite more colleagues by account to a meeting that has not ended (its host alone, as at its creation):
    they find it on their dashboard and join as co-hosts, without a message. A meeting that then holds more
    people than the mesh needs the media server, refused with 503 if it does not answer, as at creation.
    Each invitation is audited (``invite``). Returns the new participants."""
    access.require(staff, access.Action.manage, meeting.room)
    _require_open(meeting)
    room = meeting.room
    errors: dict[str, str] = {}
    invited = frozenset(participant.staff_id for participant in room.participants if participant.staff_id is not None)
    colleagues = _colleagues(session, room.host, data.colleagues, errors, invited)
    if not data.colleagues:
        errors["colleagues"] = N_("Choose at least one clinician.")
    total = len(room.participants) + len(colleagues)
    if total > settings.max_group_participants:
        errors["colleagues"] = N_("No more participants fit in this meeting.")
    if errors:
        raise ValidationFailed(N_("The colleagues could not be invited."), fields=errors)
    if uses_media_server(total, settings.max_participants):
        groups.require_media_server(settings)
    return [invites.create(session, staff, room, invites.Invite(colleague.full_name, "colleague", "", None,
                                                                  colleague.id),
                           base_url=base_url, clinic_phone=settings.clinic_phone, tz=tz, max_participants=total,
                           limiter=limiter).participant
            for colleague in colleagues]


def _guests(meeting: Meeting) -> list[Participant]:
    """The guests a notice about the meeting goes to: invited by SMS or e-mail, not turned away."""
    return [participant for participant in meeting.room.participants
            if participant.staff_id is None and (participant.phone or participant.email)
            and participant.state not in (ParticipantState.denied, ParticipantState.removed)]


def _notify(session: Session, meeting: Meeting, staff: Staff, kind: str, *, tz: ZoneInfo, clinic_phone: str,
            base_url: str, limiter: Limiter | None) -> int:
    """Queue the neutral notice of ``kind`` (``meeting_update`` or ``meeting_cancel``) to each guest, by SMS
    or e-mail as they were invited, in their language; never the title. Returns how many were queued."""
    meeting.calendar_sequence = (meeting.calendar_sequence or 0) + 1
    department = meeting.room.host.department
    phone = department.phone if department and department.phone else clinic_phone
    local = meeting.starts_at.astimezone(tz)
    guests = _guests(meeting)
    for guest in guests:
        language = guest.language if guest.language in invites.LANGUAGES else "nb"
        if guest.email:
            mail.queue_meeting(session, meeting, guest.email, language=language, code=guest.code, phone=phone,
                               address=base_url, kind=kind)
            continue
        _ = translations(language).gettext
        text = (_("Your video meeting has been moved to {date} at {time}. Use the same link and code as before. "
                  "Questions? Call {phone}.") if kind == "meeting_update" else
                _("The video meeting on {date} at {time} has been cancelled. Questions? Call {phone}."))
        body = text.format(date=local.strftime("%d.%m.%Y"), time=local.strftime("%H:%M"),
                           phone=phones.written(phone))
        outbox.enqueue(session, recipient=guest.phone, body=body, limiter=limiter, sender=staff.id,
                       room_id=meeting.room_id)
    return len(guests)


def _require_open(meeting: Meeting) -> None:
    if meeting.room.state is RoomState.ended:
        raise Conflict(N_("The meeting has been cancelled.") if meeting.cancelled_at is not None
                       else N_("The meeting has ended."), code="room_ended")


def change(session: Session, meeting: Meeting, data: MeetingChange, *, staff: Staff, tz: ZoneInfo,
           clinic_phone: str, base_url: str = "", limiter: Limiter | None = None,
           now: dt.datetime | None = None) -> bool:
    """Give the meeting a new title or time (its host alone, as :func:`visitt.appointments.move` moves an
    appointment): a new time is told to each guest in neutral words, a new title to nobody outside (only
    staff see it) nor a new length alone; the links and codes stay. Audited as ``meeting_changed``. Returns
    whether the start moved."""
    access.require(staff, access.Action.manage, meeting.room)
    _require_open(meeting)
    errors: dict[str, str] = {}
    title = _title(data.title, errors) if data.title is not None else meeting.title
    starts_at = meeting.starts_at
    if data.starts_at is not None:
        starts_at = parse_start(data.starts_at, tz, now or utcnow(), errors) or starts_at
    duration = meeting.duration_minutes if data.duration_minutes is None else data.duration_minutes
    _duration(duration, errors)
    if errors:
        raise ValidationFailed(N_("The meeting could not be changed."), fields=errors)
    moved = starts_at != meeting.starts_at  # what the guests are told; a new length alone is not a move
    fields = [name for name, differs in (("title", title != meeting.title), ("starts_at", starts_at != meeting.starts_at),
                                         ("duration_minutes", duration != meeting.duration_minutes)) if differs]
    meeting.title, meeting.starts_at, meeting.duration_minutes = title, starts_at, duration
    told = _notify(session, meeting, staff, "meeting_update", tz=tz, clinic_phone=clinic_phone, base_url=base_url,
                   limiter=limiter) if moved else 0
    audit.record(session, f"staff:{staff.id}", "meeting_changed", room_id=meeting.room_id,
                 subject=f"meeting:{meeting.id}", fields=fields, guests_told=told)
    return moved


def cancel(session: Session, meeting: Meeting, *, staff: Staff, tz: ZoneInfo, clinic_phone: str,
           base_url: str = "", limiter: Limiter | None = None) -> None:
    """Cancel the meeting (its host alone, as :func:`visitt.appointments.cancel` cancels an appointment): its
    room ends, so the guests' links and codes then say it was cancelled; each guest gets a neutral notice;
    the colleagues' dashboards no longer list it. Audited as ``meeting_cancelled`` (and the room's ``end``).
    The caller tells the live room (``Cluster.room_ended``)."""
    access.require(staff, access.Action.manage, meeting.room)
    _require_open(meeting)
    meeting.cancelled_at = utcnow()
    move_room(session, meeting.room_id, RoomState.ended, actor=f"staff:{staff.id}", action="end", reason="cancelled")
    told = _notify(session, meeting, staff, "meeting_cancel", tz=tz, clinic_phone=clinic_phone, base_url=base_url,
                   limiter=limiter)
    audit.record(session, f"staff:{staff.id}", "meeting_cancelled", room_id=meeting.room_id,
                 subject=f"meeting:{meeting.id}", guests_told=told)


def listed(session: Session, staff: Staff) -> list[Meeting]:
    """The meetings ``staff`` hosts or is invited to by account that have not ended, soonest first (the
    dashboard, ``GET /api/v1/meetings``)."""
    mine = select(Participant.room_id).where(Participant.staff_id == staff.id)
    since = utcnow() - dt.timedelta(hours=12)
    query = (select(Meeting).join(Room).where(Room.state != RoomState.ended, Meeting.starts_at >= since,
                                               or_(Room.host_id == staff.id, Room.id.in_(mine)))
             .order_by(Meeting.starts_at).limit(100))
    return [meeting for meeting in session.scalars(query)
            if access.may(staff, access.Action.manage, meeting.room) or access.invited(staff, meeting.room)]


def public(meeting: Meeting, max_participants: int) -> MeetingPublic:
    room = meeting.room
    return MeetingPublic(
        id=meeting.id, room=room.public_id, title=meeting.title, starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes, host=room.host.full_name, state=room.state.value,
        cancelled=meeting.cancelled_at is not None,
        uses_media_server=uses_media_server(len(room.participants), max_participants),
        participants=[MeetingParticipant(id=participant.public_id, name=participant.display_name,
                                         cohost=participant.staff_id is not None, state=participant.state.value)
                      for participant in room.participants])
