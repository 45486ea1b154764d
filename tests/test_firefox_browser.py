"""A patient in Firefox: the lobby's device check, and a call with a clinician in Chromium (knock, admit,
picture and sound both ways, the quality rating and sound only, chat, a dropped socket, the device panel,
leave).

Debian's Firefox ESR, headless, driven by the same Playwright API over WebDriver BiDi, with Firefox's
own fake camera and microphone. Firefox plays Web Audio (the lobby's level meter) only through a sound
server: the module starts a private PulseAudio with a null sink, and stops it afterwards. One Firefox
for the module; the clinician is the usual Chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from visitt.testing import LiveServer

from .browser import DESK, picture_grows, sign_in, wait_for_media
from .conftest import CHROMIUM, CHROMIUM_ARGS, make_settings
from .eventually import eventually
from .peers import book
from .test_quality_browser import POOR, growth

pytestmark = pytest.mark.browser

FIREFOX = os.environ.get("VISITT_TEST_FIREFOX", "/usr/bin/firefox-esr")
FIREFOX_PREFS = {
    "media.navigator.streams.fake": True,  # Firefox's own test camera and microphone
    "media.navigator.permission.disabled": True,  # no prompt to answer
    "media.autoplay.default": 0,  # the others' sound plays without a click
    "media.autoplay.block-webaudio": False,  # so does the level meter
}
# Firefox has no `is_mobile` emulation: a phone-sized window is what it gets.
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "en-US"}
MESSAGES = "#chat .chat-messages li"
LEVEL = "() => Number(document.querySelector('#level').value)"


def firefox_missing() -> str:
    """Why the tests cannot drive Firefox here, or ""."""
    from importlib.metadata import version

    if not Path(FIREFOX).exists():
        return f"Firefox ESR is missing at {FIREFOX}: apt-get install -y firefox-esr (make system-packages)"
    installed = tuple(int(part) for part in version("playwright").split(".")[:2])
    if not (1, 58) <= installed < (1, 65):
        # 1.65 sends a WebDriver BiDi command that Firefox ESR 153 does not know (pyproject.toml's range)
        return f"Playwright {version('playwright')} cannot drive Firefox ESR 153: install playwright>=1.58,<1.65"
    return ""


@pytest.fixture(scope="module")
def pulse() -> Iterator[dict[str, str]]:
    """A private PulseAudio with one null sink, for this module only: the variables that lead Firefox
    to it. Works as root too (the daemon warns, and serves)."""
    daemon = shutil.which("pulseaudio")
    if not daemon:
        pytest.skip("PulseAudio is missing (Firefox's level meter needs a sound server): apt-get install -y pulseaudio")
    runtime = Path(tempfile.mkdtemp(prefix="visitt-pulse-"))
    socket = runtime / "native"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    process = subprocess.Popen(
        [daemon, "--daemon=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no", "--disallow-exit",
         "--load=module-null-sink sink_name=visitt", f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        eventually(lambda: socket.exists() or process.poll() is not None, "PulseAudio opens its socket")
        if process.poll() is not None:
            pytest.fail(f"PulseAudio did not start: {process.stderr.read().decode() if process.stderr else ''}")
        yield {"PULSE_SERVER": f"unix:{socket}", "XDG_RUNTIME_DIR": str(runtime)}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server that keeps a patient's place for a while after their socket drops (the reconnect)."""
    live = LiveServer(make_settings(tmp_path, reconnect_grace=30.0)).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """One Playwright for both browsers of the module (the sync API allows one at a time per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    """The clinician's Chromium, as in tests/conftest.py, from this module's Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def firefox(playwright: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Debian's Firefox ESR, headless, with fake devices, launched as docs/browsers.md says."""
    if reason := firefox_missing():
        pytest.skip(reason)
    pulse: dict[str, str] = request.getfixturevalue("pulse")  # only once Firefox can run at all
    instance = playwright.firefox.launch(channel="moz-firefox", executable_path=FIREFOX, headless=True,
                                         env={**os.environ, **pulse}, firefox_user_prefs=FIREFOX_PREFS)
    yield instance
    instance.close()


def _in_use(kind: str) -> str:
    return f"() => document.querySelector('#preview').srcObject?.get{kind}Tracks()[0]?.label || ''"


def test_lobby_device_check_in_firefox(server: LiveServer, firefox: Any) -> None:
    context = firefox.new_context(**PHONE)
    try:
        page = context.new_page()
        join_url, _token = book(server)
        page.goto(join_url)

        # The camera preview shows a picture, and the level meter follows the microphone.
        page.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        page.wait_for_function(f"() => ({LEVEL})() > 0")
        first = page.evaluate(LEVEL)
        page.wait_for_function(f"(first) => ({LEVEL})() !== first", arg=first)
        expect(page.locator("#device-help")).to_be_hidden()

        # The pickers list Firefox's devices; choosing one opens it afresh (Firefox's fake devices are one
        # camera and one microphone, so the choice is the same device, opened again).
        page.get_by_text("Choose camera and microphone").click()
        for kind, picker in (("Video", "#camera"), ("Audio", "#microphone")):
            expect(page.locator(f"{picker} option:checked")).to_have_text(page.evaluate(_in_use(kind)))
            before = page.evaluate(f"() => document.querySelector('#preview').srcObject.get{kind}Tracks()[0].id")
            page.locator(picker).select_option(index=0)
            page.wait_for_function(
                f"(before) => document.querySelector('#preview').srcObject?.get{kind}Tracks()[0]?.id !== before",
                arg=before)
        page.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        page.wait_for_function(f"() => ({LEVEL})() > 0")
        expect(page.locator("#device-help")).to_be_hidden()
    finally:
        context.close()


def _chat(page: Page, text: str) -> None:
    page.locator("#chat-text").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def test_firefox_patient_and_chromium_clinician(server: LiveServer, browser: Any, firefox: Any) -> None:
    clinic = browser.new_context(**DESK)
    phone = firefox.new_context(**PHONE)
    try:
        host = clinic.new_page()
        sign_in(host, server.url)
        join_url, _token = book(server, "Kari Nordmann")

        # The patient knocks from Firefox; the clinician admits.
        patient = phone.new_page()
        patient.goto(join_url)
        patient.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")
        patient.get_by_label("Your full name").fill("Kari Nordmann")
        patient.get_by_role("button", name="Join").click()
        expect(patient.get_by_role("status").filter(has_text="has been notified")).to_be_visible()
        host.locator("#waiting li", has_text="Kari Nordmann").get_by_role("button", name="Admit").click()

        # Picture and sound both ways, and the picture keeps coming.
        host_stats = wait_for_media(host)
        patient_stats = wait_for_media(patient)
        assert host_stats["peers"] == patient_stats["peers"] == 1
        assert picture_grows(host), "the clinician's picture of the Firefox patient stalls"
        assert picture_grows(patient), "the Firefox patient's picture of the clinician stalls"
        audio = patient.evaluate("() => document.querySelector('#tiles figure:not(.self) video')?.paused")
        assert audio is False, "the clinician's video and sound do not play in Firefox"

        # Firefox's own statistics rate the connection; sound only, when the patient chooses it on a poor
        # line (poor figures fed to the classifier, as in tests/test_quality_browser.py), stops the
        # picture reaching the clinician while the sound goes on, and the picture comes back.
        expect(patient.locator("#tiles .tile:not(.self)").get_by_role("img", name="Connection: good")) \
            .to_be_visible(timeout=15_000)
        patient.evaluate("() => window.visittQuality.stop()")
        clinician = patient.evaluate("() => [...window.visittCall.peers.keys()][0]")
        for _sample in range(3):
            patient.evaluate(f"() => window.visittQuality.ingest({clinician!r}, {POOR})")
        audio_only = patient.get_by_role("button", name="Audio only")
        audio_only.click()
        expect(audio_only).to_have_attribute("aria-pressed", "true")
        # Firefox keeps a sender without a track alive with one black frame a second (Chromium sends none):
        # no picture, a few hundred bytes; the camera's 2 s would be some 60 frames.
        stopped = eventually(lambda: (lambda seen: seen if seen["video"] <= 4 else None)(growth(host)),
                             "no picture from Firefox reaches the clinician", timeout=15)
        assert stopped["audio"] > 0, stopped
        audio_only.click()
        eventually(lambda: growth(host)["video"] > 0, "the picture from Firefox reaches the clinician again", timeout=15)

        # The chat, both ways.
        patient.locator("#chat > summary").click()
        _chat(patient, "Hello from Firefox")
        expect(host.locator(MESSAGES, has_text="Hello from Firefox")).to_contain_text("Kari Nordmann")
        _chat(host, "Hello from Chromium")
        expect(patient.locator(MESSAGES, has_text="Hello from Chromium")).to_be_visible()

        # The server drops the patient's socket: Firefox reconnects by itself, without knocking again.
        (socket,) = [c for c in server.app.state.connections.open if c.role == "patient"]
        server.call(socket.websocket.close(4000))
        eventually(lambda: [c for c in server.app.state.connections.open if c.role == "patient" and c is not socket],
                   "the Firefox patient's page opens a new socket", timeout=15)
        expect(patient.locator("#call-status")).to_have_text("In consultation", timeout=15_000)
        assert picture_grows(patient) and picture_grows(host)
        expect(host.locator("#waiting li")).to_have_count(0)

        # The device panel in the call lists Firefox's camera and microphone.
        patient.get_by_role("button", name="Devices").click()
        expect(patient.locator("#call-camera option")).not_to_have_count(0)
        expect(patient.locator("#call-microphone option")).not_to_have_count(0)
        # Firefox can choose the loudspeaker (setSinkId): PulseAudio's null sink is one, and the others'
        # sound goes to it when chosen.
        expect(patient.get_by_label("Speaker")).to_be_visible()
        speaker = patient.locator("#call-speaker option", has_text="Null Output")
        patient.get_by_label("Speaker").select_option(label="Null Output")
        patient.wait_for_function("(id) => document.querySelector('#tiles figure:not(.self) video').sinkId === id",
                                  arg=speaker.get_attribute("value"))
        patient.get_by_role("button", name="Devices").click()

        # The patient leaves; the clinician sees it.
        patient.get_by_role("button", name="Leave").click()
        expect(patient.get_by_text("You have left the consultation")).to_be_visible()
        expect(host.get_by_text("Kari Nordmann left the consultation.")).to_be_visible()
    finally:
        clinic.close()
        phone.close()
