"""A small local FHIR server standing in for the hospital's (DIPS, a FHIR gateway): strict about what it takes.

It speaks FHIR's REST the way the export uses it - a ``transaction`` Bundle POSTed to the base - and parses
the Bundle and every resource in it with ``fhir.resources`` (R4B, as the export builds them); anything that
does not parse is refused with an ``OperationOutcome`` and 400. Each entry's conditional update
(``PUT Type?identifier=system|value``) creates or replaces the one resource with that identifier. It also has
an OAuth 2.0 token endpoint (client credentials, HTTP Basic) and can be told to answer 503 for a while.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

CLIENT_ID, CLIENT_SECRET = "visitt", "s3cret-for-tests"


def outcome(code: str, diagnostics: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code,
                                                           "diagnostics": diagnostics}]}


class FhirReceiver:
    """``requests``: every transaction received (parsed); ``stored``: the resources by ``Type?identifier=``;
    ``unavailable``: how many transactions still to answer 503."""

    def __init__(self, *, oauth: bool = True) -> None:
        self.requests: list[Bundle] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.unavailable = 0
        self.tokens: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict[str, Any], content_type: str = "application/fhir+json") -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/token":
                    return self._token(raw)
                if self.path != "/fhir":
                    return self._answer(404, outcome("not-found", f"no endpoint {self.path}"))
                if oauth and self.headers.get("authorization", "").removeprefix("Bearer ") not in receiver.tokens:
                    return self._answer(401, outcome("login", "no valid access token"))
                if not self.headers.get("content-type", "").startswith("application/fhir+json"):
                    return self._answer(415, outcome("not-supported", "send application/fhir+json"))
                with receiver.lock:
                    if receiver.unavailable > 0:
                        receiver.unavailable -= 1
                        return self._answer(503, outcome("transient", "try again later"))
                try:
                    bundle = Bundle.model_validate_json(raw)  # every entry's resource parsed by its own model
                except ValidationError as error:
                    return self._answer(400, outcome("invalid", str(error.errors(include_url=False)[0]["msg"])))
                if bundle.type != "transaction" or not bundle.entry:
                    return self._answer(400, outcome("invalid", "expected a transaction Bundle"))
                answers = []
                with receiver.lock:
                    receiver.requests.append(bundle)
                    for entry in bundle.entry:
                        if entry.request is None or entry.request.method != "PUT" or "?identifier=" not in entry.request.url:
                            return self._answer(400, outcome("invalid", "expected conditional updates by identifier"))
                        existed = entry.request.url in receiver.stored
                        receiver.stored[entry.request.url] = json.loads(entry.resource.model_dump_json(by_alias=True))
                        answers.append({"response": {"status": "200 OK" if existed else "201 Created"}})
                self._answer(200, {"resourceType": "Bundle", "type": "transaction-response", "entry": answers})

            def _token(self, raw: bytes) -> None:
                expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("authorization") != f"Basic {expected}" or b"grant_type=client_credentials" not in raw:
                    return self._answer(401, {"error": "invalid_client"}, "application/json")
                token = secrets.token_urlsafe(16)
                receiver.tokens.add(token)
                self._answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300},
                             "application/json")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/fhir"
        self.token_url = f"{self.base}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
