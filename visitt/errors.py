"""The small, typed set of errors Visitt reports, each with a stable machine-readable code.

They become HTTP responses in ``visitt.app`` and wire messages in ``visitt.live.signaling``; both
use :meth:`VisittError.public`, so the two shapes never drift apart. Anything that is not a
``VisittError`` reaches a client only as ``internal_error``.
"""

from __future__ import annotations

import traceback
from typing import Any

from visitt.web.i18n import N_


class VisittError(Exception):
    status = 400
    code = "bad_request"
    retry_after: int | None = None  # seconds, for HTTP's Retry-After: when trying again may help

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or {}

    def public(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


class ValidationFailed(VisittError):
    status = 422
    code = "validation_failed"


class NotAuthenticated(VisittError):
    status = 401
    code = "not_authenticated"


class Forbidden(VisittError):
    status = 403
    code = "forbidden"


class NotFound(VisittError):
    status = 404
    code = "not_found"


class Conflict(VisittError):
    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    """A state machine was asked for a move it does not have."""

    code = "illegal_transition"

    def __init__(self, what: str, current: str, target: str) -> None:
        super().__init__(f"{what} cannot go from {current!r} to {target!r}")
        self.current = current
        self.target = target


class ProtocolError(VisittError):
    code = "protocol_error"


class RateLimited(VisittError):
    status = 429
    code = "rate_limited"


class Busy(VisittError):
    """Too much of some heavy work is running at once (password checks): try again in a moment."""

    status = 503
    code = "busy"
    retry_after = 1


UNAVAILABLE = N_("The service is temporarily unavailable. Please try again in a few minutes.")


class ServiceUnavailable(VisittError):
    """The database cannot be reached: nothing that needs it can be done, and nothing is done
    without it. The edges (HTTP, the signaling socket) turn the driver's errors into this one; see
    :func:`visitt.store.db.outage`."""

    status = 503
    code = "database_unavailable"
    retry_after = 30

    def __init__(self, message: str = UNAVAILABLE) -> None:
        super().__init__(message)


MEDIA_SERVER_DOWN = N_("The media server for group calls cannot be reached, so group consultations and meetings "
                       "cannot be booked or started now. One-to-one consultations still work. Please tell IT.")


class MediaServerUnavailable(VisittError):
    """Janus (``VISITT_JANUS_URL``) does not answer, or is not configured: what needs it (a group
    call) cannot be done; a one-to-one call on the mesh does not need it."""

    status = 503
    code = "media_server_unavailable"
    retry_after = 30

    def __init__(self, message: str = MEDIA_SERVER_DOWN) -> None:
        super().__init__(message)


INTERNAL = {"code": "internal_error", "message": "internal server error"}


def describe(error: BaseException) -> str:
    """An unexpected error for the log: its type and where it was raised, never its message
    (a database error's message can carry the statement's parameters: names, phone numbers)."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if "/visitt/" in frame.filename] or frames
    where = ", ".join(f"{frame.filename.rsplit('/visitt/', 1)[-1]}:{frame.lineno} {frame.name}" for frame in ours[-3:])
    return f"{type(error).__name__} at {where or 'unknown place'}"
