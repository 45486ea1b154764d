"""The outbox's ``fhir`` channel: each consultation's record (:mod:`visitt.record_export`) to the hospital's FHIR server.

A message's body is the transaction Bundle, built and validated when the outcome was recorded
(:func:`export_on_outcome`); :class:`FhirBackend` POSTs it to ``VISITT_FHIR_URL`` (the server's base: a FHIR
transaction goes to the base itself). Authorisation is a static bearer token (``VISITT_FHIR_TOKEN``) or an
OAuth 2.0 client-credentials grant (RFC 6749 §4.4: ``VISITT_FHIR_TOKEN_URL``, ``VISITT_FHIR_CLIENT_ID``,
``VISITT_FHIR_CLIENT_SECRET``, sent with HTTP Basic), its access token kept until shortly before it expires
and fetched afresh once when the server answers 401.

The outbox retries what failed for now (the server unreachable, 5xx, 429) with its backoff and gives up on
what the server refused (other 4xx, with its OperationOutcome's words kept for IT), which staff then see on
the appointment. Every entry is a conditional update by identifier, so a Bundle sent twice - the outbox's
crash window - changes nothing the second time.
"""

from __future__ import annotations

import logging
import time

import httpx
from sqlalchemy.orm import Session

from visitt.messaging import outbox
from visitt.record_export import bundle, to_json
from visitt.settings import Settings
from visitt.store.models import Appointment, OutboxMessage

log = logging.getLogger("visitt.fhir")
CHANNEL = "fhir"
FHIR_JSON = "application/fhir+json"
EARLY = 30.0  # seconds before its expiry an access token is fetched afresh


def configured(settings: Settings) -> bool:
    return bool(settings.fhir_url)


def export_on_outcome(session: Session, appointment: Appointment, settings: Settings) -> OutboxMessage | None:
    """Queue the appointment's record for the FHIR server, in the caller's unit of work (the outcome's).
    Nothing when no FHIR server is configured: the record can still be downloaded."""
    if not configured(settings):
        return None
    body = to_json(bundle(session, appointment, public_url=settings.public_url))
    return outbox.enqueue(session, recipient=settings.fhir_url, body=body, appointment_id=appointment.id,
                          channel=CHANNEL)


def _diagnostics(response: httpx.Response) -> str:
    """The server's own words: its OperationOutcome's diagnostics, else the status line."""
    try:
        issues = response.json().get("issue", [])
        words = "; ".join(str(issue.get("diagnostics") or issue.get("code", "")) for issue in issues)
    except (ValueError, AttributeError):
        words = ""
    return f"FHIR server answered {response.status_code}" + (f": {words}" if words else "")


class FhirBackend:
    """Delivers the ``fhir`` channel's Bundles to one FHIR server."""

    name = "fhir"

    def __init__(self, url: str, *, token: str = "", token_url: str = "", client_id: str = "",
                 client_secret: str = "", transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self.static_token = token
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.transport = transport
        self.access_token = ""
        self.expires = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> FhirBackend:
        return cls(settings.fhir_url, token=settings.fhir_token, token_url=settings.fhir_token_url,
                   client_id=settings.fhir_client_id, client_secret=settings.fhir_client_secret)

    async def _token(self, http: httpx.AsyncClient, *, fresh: bool = False) -> str:
        if self.static_token or not self.token_url:
            return self.static_token
        if fresh or not self.access_token or time.monotonic() > self.expires - EARLY:
            response = await http.post(self.token_url, data={"grant_type": "client_credentials"},
                                       auth=(self.client_id, self.client_secret))
            if response.status_code >= 500:
                raise outbox.SendFailed(f"token endpoint answered {response.status_code}")
            if response.status_code != 200:
                raise outbox.SendFailed(f"token endpoint refused the client ({response.status_code})", permanent=True,
                                        code="configuration")
            grant = response.json()
            self.access_token = str(grant["access_token"])
            self.expires = time.monotonic() + float(grant.get("expires_in", 300))
        return self.access_token

    async def _post(self, http: httpx.AsyncClient, body: str, token: str) -> httpx.Response:
        headers = {"content-type": FHIR_JSON, "accept": FHIR_JSON}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return await http.post(self.url, content=body.encode(), headers=headers)

    async def send(self, message: OutboxMessage) -> str | None:
        try:
            async with httpx.AsyncClient(timeout=30.0, transport=self.transport) as http:
                response = await self._post(http, message.body, await self._token(http))
                if response.status_code == 401 and self.token_url and not self.static_token:
                    response = await self._post(http, message.body, await self._token(http, fresh=True))
        except httpx.HTTPError as error:
            raise outbox.SendFailed(f"FHIR server unreachable: {type(error).__name__}") from None
        if response.status_code in (200, 201):
            log.info("fhir %s: the record was accepted", message.id)
            return None
        if response.status_code == 429 or response.status_code >= 500:
            raise outbox.SendFailed(_diagnostics(response))
        code = "configuration" if response.status_code in (401, 403, 404) else "record_rejected"
        raise outbox.SendFailed(_diagnostics(response), permanent=True, code=code)
