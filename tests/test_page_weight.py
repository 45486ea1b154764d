"""What a patient's phone downloads to reach the call, compressed, against the 60 KB budget.

Not timed: the browser's own figure, with every request it makes, is ``bench/page_weight.py``.
Here the resources are found the way a browser finds them - the page's stylesheets and scripts,
then every ES module reachable by static imports - so a new module cannot slip past the budget.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from visitt.web.compression import MINIMUM_SIZE
from visitt.testing import LiveServer

from .peers import book

BUDGET = 60_000  # bytes on the wire, compressed
# `import x from "./a.js"`, `import {a, b} from "./a.js"`, `import "./a.js"`, `export {a} from "./a.js"`;
# not `import("./a.js")` (dynamic, loaded later if at all) and not JSDoc's `{import("./a.js").T}`.
STATIC_IMPORT = re.compile(r'^\s*(?:import|export)\s+(?:[\w*{}\s,$]+?\s+from\s+)?["\']([^"\']+)["\']', re.M)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
LINE_COMMENT = re.compile(r"^\s*//.*$", re.M)


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


def static_imports(source: str) -> list[str]:
    return STATIC_IMPORT.findall(LINE_COMMENT.sub("", BLOCK_COMMENT.sub("", source)))


def fetch(http: httpx.Client, url: str) -> tuple[int, httpx.Response, str]:
    """``(bytes on the wire, response, decoded text)`` for ``url``, asking for gzip as browsers do."""
    with http.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        wire = sum(len(chunk) for chunk in response.iter_raw())
    assert response.status_code == 200, url
    text = http.get(url).text
    return wire, response, text


def test_everything_the_patient_page_loads_fits_in_60_kb_compressed(server: LiveServer) -> None:
    join_url, _ = book(server)
    weights: dict[str, int] = {}
    with httpx.Client() as http:
        wire, _, html = fetch(http, join_url)
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
            if len(text.encode()) >= MINIMUM_SIZE:
                assert response.headers.get("content-encoding") == "gzip", url
    scripts = [url for url in weights if url.endswith(".js")]
    assert any(url.endswith("/patient.js") for url in scripts) and len(scripts) >= 4, weights
    assert any(url.endswith(".css") for url in weights), weights
    total = sum(weights.values())
    assert total <= BUDGET, f"{total} bytes: {weights}"


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
