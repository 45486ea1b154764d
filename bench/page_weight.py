"""Page weight: the bytes a patient's phone downloads from opening the SMS link to being in the call.

    python bench/page_weight.py [--no-write]

Starts Visitt on a loopback port (SQLite) and Debian's Chromium with fake camera and microphone. A
clinician signs in on a desktop-sized page; the patient opens the link on a phone-sized page with an
empty cache, checks their devices, knocks, is admitted and receives the clinician's picture. The
Chrome DevTools protocol counts every response the patient's page loads (``encodedDataLength`` of
``Network.loadingFinished``: headers and compressed body, as on the wire) and the signaling frames.
Prints per resource and in total, and rewrites its section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section  # noqa: E402
from tests.browser import DESK, PHONE, sign_in, wait_for_media  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, make_settings  # noqa: E402
from visitt.ops.logs import redact  # noqa: E402
from visitt.testing import LiveServer  # noqa: E402

TARGET = 60_000  # bytes


@dataclass
class Resource:
    url: str
    kind: str = ""
    encoding: str = ""
    status: int = 0
    decoded: int = 0  # body bytes after decompression
    wire: int = 0  # headers and body as received
    finished: bool = False


class NetworkLog:
    """Every request of one page, from the DevTools protocol's Network domain."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.frames_in = self.frames_out = 0
        self.frame_bytes_in = self.frame_bytes_out = 0

    def attach(self, cdp: Any) -> None:
        cdp.on("Network.requestWillBeSent", self._request)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.webSocketFrameReceived", self._frame_in)
        cdp.on("Network.webSocketFrameSent", self._frame_out)
        cdp.send("Network.enable")

    def _request(self, event: dict[str, Any]) -> None:
        self.resources.setdefault(event["requestId"], Resource(event["request"]["url"], event.get("type", "")))

    def _response(self, event: dict[str, Any]) -> None:
        resource = self.resources.setdefault(event["requestId"], Resource(event["response"]["url"]))
        headers = {name.lower(): value for name, value in event["response"]["headers"].items()}
        resource.kind = event.get("type", resource.kind)
        resource.status = event["response"]["status"]
        resource.encoding = headers.get("content-encoding", "")

    def _data(self, event: dict[str, Any]) -> None:
        if resource := self.resources.get(event["requestId"]):
            resource.decoded += event["dataLength"]

    def _finished(self, event: dict[str, Any]) -> None:
        if resource := self.resources.get(event["requestId"]):
            resource.wire = int(event["encodedDataLength"])
            resource.finished = True

    def _frame_in(self, event: dict[str, Any]) -> None:
        self.frames_in += 1
        self.frame_bytes_in += len(event["response"]["payloadData"].encode())

    def _frame_out(self, event: dict[str, Any]) -> None:
        self.frames_out += 1
        self.frame_bytes_out += len(event["response"]["payloadData"].encode())

    def loaded(self) -> list[Resource]:
        return [resource for resource in self.resources.values() if resource.finished]


def measure(server: LiveServer, browser: Any) -> NetworkLog:
    host = browser.new_context(**DESK).new_page()
    sign_in(host, server.url)
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat()
    booked = httpx.post(f"{server.url}/api/v1/appointments", headers={"Authorization": f"Bearer {server.token}"},
                        json={"patient_name": "Bench Patient", "patient_phone": "+4741234567", "starts_at": starts})
    booked.raise_for_status()
    phone = browser.new_context(**PHONE)  # a new context: nothing cached
    patient = phone.new_page()
    network = NetworkLog()
    network.attach(phone.new_cdp_session(patient))
    patient.goto(booked.json()["join_url"])
    patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
    patient.get_by_label("Your full name").fill("Bench Patient")
    patient.get_by_role("button", name="Join").click()
    host.locator("#waiting li .admit").click()
    wait_for_media(patient)
    patient.wait_for_timeout(500)  # let the last protocol events arrive
    return network


def _name(url: str) -> str:
    parts = urlsplit(url)
    return redact(parts.path) if parts.scheme in ("http", "https") else url[:40]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data, sync_playwright() as playwright:
        server = LiveServer(make_settings(Path(data))).start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            network = measure(server, browser)
        finally:
            browser.close()
            server.stop()
    loaded = network.loaded()
    total = sum(resource.wire for resource in loaded)
    decoded = sum(resource.decoded for resource in loaded)
    rows = [f"| `{_name(r.url)}` | {r.kind.lower()} | {r.status} | {r.encoding or 'none'} | {r.wire:,} | {r.decoded:,} |"
            for r in loaded]
    verdict = "within" if total <= TARGET else "**over**"
    body = "\n".join([
        "## Page weight: SMS link → in the call (`bench/page_weight.py`)",
        "",
        "Chromium on a phone-sized page (390×844) with an empty cache, on loopback; counted with the DevTools "
        "protocol from opening the link, through the device check and the knock, to the first decoded frame of "
        "the clinician's video after the admit. *On the wire* is `encodedDataLength`: response headers and the "
        f"body as sent (gzip where the server compresses). Target: ≤ {TARGET:,} bytes; this run is {verdict} it.",
        "",
        "| resource | type | status | encoding | on the wire (bytes) | decoded body (bytes) |",
        "|---|---|---|---|---:|---:|",
        *rows,
        f"| **total, {len(loaded)} responses** | | | | **{total:,}** | **{decoded:,}** |",
        "",
        f"Signaling on the WebSocket up to that point: {network.frames_in} frames received "
        f"({network.frame_bytes_in:,} bytes of payload), {network.frames_out} sent ({network.frame_bytes_out:,} "
        "bytes), not counted above. Sound and picture go peer to peer and are not page weight.",
    ])
    print(body)
    if not args.no_write:
        write_section("page_weight", body)


if __name__ == "__main__":
    main()
