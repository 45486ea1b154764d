"""The technical chat over real sockets: who gets a message, who may send one, what is refused, and
that nothing of it stays on the server."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pytest
import sqlalchemy

from visitt.web import client_text
from visitt import demo
from visitt.live import protocol
from visitt.testing import LiveServer

from .peers import WsClient, run, staff_login
from .test_nationalid import numbers
from .test_signaling import HOST_NAME, consultation

ROOT = Path(__file__).resolve().parent.parent
FNR, SECOND = numbers(2)
D_NUMBER = numbers(1, d_number=True)[0]


def _chats(client: WsClient) -> list[dict[str, object]]:
    return [message for message in client.received if message["type"] == "chat"]


def test_a_message_reaches_everyone_in_the_call_the_sender_included(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            await guest.send({"type": "chat", "text": "  The sound cuts out now and then  "})
            for client in (guest, host):
                message = await client.expect("chat")
                at = dt.datetime.fromisoformat(message.pop("at"))
                assert abs(dt.datetime.now(dt.timezone.utc) - at) < dt.timedelta(seconds=10)
                assert message == {"type": "chat", "from": guest.id, "name": "Kari Nordmann",
                                   "text": "The sound cuts out now and then"}

            await host.send({"type": "chat", "phrase": "turn_on_microphone"})
            for client in (host, guest):
                message = await client.expect("chat")
                assert message["from"] == host.id and message["name"] == HOST_NAME
                assert message["phrase"] == "turn_on_microphone" and "text" not in message

    run(scenario())


def test_every_quick_phrase_goes_through(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            for phrase in protocol.PHRASES:
                await call.guest.send({"type": "chat", "phrase": phrase})
                assert (await call.host.expect("chat"))["phrase"] == phrase

    run(scenario())


def test_only_people_in_the_call_chat(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server, admit=False) as call:
            host, guest = call.host, call.guest
            # The clinician, not yet in any call.
            await host.send({"type": "chat", "text": "hello?"})
            await host.expect_error("not_in_call")

            # In the call now, with the patient still waiting outside: the patient hears nothing and cannot write.
            await host.send({"type": "enter", "room": call.room})
            await host.expect("admitted")
            await host.send({"type": "chat", "phrase": "one_moment"})
            assert (await host.expect("chat"))["phrase"] == "one_moment"
            await guest.send({"type": "chat", "text": "can I come in?"})
            await guest.expect_error("not_in_call")
            await guest.send({"type": "chat", "phrase": "cant_hear"})
            await guest.expect_error("not_in_call")
            await host.sync()
            await guest.sync()
            assert _chats(guest) == []
            assert len(_chats(host)) == 1

            # Admitted, then gone again: only what is said while they are in reaches them.
            await host.send({"type": "admit", "room": call.room, "participant": guest.id})
            await guest.expect("admitted")
            await host.send({"type": "chat", "text": "welcome"})
            assert (await guest.expect("chat"))["text"] == "welcome"
            await guest.send({"type": "leave"})
            await guest.expect("bye")
            await host.expect("left")
            await host.send({"type": "chat", "text": "are you there?"})
            await host.expect("chat")
            await guest.send({"type": "chat", "text": "I left"})
            await guest.expect_error("not_in_call")
            await guest.sync()
            await host.sync()
            assert [message.get("text") for message in _chats(guest)] == ["welcome"]
            assert [message.get("text") for message in _chats(host)] == [None, "welcome", "are you there?"]

    run(scenario())


@pytest.mark.parametrize("text", [
    f"my number is {FNR}",
    f"{FNR[:6]} {FNR[6:]}",
    f"D-nummer {D_NUMBER[:6]}.{D_NUMBER[6:]}, ok?",
    f"{SECOND}",
])
def test_a_national_identity_number_is_refused_and_goes_nowhere(server: LiveServer, text: str) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            host, guest = call.host, call.guest
            for sender in (guest, host):
                await sender.send({"type": "chat", "text": text})
                error = await sender.expect_error("chat_personal_number")
                assert "national identity number" in error["message"]
                assert "D-number" in error["message"]
            await host.sync()
            await guest.sync()
            assert _chats(host) == _chats(guest) == []

    run(scenario())


def test_a_phone_number_is_not_a_national_identity_number(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            # the pages ask before sending these; the server lets them through
            await call.guest.send({"type": "chat", "text": "call me on +47 412 34 567 or 00474123456789"})
            assert "412 34 567" in (await call.host.expect("chat"))["text"]

    run(scenario())


@pytest.mark.parametrize("message", [
    {"type": "chat", "phrase": "call_me"},
    {"type": "chat", "phrase": "CANT_HEAR"},
    {"type": "chat", "phrase": ""},
    {"type": "chat", "phrase": 1},
    {"type": "chat"},
    {"type": "chat", "text": "   "},
    {"type": "chat", "text": ""},
    {"type": "chat", "text": None},
    {"type": "chat", "text": ["a"]},
    {"type": "chat", "text": "both", "phrase": "cant_hear"},
    {"type": "chat", "text": "x" * (protocol.CHAT_MAX + 1)},
])
def test_malformed_chat_messages(server: LiveServer, message: dict[str, object]) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            await call.guest.send(message)
            await call.guest.expect_error("malformed")
            await call.host.sync()
            await call.guest.sync()
            assert _chats(call.host) == _chats(call.guest) == []

    run(scenario())


def test_the_text_limit_is_500_characters(server: LiveServer) -> None:
    async def scenario() -> None:
        async with consultation(server) as call:
            longest = "æ" * protocol.CHAT_MAX  # characters, not bytes
            await call.guest.send({"type": "chat", "text": longest})
            assert (await call.host.expect("chat"))["text"] == longest
            await call.guest.send({"type": "chat", "text": longest + "æ"})
            error = await call.guest.expect_error("malformed")
            assert "text" in error["message"] and longest not in error["message"]

    run(scenario())


def test_nothing_said_in_the_chat_is_stored_or_logged(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    said = "Marker-Q7Z sound is choppy"
    refused = f"Marker-R8W {FNR}"

    async def scenario() -> None:
        async with consultation(server) as call:
            await call.guest.send({"type": "chat", "text": said})
            await call.host.expect("chat")
            await call.guest.send({"type": "chat", "text": refused})
            await call.guest.expect_error("chat_personal_number")
            await call.guest.send({"type": "chat", "text": "Marker-T5X" + "!" * protocol.CHAT_MAX})
            await call.guest.expect_error("malformed")
            await call.host.send({"type": "end", "room": call.room})
            await call.host.expect("ended")

    with caplog.at_level(logging.DEBUG, logger="visitt"):
        run(scenario())

    engine = server.database.engine
    metadata = sqlalchemy.MetaData()
    metadata.reflect(engine)
    scanned = 0
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(table.select()):
                scanned += 1
                stored = " ".join(str(value) for value in row if value is not None)
                for marker in ("Marker-", FNR, said):
                    assert marker not in stored, f"{table.name}: {stored}"
    assert scanned > 5  # the booking, the audit trail, the staff: the scan saw real rows
    for record in caplog.records:
        assert "Marker-" not in record.getMessage() and FNR not in record.getMessage()


def test_the_quick_phrases_are_the_same_everywhere() -> None:
    """The codes are written in protocol.py, protocol.js and docs/protocol.md; each page has a text for each."""
    script = (ROOT / "visitt/static/js/protocol.js").read_text()
    listed = re.search(r"export const PHRASES = \[([^\]]*)\]", script)
    assert listed, "protocol.js exports PHRASES"
    assert tuple(re.findall(r'"([a-z_]+)"', listed.group(1))) == protocol.PHRASES
    docs = (ROOT / "docs/protocol.md").read_text()
    for phrase in protocol.PHRASES:
        assert f"`{phrase}`" in docs
        for table in (client_text.PATIENT, client_text.HOST):
            assert table[f"phrase_{phrase}"]


def test_a_host_who_is_not_the_rooms_host_cannot_chat_there(server: LiveServer) -> None:
    # Another clinician's dashboard has no call; its chat goes nowhere.
    async def scenario() -> None:
        async with consultation(server) as call, \
                await WsClient.staff(server, staff_login(server, demo.PEOPLE[1][0])) as other:
            await other.hello()
            await other.send({"type": "chat", "text": "hi"})
            await other.expect_error("not_in_call")
            await call.host.sync()
            assert _chats(call.host) == []

    run(scenario())
