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

from visitt import access, groups, invites
from visitt import text as human
from visitt.booking import MAX_DURATION, MIN_DURATION, parse_start
from visitt.errors import Forbidden, ValidationFailed
from visitt.ids import RowId
from visitt.limiter import Limiter
from visitt.messaging import mail
from visitt.settings import Settings
from visitt.store import audit
from visitt.store.models import Meeting, Participant, Role, Room, RoomState, Staff, utcnow
from visitt.web.i18n import N_

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


def validate(session: Session, host: Staff, data: MeetingCreate, *, tz: ZoneInfo, region: str,
             max_invitations: int) -> NewMeeting:
    """Every problem at once, keyed by field (``guests.0.phone``); :class:`ValidationFailed` if any."""
    require_host(host)
    errors: dict[str, str] = {}
    title = human.one_line(data.title)
    if human.refused(data.title):
        errors["title"] = human.REFUSED
    elif not title:
        errors["title"] = N_("Give the meeting a title.")
    elif len(title) > MAX_TITLE:
        errors["title"] = N_("The title is too long (200 characters at most).")
    now = utcnow()
    starts_at = parse_start(data.starts_at, tz, now, errors) if data.starts_at.strip() else now
    if not MIN_DURATION <= data.duration_minutes <= MAX_DURATION:
        errors["duration_minutes"] = N_("Choose between 5 and 240 minutes.")
    colleagues: list[Staff] = []
    for index, staff_id in enumerate(data.colleagues):
        colleague = session.get(Staff, staff_id)
        if (colleague is None or colleague.role is not Role.clinician or not colleague.active
                or colleague.id == host.id):
            errors[f"colleagues.{index}"] = N_("Choose a clinician from the list.")
        elif colleague in colleagues:
            errors[f"colleagues.{index}"] = N_("This clinician is already invited.")
        else:
            colleagues.append(colleague)
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
        uses_media_server=uses_media_server(len(room.participants), max_participants),
        participants=[MeetingParticipant(id=participant.public_id, name=participant.display_name,
                                         cohost=participant.staff_id is not None, state=participant.state.value)
                      for participant in room.participants])
