"""The browser's modules (``static/js``) served without their comments.

The comments are for whoever reads the source; on a patient's phone they are bytes paid for on 4G: gzip of
the 14 modules the patient's page loads is 45.3 KB with them and 23.4 KB without. Comments are found by
tree-sitter's JavaScript grammar, not by patterns: ``//`` in a string, a template literal or a regular
expression is not a comment, and only a parser knows which is which. Everything else is kept byte for byte;
only lines that held nothing but comments go.

:class:`StrippedModules` keeps the stripped copies in a directory of its own and serves them with Starlette's
``StaticFiles`` (``ETag``, ``304 Not Modified`` and ranges as for every static file). Each copy is made again
when its source changes (an edit shows on the next reload, as for the other static files) or is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat as stat_mode
import shutil
import tempfile
import weakref
from functools import lru_cache
from pathlib import Path, PurePosixPath

import tree_sitter_javascript
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from tree_sitter import Language, Node, Parser

log = logging.getLogger("visitt")
JAVASCRIPT = Language(tree_sitter_javascript.language())
BLANK = b" \t\r"  # horizontal space; "\n" ends a line


def comments(root: Node) -> list[Node]:
    """The comment nodes under ``root``, in source order."""
    found: list[Node] = []
    pending = [root]
    while pending:
        node = pending.pop()
        if node.type == "comment":
            found.append(node)
        else:
            pending.extend(reversed(node.children))
    return found


def strip_comments(source: bytes) -> bytes:
    """``source`` without its comments: a line that held only comments goes with its line break; a comment
    after code goes with the space before it; one between two pieces of code leaves a space, or a line
    break where it spanned lines (which matters for automatic semicolons). :class:`SyntaxError` if
    ``source`` does not parse."""
    tree = Parser(JAVASCRIPT).parse(source)
    if tree.root_node.has_error:
        raise SyntaxError("tree-sitter's JavaScript grammar finds an error in it")
    runs: list[tuple[int, int]] = []  # comments with only white space between them, as one
    for node in comments(tree.root_node):
        if runs and not source[runs[-1][1]:node.start_byte].strip():
            runs[-1] = (runs[-1][0], node.end_byte)
        else:
            runs.append((node.start_byte, node.end_byte))
    kept: list[bytes] = []
    position = 0
    for start, end in runs:
        line_start = source.rfind(b"\n", 0, start) + 1
        line_end = source.find(b"\n", end)
        line_end = len(source) if line_end < 0 else line_end
        code_before = bool(source[line_start:start].strip())
        code_after = bool(source[end:line_end].strip())
        gap = b""
        if not code_before and not code_after:  # whole lines
            start, end = line_start, min(line_end + 1, len(source))
        elif code_before and not code_after:  # at the end of a line: up to its line break
            start, end = len(source[:start].rstrip(BLANK)), line_end
        elif not code_before:  # before code on its line: the indentation stays
            end = len(source) - len(source[end:].lstrip(BLANK))
        else:  # between code: white space, as the comment was
            start = len(source[:start].rstrip(BLANK))
            gap = b"\n" if b"\n" in source[start:end] else b" "
            if gap == b" " and (source[end:end + 1].isspace()):
                gap = b""
        kept += [source[position:start], gap]
        position = end
    kept.append(source[position:])
    return b"".join(kept)


@lru_cache(maxsize=256)
def _stripped(path: Path, mtime_ns: int, size: int) -> bytes:
    """The file at ``path`` stripped, once per version of it in a process (the tests make many apps)."""
    source = path.read_bytes()
    try:
        return strip_comments(source)
    except SyntaxError:  # the browser reports the error better than a half-stripped file would
        log.warning("%s does not parse: served with its comments", path.name)
        return source


class StrippedModules:
    """ASGI app for ``/static/js``: the files of ``source``, each ``.js`` without its comments."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.directory = Path(tempfile.mkdtemp(prefix="visitt-js-"))
        weakref.finalize(self, shutil.rmtree, self.directory, ignore_errors=True)
        self.files = StaticFiles(directory=self.directory)
        for path in sorted(source.iterdir()):
            self.refresh(path.name)

    def refresh(self, name: str) -> None:
        """Make the copy of ``name`` if it is missing or older than its source; a name that is not a file
        directly in ``source`` is left to ``StaticFiles`` (a 404)."""
        if PurePosixPath(name).name != name or name in (".", ".."):
            return
        path = self.source / name
        try:
            stat = path.stat()
        except OSError:
            return
        if not stat_mode.S_ISREG(stat.st_mode):
            return
        copy = self.directory / name
        with contextlib.suppress(OSError):
            if copy.stat().st_mtime_ns == stat.st_mtime_ns:
                return
        body = _stripped(path, stat.st_mtime_ns, stat.st_size) if name.endswith(".js") else path.read_bytes()
        partial = copy.with_name(f".{name}.partial")
        partial.write_bytes(body)
        # the source's time: ETag and Last-Modified are the same in every process and on every node
        os.utime(partial, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        partial.replace(copy)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.refresh(self.files.get_path(scope))
        await self.files(scope, receive, send)
