"""Calls on impaired, filtered and changing networks: Chromium peers in network namespaces
(tests/network.py), Visitt and coturn in the server namespace, asserting on getStats().

One network for the module; each test sets the impairment it needs. The slower cells of the matrix
(and the timing figures that are too sensitive for a loaded test machine) are measured by
``bench/networks.py`` instead; docs/networks.md says which is which.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from visitt.testing import LiveServer

from .browser import call_across
from .conftest import CHROMIUM, CHROMIUM_ARGS, make_settings
from .network import SERVER, TURN_SECRET, Certificate, Network, available, start_coturn

pytestmark = [pytest.mark.browser, pytest.mark.skipif(available() is not None, reason=str(available()))]

# The selected candidate pair of the page's (first) peer connection: its local and remote candidates.
SELECTED = """async () => {
  for (const {pc} of window.visittCall.peers.values()) {
    const stats = await pc.getStats();
    for (const report of stats.values()) {
      if (report.type !== "transport" || !report.selectedCandidatePairId) continue;
      const pair = stats.get(report.selectedCandidatePairId);
      const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
      return {local: local.candidateType, relayProtocol: local.relayProtocol || null, remote: remote.candidateType,
              state: pc.connectionState};
    }
  }
  return null;
}"""


class Site:
    """The module's network with Visitt, coturn and a Chromium on each side."""

    def __init__(self, net: Network, server: LiveServer, base: str, patient: Any, clinic: Any,
                 certificate: Certificate) -> None:
        self.net, self.server, self.base = net, server, base
        self.patient, self.clinic, self.certificate = patient, clinic, certificate


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from playwright.sync_api import sync_playwright

    directory = tmp_path_factory.mktemp("network")
    with Network() as net:
        certificate, turn_urls = start_coturn(net, directory)
        listener = net.listen(net.server, SERVER, 0)
        base = f"http://{SERVER}:{listener.getsockname()[1]}"
        settings = make_settings(directory, turn_secret=TURN_SECRET, turn_urls=tuple(turn_urls), turn_ttl=600,
                                 public_url=base)
        server = LiveServer(settings, extra_listeners=[listener]).start()
        args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={base}",
                f"--ignore-certificate-errors-spki-list={certificate.spki}"]
        try:
            with sync_playwright() as playwright:
                patient = playwright.chromium.launch(executable_path=str(net.chromium(net.patient, directory, CHROMIUM)),
                                                     args=args, headless=True)
                clinic = playwright.chromium.launch(executable_path=str(net.chromium(net.clinic, directory, CHROMIUM)),
                                                    args=args, headless=True)
                try:
                    yield Site(net, server, base, patient, clinic, certificate)
                finally:
                    patient.close()
                    clinic.close()
        finally:
            server.stop()


def test_udp_blocked_at_the_clinic_connects_through_turn_over_tls_on_443(site: Site) -> None:
    site.net.impair(clinic_udp=False)
    with call_across(site.server, site.clinic, site.patient, base=site.base) as (host, patient, seconds):
        clinic_pair = host.evaluate(SELECTED)
        patient_pair = patient.evaluate(SELECTED)
        assert clinic_pair["local"] == "relay" and clinic_pair["relayProtocol"] == "tls", clinic_pair
        assert patient_pair["remote"] == "relay", patient_pair
        print("udp-blocked", clinic_pair, patient_pair, f"{seconds:.2f}")
        assert seconds < 3, f"media {seconds:.1f} s after the admit"
