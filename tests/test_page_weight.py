"""What a patient's phone downloads to reach the call, compressed, against the 60 KB budget, in each language.

Not timed: the browser's own figure, with every request it makes, is ``bench/page_weight.py``.
Here the resources are found the way a browser finds them - the page's stylesheets, scripts,
preloads and fonts, then every ES module reachable by static imports - so a new module or a font
cannot slip past the budget.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from visitt.web import i18n
from visitt.web.compression import MINIMUM_SIZE
from visitt.web.modules import static_imports
from visitt.testing import LiveServer

from .peers import book

BUDGET = 60_000  # bytes on the wire, compressed
FONT = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")  # what a stylesheet makes the browser download


class Subresources(HTMLParser):
    """The URLs a page makes the browser fetch at once: stylesheets, scripts, preloads, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        rel = (attr.get("rel") or "").split()
        if tag == "link" and {"stylesheet", "modulepreload", "preload", "icon"} & set(rel) and attr.get("href"):
            self.urls.append(str(attr["href"]))
        elif tag in ("script", "img") and attr.get("src"):
            self.urls.append(str(attr["src"]))


def fetch(http: httpx.Client, url: str) -> tuple[int, httpx.Response, str]:
    """``(bytes on the wire, response, decoded text)`` for ``url``, asking for gzip as browsers do."""
    with http.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        wire = sum(len(chunk) for chunk in response.iter_raw())
    assert response.status_code == 200, url
    text = http.get(url).text
    return wire, response, text


def weigh(join_url: str, language: str) -> dict[str, int]:
    """Bytes on the wire of the patient's page in ``language`` and of everything it makes the browser load."""
    weights: dict[str, int] = {}
    with httpx.Client() as http:
        wire, _, html = fetch(http, f"{join_url}?lang={language}")
        assert f'lang="{language}"' in html
        weights["page"] = wire
        parser = Subresources()
        parser.feed(html)
        pending = [urljoin(join_url, url) for url in parser.urls]
        while pending:
            url = pending.pop()
            if url in weights or url.startswith("data:"):
                continue
            wire, response, text = fetch(http, url)
            weights[url] = wire
            if url.endswith(".js"):
                pending += [urljoin(url, target) for target in static_imports(text)]
            if url.endswith(".css"):  # fonts and images; `local(...)` fonts are the phone's own, not downloaded
                pending += [urljoin(url, target) for target in FONT.findall(text) if not target.startswith("data:")]
            if len(text.encode()) >= MINIMUM_SIZE:
                assert response.headers.get("content-encoding") == "gzip", url
    return weights


def test_everything_the_patient_page_loads_fits_in_60_kb_compressed_in_every_language(server: LiveServer) -> None:
    join_url, _ = book(server)
    totals = {}
    for language in i18n.LANGUAGES:
        weights = weigh(join_url, language)
        scripts = [url for url in weights if url.endswith(".js")]
        assert any(url.endswith("/patient.js") for url in scripts) and len(scripts) >= 4, weights
        assert any(url.endswith(".css") for url in weights), weights
        totals[language] = sum(weights.values())
    print("bytes on the wire by language:", totals)
    assert max(totals.values()) <= BUDGET, totals


def test_static_imports_are_found_and_comments_and_dynamic_imports_are_not() -> None:
    source = '''/** @typedef {import("./types.js").T} T */
import { Call } from "./call.js";
import {
  classify,
  openMedia,
} from "./devices.js";
import "./side-effect.js";
import * as tiles from './tiles.js';
export { Signaling } from "./protocol.js";
// import { old } from "./old.js";
const later = () => import("./lazy.js");
'''
    assert static_imports(source) == ["./call.js", "./devices.js", "./side-effect.js", "./tiles.js", "./protocol.js"]


def test_the_patient_page_asks_for_all_its_modules_at_once(server: LiveServer) -> None:
    """Every module the page runs is named in a ``modulepreload`` in the page's head: the browser asks for
    them all while the page arrives, instead of one level of imports per round trip."""
    join_url, _ = book(server)
    html = httpx.get(join_url).text
    head = html[:html.index("</head>")]
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', head))
    reachable: set[str] = set()
    pending = ["/static/js/patient.js"]
    with httpx.Client(base_url=server.url) as http:
        while pending:
            url = pending.pop()
            if url not in reachable:
                reachable.add(url)
                pending += [urljoin(url, target) for target in static_imports(http.get(url).text)]
    assert preloaded == reachable
