"""The browser's modules go out without their comments, and otherwise as written (visitt/web/stripped_js.py)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
from tree_sitter import Node, Parser
from starlette.applications import Starlette
from starlette.routing import Mount

from visitt.app import create_app
from visitt.web.stripped_js import JAVASCRIPT, StrippedModules, comments, strip_comments

from .conftest import make_settings

MODULES = Path(__file__).resolve().parent.parent / "visitt" / "static" / "js"


def tokens(source: bytes) -> list[tuple[str, bytes, bool]]:
    """The leaves of ``source``'s syntax tree but comments: its tokens, each with whether a line break comes
    between it and the one before (in a comment too), on which automatic semicolons depend."""
    found: list[tuple[str, bytes, bool]] = []
    pending: list[Node] = [Parser(JAVASCRIPT).parse(source).root_node]
    end = 0
    while pending:
        node = pending.pop()
        if node.type == "comment":
            continue
        if node.child_count == 0:
            line_break = bool(found) and b"\n" in source[end:node.start_byte]
            found.append((node.type, source[node.start_byte:node.end_byte], line_break))
            end = node.end_byte
        pending.extend(reversed(node.children))
    return found


def parses(source: bytes) -> bool:
    """Without an ERROR or MISSING node anywhere in the tree."""
    return not Parser(JAVASCRIPT).parse(source).root_node.has_error


def get(app: Starlette, *paths: str, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://visitt") as client:
            return [await client.get(path, headers=headers) for path in paths]
    return asyncio.run(send())


def test_every_module_the_app_serves_has_no_comment_left_and_the_same_code(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    names = sorted(path.name for path in MODULES.glob("*.js"))
    assert "patient.js" in names and "e2ee_worker.js" in names
    served = get(app, *(f"/static/js/{name}" for name in names))
    app.state.database.dispose()
    for name, response in zip(names, served):
        source = (MODULES / name).read_bytes()
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/javascript"), name
        assert parses(response.content), name
        assert comments(Parser(JAVASCRIPT).parse(response.content).root_node) == [], name
        assert tokens(response.content) == tokens(source), name
        assert len(response.content) < len(source), name


def test_modern_syntax_keeps_what_only_looks_like_a_comment() -> None:
    source = b'''/**
 * @param {string} a  JSDoc, a whole-line comment
 */
class A { #p = 1; static #q; get p() { return this.#p?.x ?? 0; } #m() {} }  // after code
const url = "http://example/*not*/";
const t = `a ${`b ${c + `/* not */`} // not`} e`;
const r = /\\/\\*[^*]*\\//g; /* block */ const y = a / b / c;
  // indented, alone
const sum = a/**/+b, minus = a -/**/-b;
function f() {
  return /* a line
  break */ x;
}
'''
    stripped = strip_comments(source)
    assert stripped == b'''class A { #p = 1; static #q; get p() { return this.#p?.x ?? 0; } #m() {} }
const url = "http://example/*not*/";
const t = `a ${`b ${c + `/* not */`} // not`} e`;
const r = /\\/\\*[^*]*\\//g; const y = a / b / c;
const sum = a +b, minus = a - -b;
function f() {
  return
 x;
}
'''
    assert parses(stripped) and tokens(stripped) == tokens(source)


def test_an_edited_module_is_stripped_again_and_a_missing_copy_made_again(tmp_path: Path) -> None:
    source = tmp_path / "js"
    source.mkdir()
    module = source / "a.js"
    module.write_text("// the first\nexport const a = 1;\n")
    modules = StrippedModules(source)
    app = Starlette(routes=[Mount("/static/js", modules)])
    first, = get(app, "/static/js/a.js")
    assert first.text == "export const a = 1;\n"
    module.write_text("// the second\nexport const a = 2;\n")
    os.utime(module, ns=(0, module.stat().st_mtime_ns + 1_000_000))
    second, = get(app, "/static/js/a.js")
    assert second.text == "export const a = 2;\n" and second.headers["etag"] != first.headers["etag"]
    (modules.directory / "a.js").unlink()  # as a cleaner of old temporary files would
    again, = get(app, "/static/js/a.js", headers={"If-None-Match": second.headers["etag"]})
    assert again.status_code == 304
    assert [response.status_code for response in get(app, "/static/js/../js/a.js", "/static/js/b.js")] == [200, 404]


def test_a_module_that_does_not_parse_is_served_as_written(tmp_path: Path) -> None:
    source = tmp_path / "js"
    source.mkdir()
    (source / "broken.js").write_text("// a comment\nconst = ;\n")
    app = Starlette(routes=[Mount("/static/js", StrippedModules(source))])
    answer, = get(app, "/static/js/broken.js")
    assert answer.text == "// a comment\nconst = ;\n"
