"""The portal's pages: departments → a department's clinicians → one clinician's door, where the visitor
types their name and is sent on to the patient page with a fresh link of their own (``portal.py``).

Mounted under ``VISITT_PORTAL_PATH`` (``/portal`` by default; empty: no portal). Department and
clinician are named by id in the path; the visitor's name travels only in the form's body.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from visitt import portal
from visitt.web.deps import DB
from visitt.errors import RateLimited, ValidationFailed
from visitt.web.i18n import translations
from visitt.ids import parse_id
from visitt.store.models import Department, Staff
from visitt.web.pages import language, render
from visitt.web.security import check_csrf

router = APIRouter(include_in_schema=False)


def _not_found(request: Request) -> Response:
    """One answer for every unknown, unlisted or malformed id: nothing tells which of them it was."""
    gettext = translations(language(request)).gettext
    return render(request, "message.html", status_code=404, title=gettext("We could not find that page"),
                  text=gettext("The department or clinician may no longer take video visitors here. Start again "
                               "from the list of departments, or call the clinic."),
                  link=request.app.state.settings.portal_path, link_text=gettext("All departments"))


def _door(session: Session, department_id: str, clinician_id: str) -> Staff | None:
    department, clinician = parse_id(department_id), parse_id(clinician_id)
    if department is None or clinician is None:
        return None
    return portal.clinician(session, department, clinician)


@router.get("")
def departments_page(request: Request, session: DB) -> Response:
    return render(request, "portal.html", departments=portal.departments(session), department=None)


@router.get("/{department_id}")
def department_page(department_id: str, request: Request, session: DB) -> Response:
    number = parse_id(department_id)
    clinicians = portal.clinicians(session, number) if number is not None else []
    if not clinicians:
        return _not_found(request)
    return render(request, "portal.html", department=session.get(Department, number), clinicians=clinicians)


@router.get("/{department_id}/{clinician_id}")
def visit_form(department_id: str, clinician_id: str, request: Request, session: DB) -> Response:
    host = _door(session, department_id, clinician_id)
    if host is None:
        return _not_found(request)
    return render(request, "portal_visit.html", host=host, name="", error="")


@router.post("/{department_id}/{clinician_id}")
def start_visit(department_id: str, clinician_id: str, request: Request, session: DB,
                name: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    """Open the visit and send the visitor to their own patient page, as the SMS link would."""
    check_csrf(request, csrf)
    host = _door(session, department_id, clinician_id)
    if host is None:
        return _not_found(request)
    gettext = translations(language(request)).gettext
    try:
        name = portal.check_name(name)
    except ValidationFailed as error:
        return render(request, "portal_visit.html", status_code=422, host=host, name=name[:portal.MAX_NAME],
                      error=gettext(error.message))
    settings = request.app.state.settings
    # the client's own address: uvicorn has already read X-Forwarded-For if a trusted proxy sent it
    address = request.client.host if request.client else ""
    try:
        _visitor, token = portal.open_visit(session, host, name, address, settings, request.app.state.limiter)
    except RateLimited as error:
        refused = render(request, "message.html", status_code=429, title=gettext("Too many visits"),
                         text=gettext("Visits from this connection are paused for up to {minutes} minutes. If you "
                                      "have started one already, go back to its page.").format(
                             minutes=settings.portal_visit_minutes))
        refused.headers["Retry-After"] = str(error.retry_after)
        return refused
    session.commit()
    return RedirectResponse(f"/v/{token}", status_code=303)
