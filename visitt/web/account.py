"""Staff pages for one's own account: the second factor after the password, setting it up, and
setting a password through an administrator's one-time link (``docs/administration.md``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from visitt import accounts, password_reset, second_factor, sessions
from visitt.errors import Busy, NotAuthenticated, NotFound, RateLimited, ValidationFailed
from visitt.store import audit
from visitt.store.models import Staff, WebSession
from visitt.web import clock
from visitt.web.deps import CODE_PAGE, DB, ENROL_PAGE, app_limiter
from visitt.web.i18n import translations
from visitt.web.pages import language, render
from visitt.web.security import SESSION_COOKIE, check_csrf

router = APIRouter(include_in_schema=False)


def signed_in(request: Request, token: str) -> Response:
    """On to the dashboard with the full session's cookie (replacing the pending one)."""
    settings = request.app.state.settings
    response = RedirectResponse("/staff", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
                        max_age=settings.session_hours * 3600, path="/")
    return response


def refused(request: Request, template: str, error: RateLimited | Busy, **context: Any) -> Response:
    """``template`` answering a sign-in step refused by the limits, saying how long to wait."""
    lang = language(request)
    message = translations(lang).gettext(error.message)
    if isinstance(error, RateLimited):
        message = message.format(duration=clock.wait(error.retry_after or 1, lang))
    page = render(request, template, status_code=error.status, error=message, **context)
    page.headers["Retry-After"] = str(error.retry_after)
    return page


def _address(request: Request) -> str:
    # the client's own address: uvicorn has already read X-Forwarded-For if a trusted proxy sent it
    return request.client.host if request.client else ""


@router.get(CODE_PAGE)
def code_form(request: Request, session: DB) -> Response:
    if sessions.pending(session, request.cookies.get(SESSION_COOKIE), "second_factor") is None:
        return RedirectResponse("/staff/login", status_code=303)
    return render(request, "second_factor.html", error="")


@router.post(CODE_PAGE)
def code_step(request: Request, session: DB, code: Annotated[str, Form()] = "",
              csrf: Annotated[str, Form()] = "") -> Response:
    """The code from the authenticator app (or a recovery code) after the right password. Wrong codes
    count against the sign-in limits as wrong passwords do."""
    check_csrf(request, csrf)
    row = sessions.pending(session, request.cookies.get(SESSION_COOKIE), "second_factor")
    if row is None:  # the step took more than ten minutes, or there was none
        session.commit()
        return RedirectResponse("/staff/login?ended=step", status_code=303)
    staff, limiter, address = row.staff, app_limiter(request), _address(request)
    try:
        accounts.throttle(limiter, staff.email, address)
        method = second_factor.check(session, staff, code)
    except RateLimited as error:
        return refused(request, "second_factor.html", error)
    except NotAuthenticated as error:
        accounts.count_failure(session, limiter, staff.email, address, actor=f"staff:{staff.id}",
                               action="second_factor_failed")
        session.commit()
        return render(request, "second_factor.html", status_code=401, error=error.message)
    audit.record(session, f"staff:{staff.id}", "login", method=method)
    settings = request.app.state.settings
    token = sessions.complete(session, row, settings.session_hours, settings.session_idle_minutes)
    session.commit()
    return signed_in(request, token)


def _enrolling(request: Request, session: DB) -> tuple[Staff | None, WebSession | None]:
    """Who is setting a second factor up: the signed-in staff member, or an administrator between
    their password and their first second factor (then also that pending session)."""
    token = request.cookies.get(SESSION_COOKIE)
    found = sessions.look_up(session, token)
    if found.staff is not None:
        return found.staff, None
    row = sessions.pending(session, token, "enrol")
    return (row.staff, row) if row is not None else (None, None)


def _enrol_page(request: Request, staff: Staff, secret: str, *, error: str = "", status_code: int = 200) -> Response:
    settings = request.app.state.settings
    uri = second_factor.provisioning_uri(secret, staff.email, settings.clinic_name)
    return render(request, "enrol.html", status_code=status_code, staff=staff, secret=secret,
                  qr=second_factor.qr_code(uri), error=error, required=staff.role.value == "admin")


@router.get(ENROL_PAGE)
def enrol_form(request: Request, session: DB) -> Response:
    staff, _row = _enrolling(request, session)
    if staff is None:
        return RedirectResponse("/staff/login", status_code=303)
    if staff.totp_secret is not None:
        return render(request, "enrol.html", staff=staff, enrolled=True,
                      left=second_factor.recovery_codes_left(session, staff))
    return _enrol_page(request, staff, second_factor.new_secret())


@router.post(ENROL_PAGE)
def enrol(request: Request, session: DB, secret: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "",
          csrf: Annotated[str, Form()] = "") -> Response:
    """Keep the secret shown if the code typed is right for it; then show the recovery codes, once."""
    check_csrf(request, csrf)
    staff, row = _enrolling(request, session)
    if staff is None:
        return RedirectResponse("/staff/login", status_code=303)
    if staff.totp_secret is not None:
        return RedirectResponse(ENROL_PAGE, status_code=303)
    try:
        codes = second_factor.enrol(session, staff, secret.strip().upper(), code)
    except ValidationFailed as error:
        fresh = second_factor.new_secret() if error.code == "setup_expired" else secret
        return _enrol_page(request, staff, fresh, error=error.message, status_code=422)
    settings = request.app.state.settings
    token = None
    if row is not None:  # an administrator's first sign-in with it: signed in now
        audit.record(session, f"staff:{staff.id}", "login", method="enrolment")
        token = sessions.complete(session, row, settings.session_hours, settings.session_idle_minutes)
    session.commit()
    page = render(request, "enrol.html", staff=staff, codes=codes)
    if token is not None:
        page.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
                        max_age=settings.session_hours * 3600, path="/")
    return page


@router.get(password_reset.PATH + "{token}")
def reset_form(token: str, request: Request, session: DB) -> Response:
    try:
        password_reset.find(session, token)
    except NotFound as error:
        return _link_gone(request, error)
    return render(request, "set_password.html", errors={}, token=token)


def _link_gone(request: Request, error: NotFound) -> Response:
    gettext = translations(language(request)).gettext
    return render(request, "message.html", status_code=404, title=gettext("Set a new password"),
                  text=gettext(error.message))


@router.post(password_reset.PATH + "{token}")
def reset(token: str, request: Request, session: DB, password: Annotated[str, Form()] = "",
          repeated: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    """Set the new password; every session of the account ends, and the sign-in page says so."""
    check_csrf(request, csrf)
    try:
        password_reset.use(session, token, password, repeated)
    except NotFound as error:
        return _link_gone(request, error)
    except ValidationFailed as error:
        return render(request, "set_password.html", status_code=422, errors=error.fields, token=token)
    session.commit()
    response = RedirectResponse("/staff/login?ended=password_set", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")  # it was ended with the others, if it was theirs
    return response
