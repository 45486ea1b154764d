"""One participant's connections to Janus, and the group call carries on (static/js/sfu.js, visitt/live/sfu.py): the
clinician's, the patient's and the companion's pages (Chromium) see each other through Janus.

- Every UDP path between the patient's page and Janus is blocked for a while (nftables, as when a phone moves from
  Wi-Fi to 4G and its old address is gone): the patient's page restarts ICE on each of its connections, which
  come back as the same connections (no new ones): the others decode the patient again, the patient decodes them
  again, nobody reloads or knocks again, and the clinician's picture of the companion never stops meanwhile.
- Janus's end of each of the patient's connections is blocked instead: the restarts find no path (Janus restarts
  ICE on the same ports), and 6 s later the page renews each connection, on new ones (new handles at Janus), and
  everyone sees everyone again.
- The patient's signaling socket closes (the page keeps running, as after a dropped network): the page comes back
  on a new socket and keeps every connection to Janus, while the clinician goes on decoding the patient. The
  companion's page is then reloaded, and the patient's page subscribes to its new feed: the patient still keeps
  its own connections (before, that subscription from a new socket dropped them all as a reloaded page's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from visitt.testing import LiveServer

from .browser import DESK, still_in_the_call, until
from .conftest import make_settings
from .janus import SECRET, JanusServer
from .test_group_pages_browser import SEEN
from .test_sfu_recovery_browser import decodes, group_of_three

# The UDP ports of every local (or remote: Janus's) candidate of the page's connections to Janus (ICE may use any).
PORTS = """async (kind) => {
  const call = window.visittCall;
  const ports = new Set();
  for (const pc of [call.sending, ...[...call.peers.values()].map((entry) => entry.pc)]) {
    (await pc.getStats()).forEach((report) => {
      if (report.type === `${kind}-candidate` && report.protocol === "udp") ports.add(report.port);
    });
  }
  return [...ports];
}"""
# Each ICE restart and each renewal sfu.js makes, counted (its "restart" and "renew" events).
COUNT_REPAIRS = """() => {
  window.restarts = window.renewals = 0;
  window.visittCall.addEventListener("restart", () => { window.restarts += 1; });
  window.visittCall.addEventListener("renew", () => { window.renewals += 1; });
}"""
# The page's connections to Janus now, kept to be compared with later (SAME_CONNECTIONS).
KEEP_CONNECTIONS = """() => {
  const call = window.visittCall;
  window.kept = {sending: call.sending, receiving: new Map([...call.peers].map(([id, entry]) => [id, entry.pc]))};
}"""
# Whether the page still has those connections (sending, and receiving each of ``ids``), each of them connected.
SAME_CONNECTIONS = """(ids) => {
  const call = window.visittCall;
  const pcs = [call.sending, ...ids.map((id) => call.peers.get(id)?.pc)];
  const kept = [window.kept.sending, ...ids.map((id) => window.kept.receiving.get(id))];
  return pcs.every((pc, at) => pc && pc === kept[at] && pc.connectionState === "connected");
}"""


class Blocked:
    """Every UDP packet from or to the given ports dropped, in an nftables table of this test's own. The page's
    own ports: its paths to Janus, whichever it chose, are gone, and an ICE restart or a new connection gathers on
    new ports. Janus's ports of the page's connections: an ICE restart, on the same ports at Janus, finds no path;
    a new connection (a new handle at Janus) does."""

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


@contextmanager
def three_through_janus(browser: Browser, janus: JanusServer, tmp_path: Path,
                        **settings: Any) -> Iterator[tuple[Page, Page, Page, dict[Page, str]]]:
    """The clinician's, the patient's and the companion's pages in a group call through Janus, each decoding the
    two others, the patient's page counting its restarts and renewals and keeping its connections to compare;
    yields the three pages and each one's id in the call. Everything closed afterwards."""
    server = LiveServer(make_settings(tmp_path, janus_url=janus.url, janus_api_secret=SECRET, **settings)).start()
    contexts = [browser.new_context(**DESK) for _ in range(3)]
    try:
        host, patient, companion = group_of_three(server, contexts)
        for page in (host, patient, companion):
            decodes(page, 2)
        ids = {page: page.evaluate("() => window.visittCall.selfId") for page in (host, patient, companion)}
        patient.evaluate(COUNT_REPAIRS)
        patient.evaluate(KEEP_CONNECTIONS)
        yield host, patient, companion, ids
    finally:
        for context in contexts:
            context.close()
        server.stop()


@pytest.mark.browser
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="blocking a path needs root and nft")
def test_a_page_whose_path_to_janus_breaks_restarts_ice_on_the_same_connections(
        browser: Browser, janus: JanusServer, tmp_path: Path) -> None:
    blocked: Blocked | None = None
    with three_through_janus(browser, janus, tmp_path) as (host, patient, companion, ids):
        try:
            blocked = Blocked(patient.evaluate(PORTS, "local"))
            flows(host, {ids[companion]})  # the others' media between themselves goes on
            flows(companion, {ids[host]})
            patient.wait_for_function("() => window.restarts >= 3", timeout=60000)  # sending, and receiving each
            blocked.close()  # the old path back too (a restart may take a new one or the old one)
            blocked = None
            # the same connections, on new paths: frames both ways again, without a reload or a new connection
            flows(patient, {ids[host], ids[companion]})
            flows(host, {ids[patient], ids[companion]})
            flows(companion, {ids[patient], ids[host]})
            until(patient, SAME_CONNECTIONS, [ids[host], ids[companion]], what="the same connections, connected")
            assert patient.evaluate("() => window.renewals") == 0  # no connection had to be replaced
            still_in_the_call(host, [patient, companion])
        finally:
            if blocked is not None:
                blocked.close()


@pytest.mark.browser
def test_a_page_whose_socket_is_replaced_keeps_its_connections_to_janus(
        browser: Browser, janus: JanusServer, tmp_path: Path) -> None:
    with three_through_janus(browser, janus, tmp_path, reconnect_grace=60) as (host, patient, companion, ids):
        patient.evaluate("""() => {
          window.admittedAgain = 0;
          window.visittCall.signaling.addEventListener("admitted", () => { window.admittedAgain += 1; });
          window.visittCall.signaling.socket.close();
        }""")
        flows(host, {ids[patient]})  # while its socket is away and back, the patient's media goes on
        patient.wait_for_function("() => window.admittedAgain >= 1", timeout=60000)  # back on a new socket
        flows(host, {ids[patient], ids[companion]})
        flows(patient, {ids[host], ids[companion]})

        companion.reload()  # a reload is a new page: it publishes afresh, and the others receive its new feed
        flows(patient, {ids[companion]})
        flows(host, {ids[patient], ids[companion]})
        flows(companion, {ids[patient], ids[host]})
        # the patient's own connections, to Janus and from the clinician, are the ones it had before its socket
        # went: nothing published afresh, nothing restarted or renewed
        until(patient, SAME_CONNECTIONS, [ids[host]], what="the same connections, connected")
        assert patient.evaluate("() => [window.restarts, window.renewals]") == [0, 0]
        still_in_the_call(host, [patient, companion])


@pytest.mark.browser
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="blocking a path needs root and nft")
def test_a_connection_an_ice_restart_does_not_bring_back_is_renewed(
        browser: Browser, janus: JanusServer, tmp_path: Path) -> None:
    blocked: Blocked | None = None
    with three_through_janus(browser, janus, tmp_path) as (host, patient, companion, ids):
        try:
            blocked = Blocked(patient.evaluate(PORTS, "remote"))  # Janus's end of each of the patient's connections
            flows(host, {ids[companion]})  # the others' media between themselves goes on
            flows(companion, {ids[host]})
            # restarted first (sending, and receiving each), then, not back within seconds, renewed
            patient.wait_for_function("() => window.restarts >= 3 && window.renewals >= 3", timeout=90000)
            flows(patient, {ids[host], ids[companion]})
            flows(host, {ids[patient], ids[companion]})
            flows(companion, {ids[patient], ids[host]})
            assert patient.evaluate("""() => {
              const call = window.visittCall;
              return call.sending !== window.kept.sending
                && [...window.kept.receiving].every(([id, pc]) => call.peers.get(id)?.pc !== pc);
            }""")  # new connections, on new handles at Janus
            still_in_the_call(host, [patient, companion])
        finally:
            if blocked is not None:
                blocked.close()

