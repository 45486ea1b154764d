"""The JSON API for administering staff accounts (``/api/v1/staff/...``, role ``admin``): password-reset
links, deactivation and reactivation. The admin console and ``visitt users`` call the same operations."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from visitt import accounts, password_reset
from visitt.ids import RowId
from visitt.web.api import ERRORS
from visitt.web.deps import DB, api_staff, base_url

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])
RESPONSES = {**ERRORS, 404: ERRORS[401], 409: ERRORS[401]}


class ResetLink(BaseModel):
    """A one-time link for the staff member to set a new password; give it to them yourself."""

    url: str
    expires_in_hours: int


class AccountState(BaseModel):
    id: int
    active: bool


@router.post("/{staff_id}/reset-link", status_code=201, response_model=ResetLink, responses=RESPONSES)
def create_reset_link(staff_id: RowId, request: Request, session: DB) -> ResetLink:
    """A one-time link (valid ``VISITT_RESET_LINK_HOURS``) to set a new password. Earlier unused links
    for the same person stop working. Visitt never sends a password anywhere."""
    actor = api_staff(request, session)
    hours = request.app.state.settings.reset_link_hours
    url = password_reset.create_link(session, actor, accounts.staff_by_id(session, staff_id),
                                     base_url=base_url(request), hours=hours)
    session.commit()
    return ResetLink(url=url, expires_in_hours=hours)


@router.post("/{staff_id}/deactivate", response_model=AccountState, responses=RESPONSES)
def deactivate(staff_id: RowId, request: Request, session: DB) -> AccountState:
    """Deactivate the account: its web sessions and API tokens end now, its live sockets close
    within a second on every node (close code 4003)."""
    actor = api_staff(request, session)
    staff = accounts.staff_by_id(session, staff_id)
    accounts.deactivate(session, actor, staff)
    session.commit()  # every node's watch (visitt.live.deactivation) closes the sockets within a second
    return AccountState(id=staff.id, active=staff.active)


@router.post("/{staff_id}/reactivate", response_model=AccountState, responses=RESPONSES)
def reactivate(staff_id: RowId, request: Request, session: DB) -> AccountState:
    """Let the account sign in again (old sessions and API tokens stay ended)."""
    actor = api_staff(request, session)
    staff = accounts.staff_by_id(session, staff_id)
    accounts.reactivate(session, actor, staff)
    session.commit()
    return AccountState(id=staff.id, active=staff.active)
