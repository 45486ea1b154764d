"""The JSON API's password-reset link (``/api/v1/staff/{id}/reset-link``, for whoever administers the
account). Deactivation, reactivation and the rest of the account's administration are the admin
console's routes (``visitt.web.admin_api``); ``visitt users`` calls the same operations."""

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
