"""The journal note: what the clinician pastes into the patient's journal (DIPS) after a video consultation.

In the staff member's language, with the facts such a note needs (routine 003 §2.9): when and how long,
who took part and in what role, how identity was established, whether an interpreter took part, the outcome,
and whether follow-up was agreed. Plain text, one fact a line; the appointment page shows it with a Copy button.
The free-text outcome note stays in Visitt and is not part of it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from visitt import outcomes
from visitt.record_export import took_part
from visitt.store.models import Appointment, PatientOutcome
from visitt.web import clock
from visitt.web.i18n import N_, translations

ROLES = {"patient": N_("patient"), "companion": N_("companion"), "interpreter": N_("interpreter"),
         "colleague": N_("colleague")}
# in one patient's note of a group consultation, only that patient of these kinds is named
PRIVATE = ("patient", "companion")
ID_METHODS = {"photo_id": N_("Photo ID shown on camera"), "known": N_("Personally known"), "other": N_("Other")}


def note(session: Session, appointment: Appointment, language: str, tz: ZoneInfo,
         patient: PatientOutcome | None = None) -> str:
    """The note's text for ``appointment`` in ``language``, times in the clinic's zone ``tz``. For one patient
    of a group consultation (``patient``: their outcome), that patient's note for their own journal: their
    outcome and follow-up, and no other patient named - nor a companion, who came with one of them - only how
    many other patients took part."""
    catalog = translations(language)
    _ = catalog.gettext
    start = (appointment.started_at or appointment.starts_at).astimezone(tz)
    lines = []
    if appointment.ended_at is not None:
        end = appointment.ended_at.astimezone(tz)
        lines.append(_("Video consultation {date} {start}–{end} ({duration}).").format(
            date=start.strftime("%d.%m.%Y"), start=start.strftime("%H:%M"), end=end.strftime("%H:%M"),
            duration=clock.duration(max(end - start, dt.timedelta(minutes=1)), language)))
    else:
        lines.append(_("Video consultation {date} {start}.").format(date=start.strftime("%d.%m.%Y"),
                                                                     start=start.strftime("%H:%M")))
    guests = took_part(session, appointment)
    others = 0
    if patient is not None:
        others = sum(1 for participant, _check in guests
                     if participant.kind == "patient" and participant.id != patient.participant_id)
        guests = [(participant, check) for participant, check in guests
                  if participant.id == patient.participant_id or participant.kind not in PRIVATE]
    people = [_("{name} ({role})").format(name=appointment.clinician.full_name, role=_("clinician"))]
    checks = []
    for participant, check in guests:
        name = participant.display_name or (appointment.patient_name if participant.kind == "patient" else "")
        people.append(_("{name} ({role})").format(name=name, role=_(ROLES.get(participant.kind, "participant"))))
        if check is not None:
            how = _(ID_METHODS[check.method.value]) + (f": {check.note}" if check.note else "")
            checks.append(_("{name}: {how}").format(name=name, how=how))
    lines.append(_("Participants: {people}.").format(people=", ".join(people)))
    if others:
        lines.append(catalog.ngettext("Group consultation with {count} other patient.",
                                      "Group consultation with {count} other patients.", others).format(count=others))
    lines.append(_("Identity checked: {checks}.").format(checks="; ".join(checks)) if checks
                 else _("Identity checked: not recorded."))
    interpreters = [participant.display_name for participant, _check in guests if participant.kind == "interpreter"]
    lines.append(_("Interpreter: {names}.").format(names=", ".join(interpreters)) if interpreters
                 else _("Interpreter: none."))
    if patient is not None:
        outcome = _(outcomes.NAMES.get(patient.outcome, patient.outcome))
        if patient.failure_reason in outcomes.FAILURE_NAMES:
            outcome += f" ({_(outcomes.FAILURE_NAMES[patient.failure_reason])})"
        lines.append(_("Outcome: {outcome}.").format(outcome=outcome))
    elif appointment.outcome:
        outcome = _(outcomes.NAMES.get(appointment.outcome, appointment.outcome))
        if appointment.failure_reason in outcomes.FAILURE_NAMES:
            outcome += f" ({_(outcomes.FAILURE_NAMES[appointment.failure_reason])})"
        if not appointment.outcome_confirmed:
            outcome += " " + _("(not confirmed)")
        lines.append(_("Outcome: {outcome}.").format(outcome=outcome))
    else:
        lines.append(_("Outcome: not recorded."))
    follow_up = {True: _("Follow-up: agreed."), False: _("Follow-up: none agreed."),
                 None: _("Follow-up: not recorded.")}[patient.follow_up if patient else appointment.follow_up]
    lines.append(follow_up)
    return "\n".join(lines)
