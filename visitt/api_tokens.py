"""API tokens in the admin console: create one with a name, an owner and an expiry, list them (never the
secret again: only its hash is kept), revoke one.

A token is checked against the database on every request (:func:`visitt.accounts.staff_for_api_token`),
so a revoked or expired token is refused by every node from the next request on - no node keeps a copy.
A department admin manages the tokens of the accounts they administer.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from visitt import access, accounts
from visitt.ids import RowId
from visitt.errors import Conflict, NotFound, ValidationFailed
from visitt.store import audit
from visitt.store.models import ApiToken, Staff, utcnow
from visitt.web.i18n import N_


class TokenCreate(BaseModel):
    name: str = Field(max_length=100)  # what it is for: "Booking system"
    owner_id: RowId  # the staff account it acts as
    days: int = accounts.TOKEN_DAYS


class TokenPublic(BaseModel):
    id: int
    name: str
    owner_id: int
    owner_email: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    state: str  # active, expired or revoked


class TokenCreated(TokenPublic):
    token: str  # shown this once


def public(row: ApiToken) -> TokenPublic:
    return TokenPublic(id=row.id, name=row.name, owner_id=row.staff_id, owner_email=row.staff.email,
                       created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                       state=accounts.token_state(row))


def listed(session: Session, actor: Staff) -> list[ApiToken]:
    """The tokens of the accounts ``actor`` administers, newest first."""
    access.require_admin(actor)
    return list(session.scalars(select(ApiToken).join(ApiToken.staff).where(access.administered_staff(actor))
                                .order_by(ApiToken.id.desc())))


def create(session: Session, actor: Staff, data: TokenCreate) -> tuple[ApiToken, str]:
    """A new token for an account ``actor`` administers; returns it with its secret, to show once."""
    access.require_admin(actor)
    errors: dict[str, str] = {}
    name = " ".join(data.name.split())
    if not name:
        errors["name"] = N_("Name the token after what uses it, for example Booking system.")
    if not 1 <= data.days <= accounts.MAX_TOKEN_DAYS:
        errors["days"] = N_("Choose from 1 to 365 days.")  # MAX_TOKEN_DAYS
    owner = session.get(Staff, data.owner_id)
    if owner is None or not access.may_administer(actor, owner):
        errors["owner_id"] = N_("Choose an account from the list.")
    elif not owner.active:
        errors["owner_id"] = N_("The account is inactive.")
    if errors:
        raise ValidationFailed(N_("The API token could not be created."), fields=errors)
    assert owner is not None
    secret = accounts.new_secret()
    row = ApiToken(staff_id=owner.id, name=name, token_hash=accounts.digest(secret),
                   expires_at=utcnow() + dt.timedelta(days=data.days))
    session.add(row)
    session.flush()
    audit.record(session, f"staff:{actor.id}", "token_created", subject=f"api_token:{row.id}", staff=owner.id,
                 days=data.days, name=name)
    return row, secret


def revoke(session: Session, actor: Staff, token_id: int) -> ApiToken:
    """Revoke a token of an account ``actor`` administers (404 for any other)."""
    access.require_admin(actor)
    row = session.get(ApiToken, token_id)
    if row is None or not access.may_administer(actor, row.staff):
        raise NotFound(N_("No such API token."))
    if row.revoked_at is not None:
        raise Conflict(N_("The API token is already revoked."))
    row.revoked_at = utcnow()
    audit.record(session, f"staff:{actor.id}", "token_revoked", subject=f"api_token:{row.id}", staff=row.staff_id)
    return row
