"""The help page's screenshots: Visitt itself on a 360 × 640 phone, in every language.

    python bench/help_screenshots.py [--languages nb,ar]

Starts Visitt on a loopback port (SQLite) and, for each language, books an appointment and walks a
patient through it in Debian's Chromium with fake camera and microphone, while a clinician at a desk
lets them in and ends the consultation: the lobby with the name typed, the waiting room, the call and
the end. Each state is written to ``visitt/static/help/<lang>-<step>.webp``, encoded by Chromium
itself (WebP, no image library needed) and kept small: the help page lazy-loads them at 180 × 320.
Run it again after a change to those pages' looks.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import DESK, sign_in, wait_for_media  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, make_settings  # noqa: E402
from tests.peers import book  # noqa: E402
from visitt import i18n  # noqa: E402
from visitt.testing import LiveServer  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "visitt" / "static" / "help"
PHONE = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True, "device_scale_factor": 1}
QUALITY = 0.5
# Chromium's own encoder: PNG in, WebP out (base64 both ways), on a page with no content policy.
TO_WEBP = """async ([png, quality]) => {
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], {type: "image/png"}));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  const webp = new Uint8Array(await (await canvas.convertToBlob({type: "image/webp", quality})).arrayBuffer());
  let text = "";
  for (const byte of webp) text += String.fromCharCode(byte);
  return btoa(text);
}"""


def save(encoder: Page, page: Page, name: str, *, top: bool = True) -> int:
    """``page`` as it looks now, scrolled to the top unless ``top`` is false, as ``static/help/<name>``."""
    if top:
        page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    png = page.screenshot()
    webp = base64.b64decode(encoder.evaluate(TO_WEBP, [base64.b64encode(png).decode(), QUALITY]))
    (OUT / name).write_bytes(webp)
    return len(webp)


def one_language(server: LiveServer, browser: Browser, host: Page, encoder: Page, language: str) -> None:
    join_url, _ = book(server, "Kari Nordmann")
    context = browser.new_context(**PHONE, locale=language)
    try:
        patient = context.new_page()
        patient.goto(f"{join_url}?lang={language}")
        patient.locator("#name").fill("Kari Nordmann")
        patient.wait_for_function("() => document.querySelector('#preview').readyState >= 2")
        sizes = {"lobby": save(encoder, patient, f"{language}-lobby.webp")}
        patient.locator("#join").click()
        expect(patient.locator("#knock-form")).to_be_hidden()
        expect(patient.locator("#status")).not_to_be_empty()
        sizes["waiting"] = save(encoder, patient, f"{language}-waiting.webp", top=False)  # the message in view
        host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit").click()
        wait_for_media(patient)
        patient.wait_for_timeout(1500)  # a few frames painted, not the first grey one
        sizes["call"] = save(encoder, patient, f"{language}-call.webp")
        host.locator("#end").click()
        expect(patient.locator("#done")).to_be_visible()
        sizes["ended"] = save(encoder, patient, f"{language}-ended.webp")
        print(language, " ".join(f"{step} {size / 1000:.1f} KB" for step, size in sizes.items()))
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default=",".join(i18n.LANGUAGES))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, sync_playwright() as playwright:
        server = LiveServer(make_settings(Path(data))).start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            encoder = browser.new_page()
            host = browser.new_context(**DESK).new_page()
            sign_in(host, server.url)
            for language in args.languages.split(","):
                one_language(server, browser, host, encoder, language)
        finally:
            browser.close()
            server.stop()


if __name__ == "__main__":
    main()
