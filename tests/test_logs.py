"""Structured logs with no personal data (visitt/ops/logs.py), read from a real ``visitt serve`` process.

A whole consultation runs against the subprocess - booking, a failed sign-in, invalid requests,
the patient page, a knock that is denied, a knock that is admitted, leave and end - and then its
stderr is searched for everything personal it saw.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from visitt.ops import logs

from .peers import WsClient, run, staff_login
from .serve import STAFF_PASSWORD, ServeProcess

EMAIL = "ingrid.kvam-bakke@sykehuset.example"
STAFF_NAME = "Ingrid Kvam-Bakke"
PATIENT = "Åse Solbjørg Tveitane"
PHONES = ("412 34 567", "41234567", "+4741234567", "+47 412 34 567")


def _consultation(node: ServeProcess) -> list[str]:
    """Everything a day at the clinic sends through the server; returns the secrets it handled."""
    join_url, token = node.book(PATIENT, "412 34 567")
    http = httpx.Client(base_url=node.url)
    assert http.get(join_url).status_code == 200
    # invalid bookings: the values are in the requests, and must not reach the log
    api = {"Authorization": f"Bearer {node.token}"}
    invalid = http.post("/api/v1/appointments", headers=api,
                        json={"patient_name": PATIENT, "patient_phone": "412 34", "starts_at": "tomorrow"})
    assert invalid.status_code == 422
    malformed = http.post("/api/v1/appointments", headers=api,
                          json={"patient_name": PATIENT, "patient_phone": "+4741234567", "duration_minutes": "long"})
    assert malformed.status_code == 422
    # a failed sign-in, then a good one
    http.get("/staff/login")
    failed = http.post("/staff/login", data={"email": EMAIL, "password": "not the password",
                                             "csrf": http.cookies["visitt_csrf"]})
    assert failed.status_code == 401
    cookie = staff_login(node, EMAIL, STAFF_PASSWORD)  # type: ignore[arg-type]
    assert http.get("/readyz").status_code == 200
    assert http.get("/metrics").status_code == 200
    http.close()

    async def visit() -> None:
        patient = await WsClient.guest(node, token)  # type: ignore[arg-type]
        clinician = await WsClient.staff(node, cookie)  # type: ignore[arg-type]
        await patient.hello()
        await clinician.hello()
        await patient.send({"type": "knock", "name": PATIENT})
        knock = await clinician.expect("knock")
        room, guest = knock["room"], knock["participant"]["id"]
        await clinician.send({"type": "deny", "room": room, "participant": guest})
        await patient.expect("denied")
        await patient.send({"type": "knock", "name": PATIENT})
        await clinician.expect("knock")
        await clinician.send({"type": "admit", "room": room, "participant": guest})
        await patient.expect("admitted")
        await patient.send_raw(b"\x00binary")  # answered as malformed; nothing to log
        await patient.expect_error("malformed")
        await patient.send({"type": "leave"})
        await patient.expect("bye")
        await clinician.send({"type": "end", "room": room})
        await clinician.expect("ended")
        await patient.close()
        await clinician.close()

    run(visit())
    return [token, node.token, cookie]


def test_a_full_consultation_logs_json_lines_without_personal_data(tmp_path: Path) -> None:
    node = ServeProcess(tmp_path, email=EMAIL, name=STAFF_NAME).start()
    try:
        secrets = _consultation(node)
        assert node.sms()  # the invitation went out, so the outbox ran too
        node.sigterm()
        assert node.wait(15) == 0
    finally:
        node.stop()

    text = node.stderr()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is a JSON object
    assert len(lines) >= 4
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= set(line), line
    assert {"Application startup complete.", "Shutting down"} <= {line["msg"] for line in lines}
    for personal in (PATIENT, *PATIENT.split(), *PHONES, EMAIL, STAFF_NAME, *secrets):
        assert personal not in text, f"{personal!r} is in the log"


def test_exceptions_are_logged_as_type_and_place_only(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for format in logs.FORMATS:
            logs.configure(format)
            try:
                raise ValueError("duplicate key: phone=+4741234567")
            except ValueError:
                logging.getLogger("visitt.test").exception("booking failed for %s", "/v/abcdefghijklmnop1234")
    finally:
        root.handlers[:], root.level = saved
    err = capsys.readouterr().err
    assert "+4741234567" not in err and "abcdefghijklmnop1234" not in err
    json_line, text_line = err.splitlines()
    logged = json.loads(json_line)
    assert logged["exc"].startswith("ValueError at ")
    assert logged["msg"] == "booking failed for /v/…"
    assert text_line.endswith(f"ERROR visitt.test booking failed for /v/… [{logged['exc']}]")


def test_uvicorn_websocket_handshake_lines_are_dropped() -> None:
    handshake = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, '%s - "WebSocket %s" [accepted]',
                                  ("10.0.0.7:5000", "/ws/v/abcdefghijklmnop1234"), None)
    startup = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "Application startup complete.", (), None)
    assert [logs.DropAccessLines().filter(record) for record in (handshake, startup)] == [False, True]


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="VISITT_LOG_FORMAT"):
        logs.configure("xml")
