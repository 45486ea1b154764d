"""The protocol is written in three places - the prose (docs/protocol.md), the server's message models
(visitt/live/protocol.py) and the browser's JSDoc typedefs (static/js/protocol.js) - and they must agree: every
message in each direction, with the same fields, in all three. A field added to a model and not to the
docs, or a message the docs describe and the server never sends, fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from visitt.live import protocol

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "protocol.md").read_text()
JSDOC = (ROOT / "visitt" / "static" / "js" / "protocol.js").read_text()
DESCRIPTION = set(get_args(protocol.Description.model_fields["type"].annotation))


def wire_fields(model: type[BaseModel]) -> set[str]:
    """The fields of a message on the wire (by their wire names), ``type`` left out."""
    return {(field.serialization_alias or name) for name, field in model.model_fields.items() if name != "type"}


def server_models() -> dict[str, set[str]]:
    return {get_args(model.model_fields["type"].annotation)[0]: wire_fields(model) for model in protocol.SERVER_MESSAGES}


def client_models() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for model in get_args(get_args(protocol.ClientMessage)[0]):
        for type_ in get_args(model.model_fields["type"].annotation):
            found[type_] = wire_fields(model)
    return found


def _split_top(text: str, separators: str) -> list[str]:
    """``text`` split at ``separators`` that stand outside brackets and quotes."""
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "{[(<":
            depth += 1
        elif not quoted and char in "}])>":
            depth -= 1
        if not quoted and depth == 0 and char in separators:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _object_fields(literal: str) -> tuple[list[str], set[str]]:
    """``{type: "a" | "b", x: T, y?: U}`` → (["a", "b"], {"x", "y"})."""
    types: list[str] = []
    fields: set[str] = set()
    for entry in _split_top(literal.strip()[1:-1], ","):
        key, _, value = entry.partition(":")
        key = key.strip().rstrip("?")
        if key == "type":
            types = re.findall(r'"([a-z_]+)"', value)
        else:
            fields.add(key)
    return types, fields


def jsdoc_typedefs() -> dict[str, str]:
    """Every ``@typedef {T} Name`` of protocol.js: Name → T."""
    found: dict[str, str] = {}
    for line in JSDOC.splitlines():
        match = re.search(r"@typedef \{(.*)\} (\w+)", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def jsdoc_messages(union: str) -> dict[str, set[str]]:
    """The messages of one direction: the members of protocol.js's ``ClientMessage`` or ``ServerMessage``."""
    typedefs = jsdoc_typedefs()
    found: dict[str, set[str]] = {}
    for member in _split_top(typedefs[union], "|"):
        for alternative in _split_top(typedefs[member], "|"):
            fields: set[str] = set()
            types: list[str] = []
            for piece in _split_top(alternative, "&"):
                if piece.startswith("{"):
                    piece_types, piece_fields = _object_fields(piece)
                    types += piece_types
                    fields |= piece_fields
                else:  # {type: "paused"} & PauseInfo
                    fields |= _object_fields(typedefs[piece])[1]
            for type_ in types:
                found[type_] = found.get(type_, set()) | fields
    return found


def docs_server_table() -> dict[str, set[str]]:
    section = DOCS[DOCS.index("### Server to client"):DOCS.index("## Errors")]
    found: dict[str, set[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\| `([a-z_]+)`\s*\|((?:[^|\\]|\\.)*)\|", line)  # a cell may hold an escaped \|
        if match and match.group(1) != "Message":
            cell = match.group(2)
            names = re.findall(r"`([a-z_]+)\??(?:[:`])", cell)
            found[match.group(1)] = set(names)
    return found


def docs_client_messages() -> dict[str, set[str]]:
    section = DOCS[DOCS.index("### Client to server"):DOCS.index("### Server to client")]
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"`(\{type: [^`]*\})`", section):
        types, fields = _object_fields(match.group(1))
        for type_ in set(types) - DESCRIPTION:  # a signal's description: a shape, not a message
            found[type_] = found.get(type_, set()) | fields
    return found


def _same(where: str, documented: dict[str, set[str]], models: dict[str, set[str]]) -> list[str]:
    problems = [f"{where}: {name} is not documented" for name in models.keys() - documented.keys()]
    problems += [f"{where}: {name} is documented but not a message" for name in documented.keys() - models.keys()]
    for name in models.keys() & documented.keys():
        if documented[name] != models[name]:
            problems.append(f"{where}: {name} has {sorted(documented[name])}, the model {sorted(models[name])}")
    return problems


def test_the_docs_table_of_server_messages_matches_the_models() -> None:
    assert _same("docs/protocol.md", docs_server_table(), server_models()) == []


def test_the_docs_client_messages_match_the_models() -> None:
    assert _same("docs/protocol.md", docs_client_messages(), client_models()) == []


def test_the_jsdoc_typedefs_match_the_models() -> None:
    problems = _same("protocol.js server", jsdoc_messages("ServerMessage"), server_models())
    problems += _same("protocol.js client", jsdoc_messages("ClientMessage"), client_models())
    assert problems == []


def test_a_drift_is_found() -> None:
    """The check itself: a field the docs lack, and a message only the docs have, are both reported."""
    models: dict[str, Any] = {"waiting": {"key"}}
    assert _same("x", {"waiting": set(), "gone": set()}, models) == [
        "x: gone is documented but not a message", "x: waiting has [], the model ['key']"]
