"""Visitt's Janus client against a real Janus (Debian's), configured by ``visitt janus-config``:
Janus answers no one without the API secret, rooms are created only with the admin key, a
participant joins only with a token Visitt allowed, and a kick is felt within a second. A session Janus lost
(it restarted, or it is down) is noticed within seconds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from visitt import cli
from visitt.errors import MediaServerUnavailable
from visitt.live.janus import Janus, JanusError, VideoRoomAdmin
from visitt.live.janus_config import admin_key, janus_files
from visitt.settings import Settings

from .janus import SECRET, JanusServer, free_port
from .peers import run

UNAUTHORIZED = 403  # JANUS_ERROR_UNAUTHORIZED
ROOM_UNAUTHORIZED = 433  # JANUS_VIDEOROOM_ERROR_UNAUTHORIZED
MISSING = 429  # JANUS_VIDEOROOM_ERROR_MISSING_ELEMENT


def test_the_configuration_locks_janus_to_visitt(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, janus_api_secret="s3cret", turn_secret="t",
                        turn_urls=("turns:turn.example:443?transport=tcp", "turn:turn.example:3478?transport=udp"))
    files = janus_files(settings, port=18088, address="127.0.0.1")
    main, http, videoroom = (files["janus.jcfg"], files["janus.transport.http.jcfg"],
                             files["janus.plugin.videoroom.jcfg"])
    assert 'api_secret = "s3cret"' in main and "admin_secret =" not in main
    assert 'turn_server = "turn.example"' in main and "turn_port = 3478" in main and 'turn_type = "udp"' in main
    assert "libjanus_websockets.so" in main and "libjanus_streaming.so" in main  # unused ways in: disabled
    assert 'ip = "127.0.0.1"' in http and "port = 18088" in http and "admin_http = false" in http
    assert f'admin_key = "{admin_key("s3cret")}"' in videoroom and "room-" not in videoroom
    with pytest.raises(ValueError, match="VISITT_JANUS_API_SECRET"):
        janus_files(Settings(data_dir=tmp_path))


def test_the_command_writes_the_directory_and_refuses_without_a_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VISITT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VISITT_JANUS_API_SECRET", "")
    with pytest.raises(SystemExit) as refused:
        cli.main(["janus-config", str(tmp_path / "j")])
    assert refused.value.code == 2 and "VISITT_JANUS_API_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("VISITT_JANUS_API_SECRET", "s3cret")
    cli.main(["janus-config", str(tmp_path / "j"), "--port", "18089"])
    assert "VISITT_JANUS_URL=http://127.0.0.1:18089/janus" in capsys.readouterr().out
    assert sorted(path.name for path in (tmp_path / "j").iterdir()) == [
        "janus.jcfg", "janus.plugin.videoroom.jcfg", "janus.transport.http.jcfg"]
    assert oct((tmp_path / "j" / "janus.jcfg").stat().st_mode & 0o777) == "0o600"


def test_janus_answers_no_one_without_the_api_secret(janus: JanusServer) -> None:
    for body in ({"janus": "create", "transaction": "t"}, {"janus": "create", "transaction": "t", "apisecret": "guess"},
                 {"janus": "create", "transaction": "t", "token": "guess"}):
        reply = httpx.post(janus.url, json=body, timeout=5).json()
        assert reply["janus"] == "error" and reply["error"]["code"] == UNAUTHORIZED

    async def scenario() -> None:
        with pytest.raises(JanusError) as refused:
            async with Janus(janus.url, "guess"):
                pass
        assert refused.value.code == UNAUTHORIZED

    run(scenario())


def test_rooms_are_created_only_with_the_admin_key_and_destroyed(janus: JanusServer) -> None:
    async def scenario() -> None:
        async with Janus(janus.url, SECRET) as session:
            admin = await VideoRoomAdmin.attach(session)
            for key in ({}, {"admin_key": "guess"}):
                with pytest.raises(JanusError) as refused:
                    await admin.handle.message({"request": "create", "room": 7001, "secret": "mine", **key})
                assert refused.value.code == (ROOM_UNAUTHORIZED if key else MISSING)
            await admin.create(7001, publishers=13)
            assert await admin.exists(7001)
            with pytest.raises(JanusError) as wrong:  # the room's own secret is needed to end it
                await admin.handle.message({"request": "destroy", "room": 7001, "secret": "guess"})
            assert wrong.value.code == ROOM_UNAUTHORIZED
            await admin.destroy(7001)
            assert not await admin.exists(7001)
            await admin.destroy(7001)  # gone already: no error

    run(scenario())


async def _join(session: Janus, room: int, token: str) -> tuple[int, asyncio.Queue[dict[str, object]]]:
    """Join ``room`` as a publisher (sending nothing yet) with ``token``; the participant id and its events."""
    handle = await session.attach()
    data, _ = await handle.message({"request": "join", "ptype": "publisher", "room": room, "token": token,
                                    "display": "Kari"})
    assert data["videoroom"] == "joined"
    return int(data["id"]), handle.events  # type: ignore[return-value]


def test_only_an_allowed_token_joins_and_a_kick_is_felt_within_a_second(janus: JanusServer) -> None:
    async def scenario() -> None:
        async with Janus(janus.url, SECRET) as visitt, Janus(janus.url, SECRET) as participant:
            admin = await VideoRoomAdmin.attach(visitt)
            await admin.create(7002, publishers=13)
            try:
                with pytest.raises(JanusError) as refused:
                    await _join(participant, 7002, "not-allowed")
                assert refused.value.code == ROOM_UNAUTHORIZED
                await admin.allow(7002, ["kari-token", "ola-token"])
                kari, kari_events = await _join(participant, 7002, "kari-token")
                assert [p["id"] for p in await admin.participants(7002)] == [kari]

                await admin.disallow(7002, ["ola-token"])  # Ola left the call in Visitt: his token is gone
                with pytest.raises(JanusError):
                    await _join(participant, 7002, "ola-token")

                kicked_at = time.monotonic()
                await admin.kick(7002, kari)
                while True:
                    event = await asyncio.wait_for(kari_events.get(), 1.0)
                    data = event.get("plugindata", {}).get("data", {})  # type: ignore[union-attr]
                    if data.get("leaving") == "ok" or event.get("janus") == "detached":
                        break
                assert time.monotonic() - kicked_at < 1.0
                assert await admin.participants(7002) == []
            finally:
                await admin.destroy(7002)

    run(scenario())


def test_janus_down_is_a_clear_error() -> None:
    async def scenario() -> None:
        with pytest.raises(MediaServerUnavailable) as down:
            async with Janus(f"http://127.0.0.1:{free_port()}/janus", SECRET, timeout=1):
                pass
        assert down.value.status == 503 and "One-to-one consultations still work" in down.value.message

    run(scenario())


def test_a_session_janus_lost_is_noticed_within_seconds(tmp_path: Path) -> None:
    """Janus restarted (it answers, but no longer knows the session: 458) and Janus stopped (no answer for
    ``LOST_AFTER``): either way ``Janus.lost`` is set, which is what Visitt's group calls recover from."""
    janus = JanusServer(tmp_path)
    janus.start()

    async def scenario() -> None:
        async with Janus(janus.url, SECRET) as session:
            janus.stop()
            janus.start()  # the same ports: only the session is gone
            await asyncio.wait_for(session.lost.wait(), 15)
        async with Janus(janus.url, SECRET) as session:
            await asyncio.sleep(1)
            assert not session.lost.is_set()  # a session Janus keeps is not lost
            janus.stop()
            await asyncio.wait_for(session.lost.wait(), 15)
            with pytest.raises(MediaServerUnavailable):
                await session.attach()

    try:
        run(scenario())
    finally:
        janus.stop()
