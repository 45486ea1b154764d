"""FastAPI dependencies: the unit of work for a request and the staff member behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from visitt import sessions
from visitt.errors import NotAuthenticated
from visitt.limiter import Limiter
from visitt.store.models import Role, Staff
from visitt.web.security import SESSION_COOKIE, bearer_staff
from visitt.settings import Settings


def db_session(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


# The unit of work ends - committed, or rolled back - before the response is sent ("function" scope; the
# default would commit after it): a commit that fails, the database gone mid-request, is answered with 503,
# never with a success that was not saved.
DB = Annotated[Session, Depends(db_session, scope="function")]


def settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def clinic_tz(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.timezone)


def base_url(request: Request) -> str:
    """The address links in SMS, e-mails and calendar files start with: ``VISITT_PUBLIC_URL``, never the
    request's ``Host`` header, which the caller can make say anything (``visitt serve`` refuses to start
    without the setting)."""
    return request.app.state.settings.public_url  # type: ignore[no-any-return]


def app_limiter(request: Request) -> Limiter:
    """The app's one limiter (:mod:`visitt.limiter`)."""
    limiter: Limiter = request.app.state.limiter
    return limiter


class LoginRequired(NotAuthenticated):
    """Raised for a page that needs a signed-in member of staff; the app answers it with a redirect to
    ``location``, the sign-in page unless said otherwise (JSON callers get the 401 error shape)."""

    def __init__(self, message: str, location: str = "/staff/login") -> None:
        super().__init__(message)
        self.location = location


ENROL_PAGE = "/staff/account/second-factor"
CODE_PAGE = "/staff/login/code"


def page_staff(request: Request, session: Session) -> Staff:
    """The staff member signed in with the session cookie. Otherwise, back to the sign-in page (saying
    so if the session has just timed out); an administrator still without a second factor, to its
    set-up, which they must finish before anything else."""
    found = sessions.look_up(session, request.cookies.get(SESSION_COOKIE))
    if found.staff is None:
        if found.ended is not None:
            session.commit()  # the audit row of the time-out
            raise LoginRequired("Please sign in.", f"/staff/login?ended={found.ended}")
        row = sessions.pending(session, request.cookies.get(SESSION_COOKIE), "enrol", "second_factor")
        if row is not None:  # half-way through signing in: back to the step that is missing
            raise LoginRequired("Sign in first.", ENROL_PAGE if row.stage == "enrol" else CODE_PAGE)
        raise LoginRequired("Please sign in.")
    if found.staff.role is Role.admin and found.staff.totp_secret is None:
        raise LoginRequired("Set up a second factor first.", ENROL_PAGE)
    return found.staff


def api_staff(request: Request, session: Session) -> Staff:
    return bearer_staff(request, session)
