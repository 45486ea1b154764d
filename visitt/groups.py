"""Group consultations: an appointment booked as a group (group therapy at a DPS, say) takes up to
``VISITT_MAX_GROUP_PARTICIPANTS`` people besides its hosts, each invited by their own SMS and
admitted one by one through the waiting room, and its media goes through Janus
(:mod:`visitt.live.sfu`), so booking one needs a Janus that answers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from visitt.errors import MediaServerUnavailable
from visitt.settings import Settings
from visitt.store.models import Appointment, Participant
from visitt.web.i18n import N_

if TYPE_CHECKING:
    from visitt.booking import Booking

GROUP = "group"  # Appointment.kind of a group consultation
CONSULTATION = "consultation"  # ... of an ordinary one, on the mesh
PING_SECONDS = 3.0
PAST_MESH_DOWN = N_("The media server cannot be reached, and a consultation with this many participants needs it. "
                    "Book fewer participants, or try again later. Please tell IT.")


def is_group(appointment: Appointment | None) -> bool:
    return appointment is not None and appointment.kind == GROUP


def booked_invitation(appointment: Appointment) -> Participant | None:
    """The booked patient's own invitation (the room's first patient one): the only patient of a group
    consultation with a patient record; the others are invited to the appointment afterwards."""
    room = appointment.room
    patients = [participant for participant in (room.participants if room else []) if participant.kind == "patient"]
    return min(patients, key=lambda participant: participant.id) if patients else None


def invitations(appointment: Appointment | None, settings: Settings) -> int:
    """How many invitations (the patient's counted) the appointment's room may hold."""
    if is_group(appointment):
        return settings.max_group_participants
    return settings.max_participants - 1  # the clinician is in the call too


def grows(settings: Settings) -> bool:
    """Whether a consultation may grow past the mesh: Janus is configured (whether it answers is asked when it
    matters: :func:`growth`, :func:`ask_before_booking`). Its call then moves there (``Sfu.move``)."""
    return bool(settings.janus_url)


def growth(appointment: Appointment | None, settings: Settings, *,
           answered: bool = False) -> Callable[[], int] | None:
    """For a consultation on the mesh while Janus is configured: the check, made only when an invitation
    would pass the mesh, of how many invitations it may hold once its call moves to Janus (0: Janus does
    not answer, and the mesh's limit stands). ``None``: it cannot grow. ``answered``: Janus answered this
    request already (:func:`ask_before_booking`): not asked again for each invitation."""
    if is_group(appointment) or not grows(settings):
        return None

    def grown() -> int:
        if answered:
            return settings.max_group_participants
        try:
            require_media_server(settings)
        except MediaServerUnavailable:
            return 0
        return settings.max_group_participants  # besides the clinician, the patient counted
    return grown


def ask_before_booking(booking: Booking, settings: Settings) -> None:
    """A booking whose call needs Janus (a group, or a consultation with more invited than the mesh carries)
    asks it first: :class:`MediaServerUnavailable`, in words for that booking, when it does not answer."""
    if booking.group:
        require_media_server(settings)
    elif booking.past_mesh:
        require_media_server(settings, PAST_MESH_DOWN)


def require_media_server(settings: Settings, message: str | None = None) -> None:
    """Raise :class:`MediaServerUnavailable` (with ``message``, untranslated, if given) unless Janus is
    configured and answers Visitt's ``ping`` (with the API secret, so a wrong secret is found at booking
    too, not in the call)."""
    down = MediaServerUnavailable() if message is None else MediaServerUnavailable(message)
    if not settings.janus_url:
        raise down
    request = {"janus": "ping", "transaction": secrets.token_hex(8), "apisecret": settings.janus_api_secret}
    try:
        answer = httpx.post(settings.janus_url, json=request, timeout=PING_SECONDS).json()
    except (httpx.HTTPError, ValueError):
        raise down from None
    if not isinstance(answer, dict) or answer.get("janus") != "pong":
        raise down
