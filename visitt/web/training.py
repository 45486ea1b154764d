"""The training pages: ``/staff/training`` (the rules, the questions, the way to the test call) and the
test room's report of a completed round trip. The steps themselves are :mod:`visitt.training`'s."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from visitt import training
from visitt.errors import Conflict
from visitt.live.test_room import EchoRoom
from visitt.store.models import Staff
from visitt.web.deps import DB, page_staff
from visitt.web.i18n import N_
from visitt.web.pages import render
from visitt.web.security import check_csrf

router = APIRouter(include_in_schema=False)

STEPS = {"rules": N_("Read the security rules"), "questions": N_("Answer the questions"),
         "test_call": N_("Make one test call in the test room")}


def _page(request: Request, staff: Staff, *, answers: dict[int, int | None] | None = None,
          wrong: dict[int, str] | None = None, status_code: int = 200) -> Response:
    return render(request, "training.html", status_code=status_code, staff=staff, sections=training.SECTIONS,
                  questions=training.QUESTIONS, steps=STEPS, missing=training.missing_steps(staff),
                  answers=answers or {}, wrong=wrong or {})


@router.get("/staff/training")
def training_page(request: Request, session: DB) -> Response:
    return _page(request, page_staff(request, session))


@router.post("/staff/training/rules")
def rules_read(request: Request, session: DB, csrf: Annotated[str, Form()] = "") -> Response:
    staff = page_staff(request, session)
    check_csrf(request, csrf)
    training.read_rules(session, staff)
    session.commit()
    return RedirectResponse("/staff/training#questions", status_code=303)


def _choice(text: str | None) -> int | None:
    return int(text) if text is not None and re.fullmatch(r"[0-9]", text) else None


@router.post("/staff/training/questions")
async def questions_answered(request: Request, session: DB) -> Response:
    staff = page_staff(request, session)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    answers = {index: _choice(form.get(f"q{index}")) for index in range(len(training.QUESTIONS))}
    wrong = training.answer(session, staff, answers)
    session.commit()
    if wrong:
        return _page(request, staff, answers=answers, wrong=wrong, status_code=422)
    return RedirectResponse("/staff/training#test-call", status_code=303)


def _round_trip_session(session_id: str) -> str:
    return session_id if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", session_id) else ""


@router.post("/staff/training/test-call")
async def test_call(request: Request, session: DB) -> JSONResponse:
    """The test room's page reports a round trip it judged ready (``id``: the round trip's); the echo peer's
    own figures decide whether it counts: media received from the page, and sent back to it."""
    staff = page_staff(request, session)
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    room: EchoRoom = request.app.state.test_room
    if not await room.completed(_round_trip_session(form.get("id", ""))):
        raise Conflict(N_("The round trip did not carry your picture and sound both ways. Try it again."),
                       code="round_trip_incomplete")
    training.test_call_done(session, staff)
    trained = training.is_trained(staff)
    session.commit()
    return JSONResponse({"recorded": True, "trained": trained})


def missing_for(staff: Staff) -> list[str]:
    """The steps the dashboard lists for a clinician not yet trained (nothing once trained)."""
    return [STEPS[step] for step in training.missing(staff)] if staff.role.value == "clinician" else []
