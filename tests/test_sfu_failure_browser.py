"""One participant's connections to Janus fail, and the group call carries on (static/js/sfu.js ``watch``,
visitt/live/sfu.py): the clinician's, the patient's and the companion's pages (Chromium) see each other through
Janus; then every UDP path between the patient's page and Janus is blocked (nftables, as when a phone moves from
Wi-Fi to 4G and its old address is gone). The patient's page publishes afresh and subscribes afresh on new
connections: the others decode the patient again, the patient decodes them again, nobody reloads or knocks again,
and the clinician's picture of the companion never stops meanwhile."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from visitt.testing import LiveServer

from .browser import DESK
from .conftest import make_settings
from .janus import SECRET, JanusServer
from .test_group_pages_browser import SEEN
from .test_sfu_recovery_browser import decodes, group_of_three

# The UDP ports of every local candidate of the page's connections to Janus (ICE may use any of them).
PORTS = """async () => {
  const call = window.visittCall;
  const ports = new Set();
  for (const pc of [call.sending, ...[...call.peers.values()].map((entry) => entry.pc)]) {
    (await pc.getStats()).forEach((report) => {
      if (report.type === "local-candidate" && report.protocol === "udp") ports.add(report.port);
    });
  }
  return [...ports];
}"""
# Each renewal sfu.js makes, counted (its "renew" event).
COUNT_RENEWALS = """() => {
  window.renewals = 0;
  window.visittCall.addEventListener("renew", () => { window.renewals += 1; });
}"""


class Blocked:
    """Every UDP packet from or to the given local ports dropped, in an nftables table of this test's own: the
    page's paths to Janus, whichever it chose, are gone; a new connection gathers on new ports."""

    def __init__(self, ports: list[int]) -> None:
        assert ports
        self.table = f"visitt_test_{os.getpid()}"
        listed = ", ".join(map(str, ports))
        self._nft(f"add table inet {self.table}\n"
                  f"add chain inet {self.table} out {{ type filter hook output priority 0; }}\n"
                  f"add rule inet {self.table} out udp sport {{ {listed} }} drop\n"
                  f"add rule inet {self.table} out udp dport {{ {listed} }} drop\n")

    @staticmethod
    def _nft(script: str) -> None:
        subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True)

    def close(self) -> None:
        self._nft(f"delete table inet {self.table}\n")


def flows(page: Page, ids: set[str], timeout: float = 120.0) -> None:
    """Until ``page`` decodes 10 new frames of each of ``ids`` within 2 s, on the connections it has then."""
    deadline = time.monotonic() + timeout
    now: dict[str, Any] = {}
    while time.monotonic() < deadline:
        before = page.evaluate(SEEN)
        page.wait_for_timeout(2000)
        now = page.evaluate(SEEN)
        if all(now.get(id, {}).get("video", 0) >= before.get(id, {}).get("video", 0) + 10 for id in ids):
            return
    raise AssertionError(f"{page.url} does not decode {ids}: {now}")


@pytest.mark.browser
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="blocking a path needs root and nft")
def test_a_page_whose_connections_to_janus_fail_publishes_and_subscribes_afresh(
        browser: Browser, janus: JanusServer, tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET)).start()
    contexts = [browser.new_context(**DESK) for _ in range(3)]
    blocked: Blocked | None = None
    try:
        host, patient, companion = group_of_three(server, contexts)
        for page in (host, patient, companion):
            decodes(page, 2)
        ids = {page: page.evaluate("() => window.visittCall.selfId") for page in (host, patient, companion)}
        patient.evaluate(COUNT_RENEWALS)

        blocked = Blocked(patient.evaluate(PORTS))
        flows(host, {ids[companion]})  # the others' media between themselves goes on
        flows(companion, {ids[host]})
        patient.wait_for_function("() => window.renewals >= 3", timeout=60000)  # sending, and receiving each
        # new connections, on new paths: frames both ways again, without a reload
        flows(patient, {ids[host], ids[companion]})
        flows(host, {ids[patient], ids[companion]})
        flows(companion, {ids[patient], ids[host]})
        for page in (patient, companion):  # nobody knocked again: still in the call
            expect(page.locator("#call")).to_be_visible()
        expect(host.locator("#waiting li")).to_have_count(0)
    finally:
        if blocked is not None:
            blocked.close()
        for context in contexts:
            context.close()
        server.stop()
