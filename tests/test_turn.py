"""TURN: time-limited credentials handed only to admitted participants, and a real call relayed by coturn."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from visitt.live import turn
from visitt.testing import LiveServer

from .browser import call_between, until
from .conftest import make_settings
from .peers import run
from .test_signaling import consultation
from .turnserver import SECRET, Coturn



def test_credential_follows_the_turn_rest_scheme() -> None:
    credential = turn.credential("north", "u", 3600, now=1000)
    assert credential.username == "4600:u" and credential.expires == 4600
    assert credential.password == "5tfGkexJejCsDYmjmAnWpIgNc+4="  # base64(HMAC-SHA1("north", "4600:u"))
    expected = base64.b64encode(hmac.new(b"north", b"4600:u", hashlib.sha1).digest()).decode()
    assert credential.password == expected


def test_coturn_config_denies_private_peers_unless_told_otherwise(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, turn_secret=SECRET)
    production = turn.coturn_config(settings)
    assert f"static-auth-secret={SECRET}" in production and "use-auth-secret" in production
    assert "denied-peer-ip=10.0.0.0-10.255.255.255" in production
    assert "denied-peer-ip=127.0.0.0-127.255.255.255" in production and "no-loopback-peers" in production
    assert "tls-listening-port=443" in production
    for_tests = turn.coturn_config(settings, allow_loopback=True)
    assert "allow-loopback-peers" in for_tests and "denied-peer-ip=127.0.0.0-127.255.255.255" not in for_tests
    with pytest.raises(ValueError, match="VISITT_TURN_SECRET"):
        turn.coturn_config(make_settings(tmp_path))


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    """coturn from Debian on a loopback port, configured by `visitt turn-config --allow-loopback`."""
    server = Coturn(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def relay_server(tmp_path: Path, coturn: Coturn) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, turn_secret=SECRET, turn_urls=(coturn.url,),
                             ice_transport_policy="relay", turn_ttl=600)
    live = LiveServer(settings).start()
    yield live
    live.stop()


def test_credentials_go_only_to_admitted_participants(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, turn_secret=SECRET, turn_urls=("turn:turn.example.no:3478",))
    server = LiveServer(settings).start()
    try:
        async def scenario() -> None:
            async with consultation(server, admit=False) as call:
                host, guest = call.host, call.guest
                assert "turn.example.no" not in str(guest.received)  # nothing while waiting
                await host.send({"type": "admit", "room": call.room, "participant": guest.id})
                admitted = await guest.expect("admitted")
                (server_entry,) = admitted["ice"]["iceServers"]
                assert server_entry["urls"] == ["turn:turn.example.no:3478"]
                expiry, user = server_entry["username"].split(":")
                assert user == guest.id and 0 < int(expiry) - time.time() <= settings.turn_ttl
                host_ice = (await host.expect("admitted"))["ice"]["iceServers"][0]
                assert host_ice["username"].endswith(":" + host.id)

        run(scenario())
    finally:
        server.stop()


SELECTED_PAIR = """async () => {
  for (const {pc} of window.visittCall.peers.values()) {
    const stats = await pc.getStats();
    for (const report of stats.values()) {
      if (report.type === "candidate-pair" && report.nominated && report.state === "succeeded") {
        return stats.get(report.localCandidateId).candidateType;
      }
    }
  }
  return null;
}"""


@pytest.mark.browser
def test_a_call_relayed_through_coturn(relay_server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    with call_between(relay_server, browser) as (host, patient):
        for page in (host, patient):  # a connection renewed meanwhile has a selected pair again soon
            until(page, f"() => ({SELECTED_PAIR})().then((type) => type !== null)", what="a selected candidate pair",
                  timeout=20)
        assert host.evaluate(SELECTED_PAIR) == "relay"
        assert patient.evaluate(SELECTED_PAIR) == "relay"
        expect(host.get_by_role("button", name="End consultation")).to_be_visible()


def test_coturn_config_takes_a_certificate_and_allowed_test_peers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, turn_secret=SECRET)
    production = turn.coturn_config(settings)
    assert "# cert=" in production and "allowed-peer-ip" not in production
    configured = turn.coturn_config(settings, cert="/etc/coturn/turn.pem", pkey="/etc/coturn/turn.key",
                                    allowed_peers=("10.201.0.0-10.201.255.255",))
    assert "\ncert=/etc/coturn/turn.pem\n" in configured and "\npkey=/etc/coturn/turn.key\n" in configured
    assert "allowed-peer-ip=10.201.0.0-10.201.255.255" in configured
    assert "denied-peer-ip=10.0.0.0-10.255.255.255" in configured  # the rest of 10/8 stays denied
