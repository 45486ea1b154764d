"""The ES modules a page runs, found from its entry module's static imports, for ``<link rel=modulepreload>``.

Without the hints a browser finds the modules one level of imports at a time: the page names
``patient.js``, which names ``call.js``, which ... - a round trip per level, 150 ms each on a slow
phone network. With them every module is asked for at once, while the page itself is still arriving.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path, PurePosixPath

STATIC = Path(__file__).parent.parent / "static"
# `import x from "./a.js"`, `import {a, b} from "./a.js"`, `import "./a.js"`, `export {a} from "./a.js"`;
# not `import("./a.js")` (dynamic: loaded later if at all) and not JSDoc's `{import("./a.js").T}`.
STATIC_IMPORT = re.compile(r'^\s*(?:import|export)\s+(?:[\w*{}\s,$]+?\s+from\s+)?["\']([^"\']+)["\']', re.M)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
LINE_COMMENT = re.compile(r"^\s*//.*$", re.M)


def static_imports(source: str) -> list[str]:
    """The specifiers a module imports statically, in order."""
    return STATIC_IMPORT.findall(LINE_COMMENT.sub("", BLOCK_COMMENT.sub("", source)))


@lru_cache(maxsize=None)
def preloads(entry: str) -> tuple[str, ...]:
    """``/static/...`` URLs of ``entry`` (a path under the static folder, e.g. ``js/patient.js``) and every
    module it reaches by static imports, entry first. Read once per process: the files ship with it."""
    found: list[str] = []
    pending = [PurePosixPath(entry)]
    while pending:
        path = pending.pop(0)
        if str(path) in found:
            continue
        found.append(str(path))
        source = (STATIC / path).read_text(encoding="utf-8")
        for target in static_imports(source):
            if target.startswith("."):  # the page's own modules; nothing else is imported
                pending.append(PurePosixPath(*_normalise(path.parent / target)))
    return tuple(f"/static/{path}" for path in found)


def _normalise(path: PurePosixPath) -> list[str]:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return parts
