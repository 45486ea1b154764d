"""The training gate (routine 003 §3.0-3.1): nobody hosts a consultation, or is made co-host, before
their training is recorded.

The built-in course has three steps, each stamped on the staff member's row when done:

1. **the rules** (:data:`SECTIONS`): the routine's security rules, read in the staff member's language;
2. **the questions** (:data:`QUESTIONS`): every one answered right; a wrong answer is explained;
3. **a test call**: one completed round trip in the test room (``visitt/live/test_room.py``), checked
   on the server from the echo peer's own figures, not taken on the page's word.

When the last of the three is done, ``trained_at`` is set with the source ``course``. An administrator
may instead record training done elsewhere (:func:`record_training`, ``visitt users trained EMAIL``).
Each step and the training itself is an audit row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from visitt.errors import Forbidden, ValidationFailed
from visitt.store import audit
from visitt.store.models import Staff, utcnow
from visitt.web.i18n import N_

COURSE = "course"
BEFORE_THE_GATE = "before the training gate"  # staff who existed at the upgrade (migration 0010)
DEMO = "demo data"
COMMAND_LINE = "recorded on the command line"


class TrainingRequired(Forbidden):
    """The operation needs a trained member of staff: hosting, or being made co-host."""

    code = "training_required"


@dataclass(frozen=True)
class Section:
    title: str
    text: str
    rule: str  # the routine's paragraphs, as the hospital's own documents number them


@dataclass(frozen=True)
class Question:
    text: str
    options: tuple[str, ...]
    answer: int  # index into options
    explanation: str


SECTIONS = (
    Section(N_("No recording"), N_("Never record a consultation, neither sound nor picture, and do not let anyone "
                                   "else record it. Visitt itself stores no sound or pictures."), "1.1"),
    Section(N_("Chat without personal data"), N_("Use the chat for practical things only, such as “I can hear you "
                                                 "now”. Never write personal or health information in it."), "1.2"),
    Section(N_("Share a window, never the whole screen"),
            N_("When you share, choose one window or one program, so that no other patient's information is shown "
               "by mistake. Share no documents with personal or health information."), "1.3, 1.8"),
    Section(N_("A private room"),
            N_("Sit where nobody can overhear you, and test the sound first. Do not hold the consultation if "
               "anyone takes part from an open public place such as a library. Everyone present introduces "
               "themselves; if someone else comes in, stop."), "1.4–1.7"),
    Section(N_("Check identity"), N_("The patient shows photo ID to the camera, and you show yours. Record in the "
                                     "call how you checked each participant."), "2.3, 2.4"),
    Section(N_("Lock the room"), N_("Once the right people are in, lock the room, and keep an eye on the list of "
                                    "participants throughout."), "2.8"),
    Section(N_("When the technology fails"),
            N_("If the call fails and cannot be resumed, call the patient by phone and record the consultation as "
               "a technical failure: the patient does not pay for it."), "2.6"),
)

QUESTIONS = (
    Question(N_("A patient asks whether they may record the consultation to listen to it again later. "
                "What do you answer?"),
             (N_("Yes, if they keep the recording to themselves."),
              N_("No: nobody may record a consultation, neither the patient nor you."),
              N_("Yes, if you make the recording yourself.")),
             1, N_("Recording is never allowed, by the patient or by the clinician.")),
    Question(N_("You want to show the patient an information leaflet. What do you share?"),
             (N_("The whole screen, so that the patient sees everything."),
              N_("Only the window with the leaflet."),
              N_("The leaflet with the patient's name filled in, through the chat.")),
             1, N_("Share one window only, and only documents without personal or health information.")),
    Question(N_("You have let the patient in. What do you do next?"),
             (N_("Lock the room and check the patient's photo ID."),
              N_("Write the patient's national identity number in the chat to confirm it."),
              N_("Nothing: the link is personal, so it must be the patient.")),
             0, N_("Lock the room once the right people are in, and check identity with photo ID: a link can be "
                   "passed on.")),
    Question(N_("The patient joins from a computer in a public library. What do you do?"),
             (N_("Go on, speaking quietly."),
              N_("Stop, and agree on another time or a phone call."),
              N_("Ask the patient to turn the sound down.")),
             1, N_("A consultation cannot take place in an open public place.")),
    Question(N_("The call drops and cannot be resumed. What do you do?"),
             (N_("Record it as a no-show."),
              N_("Wait for the patient to book again."),
              N_("Call the patient by phone and record a technical failure: the patient does not pay.")),
             2, N_("When technical problems stop the consultation, the patient must not pay for it.")),
)


def is_trained(staff: Staff) -> bool:
    return staff.trained_at is not None


def missing_steps(staff: Staff) -> list[str]:
    """The course's steps ``staff`` has not done: ``rules``, ``questions``, ``test_call``."""
    steps = (("rules", staff.course_read_at), ("questions", staff.quiz_passed_at), ("test_call", staff.test_call_at))
    return [step for step, done in steps if done is None]


def missing(staff: Staff) -> list[str]:
    """What ``staff`` still has to do before hosting: the course's steps not done, none once trained
    (by the course, or recorded by an administrator)."""
    return [] if is_trained(staff) else missing_steps(staff)


def require_trained(staff: Staff) -> None:
    """Refuse an operation that needs training (hosting, co-hosting) for ``staff`` untrained."""
    if not is_trained(staff):
        raise TrainingRequired(N_("Complete your training before you host or co-host a video consultation."))


def _finish_if_done(session: Session, staff: Staff, now: dt.datetime) -> None:
    if not is_trained(staff) and not missing_steps(staff):
        staff.trained_at, staff.training_source = now, COURSE
        audit.record(session, f"staff:{staff.id}", "trained", subject=f"staff:{staff.id}", source=COURSE)


def _step(session: Session, staff: Staff, step: str, now: dt.datetime) -> None:
    audit.record(session, f"staff:{staff.id}", "training_step", subject=f"staff:{staff.id}", step=step)
    _finish_if_done(session, staff, now)


def read_rules(session: Session, staff: Staff, now: dt.datetime | None = None) -> None:
    """Step 1: ``staff`` has read the rules."""
    now = now or utcnow()
    if staff.course_read_at is None:
        staff.course_read_at = now
        _step(session, staff, "rules", now)


def answer(session: Session, staff: Staff, answers: dict[int, int | None], now: dt.datetime | None = None) -> dict[int, str]:
    """Step 2: check ``answers`` (question index → option index, None unanswered). Returns the
    explanation of each question answered wrongly or not at all; passed when that is empty."""
    if staff.course_read_at is None:
        raise ValidationFailed(N_("Read the rules first."), code="rules_first")
    wrong = {index: question.explanation for index, question in enumerate(QUESTIONS)
             if answers.get(index) != question.answer}
    audit.record(session, f"staff:{staff.id}", "training_step", subject=f"staff:{staff.id}", step="questions",
                 passed=not wrong, wrong=len(wrong))
    if not wrong and staff.quiz_passed_at is None:
        now = now or utcnow()
        staff.quiz_passed_at = now
        _finish_if_done(session, staff, now)
    return wrong


def test_call_done(session: Session, staff: Staff, now: dt.datetime | None = None) -> None:
    """Step 3: ``staff`` completed a round trip in the test room (the caller checked it on the server)."""
    now = now or utcnow()
    if staff.test_call_at is None:
        staff.test_call_at = now
        _step(session, staff, "test_call", now)


def record_training(session: Session, staff: Staff, *, by: Staff | None, now: dt.datetime | None = None) -> None:
    """Record training ``staff`` did elsewhere. ``by``: the administrator recording it, or None for the
    command line (whoever runs it holds the server). Recording it again changes nothing."""
    from visitt import access  # access asks this module whether someone is trained

    if by is not None and not access.may_administer(by, staff):
        raise Forbidden(N_("Only an administrator can record training."))
    if is_trained(staff):
        return
    source = f"recorded by {by.email}" if by is not None else COMMAND_LINE
    staff.trained_at, staff.training_source = now or utcnow(), source
    audit.record(session, f"staff:{by.id}" if by is not None else "cli", "trained", subject=f"staff:{staff.id}",
                 source="admin" if by is not None else "cli")
