"""Strings the page scripts show, translated on the server so the browser loads no catalogue.

The page embeds them as JSON (``<script type="application/json" id="strings">``).
"""

from __future__ import annotations

from collections.abc import Callable

from visitt import text
from visitt.web.i18n import N_

# The technical chat, on both pages. The quick phrases are keyed by their protocol code (protocol.PHRASES).
CHAT = {
    "phrase_cant_hear": N_("I can't hear you."),
    "phrase_cant_see": N_("I can't see you."),
    "phrase_turn_on_microphone": N_("Please turn on your microphone."),
    "phrase_turn_on_camera": N_("Please turn on your camera."),
    "phrase_one_moment": N_("One moment, please."),
    "chat_you": N_("You"),
    "chat_personal_number": N_("Not sent: the message contains a national identity number or D-number. Never write "
                               "personal details in the chat."),
    "chat_failed": N_("The message could not be sent."),
    "chat_characters": text.REFUSED,
}


# The privacy pause and the identity-check badges, on both pages. Reasons are keyed by protocol code.
PAUSE = {
    "pause_someone_entered": N_("Someone came into the room."),
    "pause_other": N_("Paused for another reason."),
    "pause_by": N_("{name} paused the consultation."),
    "pause_by_you": N_("You paused the consultation."),
    "id_photo_id": N_("ID checked: photo ID"),
    "id_known": N_("ID checked: personally known"),
    "id_other": N_("ID checked: other way"),
}


# The speaker layout and the participant list, on both pages.
PARTICIPANTS = {
    "pin": N_("Pin {name}"),
    "pin_short": N_("Pin"),
    "sound_on_tap": N_("Tap to turn on sound"),
    "participant_you": N_("you"),
    "participant_clinician": N_("Clinician"),
    "participant_patient": N_("Patient"),
    "participant_companion": N_("Companion"),
    "participant_interpreter": N_("Interpreter"),
    "participant_colleague": N_("Colleague"),
    "participant_cohost": N_("Colleague (co-host)"),
    "participant_mic_on": N_("Microphone on"),
    "participant_mic_off": N_("Microphone off"),
    "participant_cam_on": N_("Camera on"),
    "participant_cam_off": N_("Camera off"),
    "participant_sharing": N_("Sharing a window"),
    # a group call: their browser cannot encrypt end to end, so the call goes in clear while they are in it
    "participant_not_e2ee": N_("Not end-to-end encrypted"),
    # ... and the whole call's state, under the pictures of a call through the media server
    "call_e2ee": N_("End-to-end encrypted: the media server cannot see or hear the call."),
    "call_not_e2ee": N_("Not end-to-end encrypted: someone's browser cannot encrypt. The connection is still "
                        "encrypted."),
    "unmute_requested": N_("{name} asks you to turn on your microphone."),
    "participant_joined": N_("{name} joined the consultation."),
    "participant_left": N_("{name} left the consultation."),
}


# Sharing one window (share.js), on the pages whose reader may share.
SHARE = {
    "share_start": N_("Share a window"),
    "share_stop": N_("Stop sharing"),
    "share_started": N_("You are sharing one window. The others see it instead of your camera."),
    "share_monitor": N_("Only a single window can be shared, never the whole screen. Press Share a window again "
                        "and choose one window."),
    "share_failed": N_("The window could not be shared."),
    "share_not_allowed": N_("Only the clinician can share a window in this consultation."),
}


# The connection-quality dot on each remote tile, on both pages (quality.js: level → text).
QUALITY = {
    "quality_good": N_("Connection: good"),
    "quality_fair": N_("Connection: fair"),
    "quality_poor": N_("Connection: poor"),
}


PATIENT = {  # and SHARE where guests may share (VISITT_PATIENTS_MAY_SHARE)
    **PAUSE,
    **QUALITY,
    **PARTICIPANTS,
    "id_asked": N_("The clinician has been asked to show their ID."),
    "host_absent": N_("The clinician is not in the call right now."),
    **CHAT,
    "denied_permission": N_("Your browser is blocking the camera or microphone. Tap the camera symbol in the address "
                         "bar, choose Allow, and reload the page."),
    "no_device": N_("No camera or microphone was found. Connect one, or use a phone or tablet, and reload the page."),
    "device_busy": N_("The camera or microphone is in use by another program. Close it and reload the page."),
    "device_error": N_("The camera or microphone could not be started. Reload the page and try again."),
    "name_required": N_("Enter your full name."),
    "name_characters": text.NAME_REFUSED,
    "waiting": N_("The clinician has been notified that you are waiting. You will be let in when they are ready."),
    "denied": N_("The clinician could not let you in. Please call the clinic."),
    "ended": N_("The consultation has ended. Thank you."),
    "by_phone": N_("The video has ended. Your clinician will call you now on {phone}. Keep your phone at hand."),
    "by_phone_no_number": N_("The video has ended. Your clinician will call you now. Keep your phone at hand."),
    "withdrawn": N_("Video has ended. The clinic will contact you another way. This does not affect your treatment."),
    "left": N_("You have left the consultation. Open the link again to go back to the waiting room."),
    "connection_lost": N_("The connection to the service was lost. Check your internet and open the link again."),
    "removed": N_("The clinician has taken you out of the call. You can knock again if you need to."),
    "late": N_("The clinician is running late and expects to let you in at about {time}. Please stay on this page: "
               "you will not be sent home before then."),
    "wait_expired": N_("You have waited {minutes} minutes: the clinician is delayed. Open the link again to get "
                       "back in the queue, or call the clinic."),
    "reconnecting": N_("Reconnecting…"),
    "unavailable": N_("The service is temporarily unavailable. Please stay on this page: we keep trying."),
    "host_reconnecting": N_("The clinician's connection dropped. Please wait: they are reconnecting."),
    "connecting": N_("Connecting…"),
    "in_call": N_("In consultation"),
    "call_moved": N_("More people have joined, so the call now goes through the hospital's media server. You do "
                     "not need to do anything."),
    "media_server_lost": N_("The call's sound and pictures have stopped: the connection to the hospital's media "
                            "server was lost. Reconnecting… Please stay on this page."),
    "media_server_back": N_("The call is connected again."),
    "error": N_("Something went wrong. Please reload the page."),
    "replaced": N_("This consultation is now open in another window or on another device, and continues there."),
    "not_admitted_yet": N_("This consultation is already open on another device. You have knocked: the clinician "
                           "decides whether to let you in here."),
}


# What a meeting has no part in (no patient: nobody to call by phone, no consent to withdraw): left out of a
# staff meeting's guest's strings.
CONSULTATION_ONLY = frozenset({"by_phone", "by_phone_no_number", "withdrawn"})

# A staff meeting's guest (visitt/meetings.py: health personnel, no patient present) sees the patient's page with
# these in place of the texts that speak of a clinician and a consultation: the meeting's host and the meeting.
MEETING_GUEST = {
    "pause_by": N_("{name} paused the meeting."),
    "pause_by_you": N_("You paused the meeting."),
    "participant_clinician": N_("Host"),
    "participant_joined": N_("{name} joined the meeting."),
    "participant_left": N_("{name} left the meeting."),
    "share_not_allowed": N_("Only the host can share a window in this meeting."),
    "id_asked": N_("The host has been asked to show their ID."),
    "host_absent": N_("The host is not in the meeting right now."),
    "waiting": N_("The host has been told that you are waiting. You will be let in when they are ready."),
    "denied": N_("The host did not let you in. Call the number on this page if you have questions."),
    "ended": N_("The meeting has ended. Thank you."),
    "left": N_("You have left the meeting. Open the link again to go back to the waiting room."),
    "removed": N_("The host has taken you out of the meeting. You can knock again if you need to."),
    "late": N_("The host is running late and expects to let you in at about {time}. Please stay on this page: "
               "you will not be sent away before then."),
    "wait_expired": N_("You have waited {minutes} minutes: the host is delayed. Open the link again to get back "
                       "in the queue, or call the number on this page."),
    "host_reconnecting": N_("The host's connection dropped. Please wait: they are reconnecting."),
    "in_call": N_("In the meeting"),
    "replaced": N_("This meeting is now open in another window or on another device, and continues there."),
    "not_admitted_yet": N_("This meeting is already open on another device. You have knocked: the host decides "
                           "whether to let you in here."),
}


HOST = {
    **PAUSE,
    **SHARE,
    "ask_unmute": N_("Ask to unmute"),
    "unmute_asked": N_("{name} has been asked to turn on their microphone."),
    **QUALITY,
    **PARTICIPANTS,
    "id_not_checked": N_("Identity not checked"),
    "id_requested": N_("{name} asks you to show your ID."),
    **CHAT,
    "knocking": N_("Knocking"),
    "waiting_in_call": N_("{name} ({role}) is waiting to come in."),
    "invite_sent": N_("The SMS to {name} has been queued. Their code: {code}"),
    "invite_failed": N_("The invitation could not be sent."),
    "cohost_waiting": N_("The clinician has been told that you are waiting. You will be let in."),
    "cohost_denied": N_("The clinician did not let you in."),
    "cohost_removed": N_("The clinician has taken you out of the call."),
    "you": N_("You"),
    "in_call": N_("In consultation"),
    "joined": N_("{name} joined the consultation."),
    "call_moved": N_("More people have joined, so the call now goes through the hospital's media server. You do "
                     "not need to do anything."),
    "media_server_lost": N_("The call's sound and pictures have stopped: the connection to the hospital's media "
                            "server was lost. Reconnecting… Please stay on this page."),
    "media_server_back": N_("The call is connected again."),
    "left": N_("{name} left the consultation."),
    "ended": N_("The consultation has ended."),
    "ended_by_phone": N_("The video has ended for everyone. Call the patient now; the outcome is set to continued "
                         "by phone until you confirm it."),
    "withdrawn": N_("{name} does not want video and has withdrawn. Contact them another way."),
    "withdrawn_ended": N_("The patient withdrew from video: the consultation has ended. Contact them another way."),
    "lock": N_("Lock room"),
    "unlock": N_("Unlock room"),
    "locked": N_("Room locked: nobody comes in without being admitted."),
    "unlocked": N_("Room unlocked: people who were in the call can come back without knocking."),
    "connection_lost": N_("The connection to the service was lost. Reload the page."),
    "reconnecting": N_("Reconnecting…"),
    "unavailable": N_("The service is temporarily unavailable: nobody can be let in right now. Please try again in "
                      "a few minutes."),
    "late_sent": N_("Everyone waiting has been told."),
    "peer_reconnecting": N_("{name}'s connection dropped; waiting for them to reconnect."),
    "replaced": N_("You opened this consultation in another window; it continues there."),
    "second_device_name": N_("{name} – second device"),
    "place_taken_window": N_("{name} continued in another window of the same browser."),
    "place_taken_device": N_("{name} now takes part from another device; the first one was disconnected."),
    "denied_permission": N_("The browser is blocking the camera or microphone. Allow them in the address bar and try again."),
    "no_device": N_("No camera or microphone was found."),
    "device_busy": N_("The camera or microphone is in use by another program."),
    "device_error": N_("The camera or microphone could not be started."),
}


# The department queue page (queue.js), which refreshes itself.
QUEUE = {
    "unscheduled": N_("Unscheduled visitor"),
    "scheduled": N_("Booked for {time}"),
    "updated": N_("Updated {time}"),
    "failed": N_("The queue could not be updated. Trying again…"),
}


def translate(table: dict[str, str], gettext: Callable[[str], str]) -> dict[str, str]:
    return {key: gettext(text) for key, text in table.items()}
