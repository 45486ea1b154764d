"""Several nodes against one PostgreSQL and one Redis (visitt/live/cluster.py, visitt/live/bus.py).

The clinician's socket reaches one node and the patient's another, as a load balancer would
send them; everything they do must work as on one node, and survive either node going away.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from websockets.asyncio.client import connect

from visitt.live.bus import NODE_TTL, RedisBus
from visitt.testing import LiveServer

from .browser import DESK, PHONE, picture_grows, wait_for_media
from .conftest import make_settings
from .peers import TIMEOUT, CallPeer, WsClient, book, run, staff_login, ws_url
from .nginx import running as nginx_running
from .serve import STAFF_PASSWORD, ServeProcess, free_port
from .test_call_aiortc import BLUE, HIGH, LOW, ORANGE, sees_and_hears
from .test_invites import COLLEAGUE, invite, joined_by, staff_id
from .test_nationalid import numbers

EMAIL = "lege.legesen@sykehuset.example"
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)




@pytest.fixture
def nodes(tmp_path: Path, database_url: str, redis_url: str, prefix: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two in-process nodes of one installation."""
    started = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            settings = make_settings(tmp_path / name, database_url, redis_url=redis_url, redis_prefix=prefix)
            started.append(LiveServer(settings).start())
        yield started[0], started[1]
    finally:
        for node in started:
            node.stop()


def serve_nodes(tmp_path: Path, database_url: str, redis_url: str, prefix: str,
                **env: str) -> tuple[ServeProcess, ServeProcess]:
    """Two ``visitt serve`` processes of one installation, not yet started (``env``: more settings)."""
    (tmp_path / "a").mkdir()
    first = ServeProcess(tmp_path / "a", email=EMAIL, name="Lege Legesen", VISITT_DATABASE_URL=database_url,
                         VISITT_REDIS_URL=redis_url, VISITT_REDIS_PREFIX=prefix, VISITT_RECONNECT_GRACE="30",
                         VISITT_LINK_OPENS_MINUTES="60", **env)
    second = first.another(tmp_path / "b")
    # one installation, one public address (the first node's, or nginx's); pages opened on either node's
    # own address may open their sockets too
    for node in (first, second):
        node.env["VISITT_ALLOWED_ORIGINS"] = f"{first.url},{second.url}"
    return first, second


async def _admitted_across(host: WsClient, patient: WsClient) -> dict[str, Any]:
    """Knock on the patient's node, admit on the clinician's; returns the patient's ``admitted``."""
    await host.hello()
    await host.expect("lobby")
    assert (await patient.hello())["state"] == "ready"
    await patient.send({"type": "knock", "name": "Kari Nordmann"})
    await patient.expect("waiting")
    knock = await host.expect("knock")
    assert knock["participant"]["name"] == "Kari Nordmann"
    await host.send({"type": "admit", "room": knock["room"], "participant": patient.id})
    await host.expect("admitted")
    return await patient.expect("admitted")


@on_postgresql
def test_a_call_across_two_nodes_works_as_on_one(nodes: tuple[LiveServer, LiveServer]) -> None:
    a, b = nodes
    _, token = book(a)
    cookie = staff_login(a)

    async def scenario() -> None:
        async with await WsClient.staff(a, cookie) as host, await WsClient.guest(b, token) as patient:
            async with CallPeer(host, colour=BLUE, hertz=LOW) as host_media, \
                    CallPeer(patient, colour=ORANGE, hertz=HIGH) as patient_media:
                admitted = await _admitted_across(host, patient)
                assert [p["id"] for p in admitted["participants"]] == [host.id]
                await patient_media.join(admitted)
                await asyncio.gather(sees_and_hears(host_media, patient.id, ORANGE, HIGH),
                                     sees_and_hears(patient_media, host.id, BLUE, LOW))
            # the patient's socket is on node b, their room on node a
            assert len(b.app.state.cluster.relays) == 1 and len(a.app.state.cluster.remotes) == 1
            await patient.send({"type": "chat", "phrase": "cant_hear"})
            assert (await host.expect("chat"))["from"] == patient.id
            await patient.send({"type": "chat", "text": f"fnr {numbers(1)[0]}"})  # refused on the holder, told on b
            await patient.expect_error("chat_personal_number")
            await patient.send({"type": "lock", "room": admitted["room"]})
            await patient.expect_error("forbidden")
            await patient.send({"type": "leave"})
            await patient.expect("bye")
            assert (await host.expect("left"))["participant"] == patient.id

    run(scenario())


@on_postgresql
def test_cancelling_on_one_node_ends_the_room_held_by_another(nodes: tuple[LiveServer, LiveServer]) -> None:
    a, b = nodes
    _, token = book(a)
    cookie = staff_login(a)

    async def scenario() -> None:
        async with await WsClient.staff(a, cookie) as host, await WsClient.guest(a, token) as patient:
            await host.hello()
            await patient.hello()
            await patient.send({"type": "knock", "name": "Kari Nordmann"})
            await patient.expect("waiting")
            appointment = (await asyncio.to_thread(_api, b, "GET", "/api/v1/appointments"))[0]["id"]
            await asyncio.to_thread(_api, b, "POST", f"/api/v1/appointments/{appointment}/cancel")
            assert (await patient.expect("ended"))["reason"] == "cancelled"

    run(scenario())


def _api(node: LiveServer, method: str, path: str) -> Any:
    response = httpx.request(method, node.url + path, headers={"Authorization": f"Bearer {node.token}"})
    assert response.status_code < 300, response.text
    return response.json()


def test_a_shard_has_one_holder_until_it_is_given_up_or_its_node_dies(redis_url: str, prefix: str) -> None:
    async def scenario() -> None:
        first, second = RedisBus(redis_url, prefix=prefix), RedisBus(redis_url, prefix=prefix)

        async def ignore(_message: dict[str, Any]) -> None:
            pass

        await first.start(ignore)
        await second.start(ignore)
        try:
            holders = await asyncio.gather(first.owner("7"), second.owner("7"), first.owner("7"))
            assert len(set(holders)) == 1
            holder, other = (first, second) if holders[0] == first.node else (second, first)
            assert await other.owner("7") == holder.node
            await holder.release()  # a node stopping gracefully
            assert await other.owner("7") == other.node
            assert not await other.alive(holder.node)
            # a node that dies stops its heartbeat; its shards go to the next node that asks
            await other.redis.delete(f"{prefix}:alive:{other.node}")
            for task in other.tasks[1:]:
                task.cancel()
            fresh = RedisBus(redis_url, prefix=prefix)
            await fresh.start(ignore)
            assert await fresh.owner("7") == fresh.node
            await fresh.release()
            await fresh.close()
        finally:
            await first.close()
            await second.close()

    run(scenario())


async def _closed(client: WsClient, timeout: float) -> int | None:
    async with asyncio.timeout(timeout):
        await client.socket.wait_closed()
    return client.socket.close_code


async def _back_in_the_call(node: ServeProcess, cookie: str, token: str, room: str, key: str | None) -> None:
    """Both reconnect to ``node``, as their pages do: the patient (with her page's place key) is back in the
    call without knocking."""
    host = await WsClient.staff(node, cookie)  # type: ignore[arg-type]
    patient = await WsClient.guest(node, token)  # type: ignore[arg-type]
    try:
        await host.hello()
        await host.send({"type": "enter", "room": room})
        await host.expect("admitted")
        await patient.hello()
        await patient.send({"type": "rejoin", "key": key})
        again = await patient.expect("admitted")
        assert again["resumed"] is True and [p["id"] for p in again["participants"]] == [host.id]
        assert (await host.expect("back"))["participant"]["id"] == patient.id
    finally:
        await host.close()
        await patient.close()


@on_postgresql
@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_when_the_node_holding_the_room_goes_the_other_takes_over(tmp_path: Path, database_url: str, redis_url: str,
                                                                  prefix: str, how: str) -> None:
    a, b = serve_nodes(tmp_path, database_url, redis_url, prefix)
    try:
        a.start()
        b.start()
        _, token = a.book("Kari Nordmann")
        cookie = staff_login(a, EMAIL, STAFF_PASSWORD)  # type: ignore[arg-type]

        async def scenario() -> None:
            host = await WsClient.staff(a, cookie)  # type: ignore[arg-type]
            patient = await WsClient.guest(b, token)  # type: ignore[arg-type]
            admitted = await _admitted_across(host, patient)
            if how == "killed":
                a.kill()
            else:
                a.sigterm()
            # b relays the patient to a; when a goes, b sends the patient off to reconnect
            assert await _closed(patient, NODE_TTL + 10) == 1001
            await _back_in_the_call(b, cookie, token, admitted["room"], patient.key)

        run(scenario())
    finally:
        a.stop()
        b.stop()


@on_postgresql
@pytest.mark.browser
def test_chromium_clinician_on_one_node_patient_on_another(tmp_path: Path, database_url: str, redis_url: str,
                                                           prefix: str, browser: Any) -> None:
    a, b = serve_nodes(tmp_path, database_url, redis_url, prefix)
    desk = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    try:
        a.start()
        b.start()
        join_url, _token = a.book("Kari Nordmann")  # the SMS's link; either node's outbox may send the SMS
        host = desk.new_page()
        host.goto(f"{a.url}/staff/login")
        host.get_by_label("E-mail").fill(EMAIL)
        host.get_by_label("Password").fill(STAFF_PASSWORD)
        host.get_by_role("button", name="Sign in").click()
        host.wait_for_url(f"{a.url}/staff")
        link = join_url.replace(a.url, b.url)  # the phone's request lands on node b
        patient = phone.new_page()
        patient.goto(link)
        patient.locator("#name").fill("Kari Nordmann")
        patient.locator("#join").click()
        host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit").click()
        assert wait_for_media(host, 30)["video"] > 0
        assert wait_for_media(patient, 30)["video"] > 0
    finally:
        desk.close()
        phone.close()
        a.stop()
        b.stop()


NGINX = """
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream visitt {{
        server 127.0.0.1:{first};
        server 127.0.0.1:{second} backup;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://visitt;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


@contextmanager
def nginx(tmp_path: Path, first: ServeProcess, second: ServeProcess, port: int) -> Iterator[str]:
    """nginx from Debian in front of two nodes on ``port``: everything to ``first`` while it answers, then
    ``second``."""
    directory = tmp_path / "nginx"
    config = NGINX.format(dir=directory, first=first.port, second=second.port, port=port)
    with nginx_running(directory, config, port) as url:
        yield url


STATUS_SEEN = """() => {
  window.statusSeen = [];
  new MutationObserver(() => window.statusSeen.push(document.querySelector("#call-status").textContent))
    .observe(document.querySelector("#call-status"), {childList: true, characterData: true, subtree: true});
}"""




@on_postgresql
@pytest.mark.browser
def test_chromium_behind_nginx_a_node_dies_and_its_clients_move_to_the_other(
        tmp_path: Path, database_url: str, redis_url: str, prefix: str, browser: Any) -> None:
    port = free_port()  # nginx's: the installation's public address
    a, b = serve_nodes(tmp_path, database_url, redis_url, prefix, VISITT_PUBLIC_URL=f"http://127.0.0.1:{port}")
    desk = browser.new_context(**DESK)
    phone = browser.new_context(**PHONE)
    try:
        a.start()
        b.start()
        with nginx(tmp_path, a, b, port) as url:
            host = desk.new_page()
            host.goto(f"{url}/staff/login")
            host.get_by_label("E-mail").fill(EMAIL)
            host.get_by_label("Password").fill(STAFF_PASSWORD)
            host.get_by_role("button", name="Sign in").click()
            host.wait_for_url(f"{url}/staff")
            response = httpx.post(f"{url}/api/v1/appointments", headers={"Authorization": f"Bearer {a.token}"},
                                  json={"patient_name": "Kari Nordmann", "patient_phone": "412 34 567",
                                        "starts_at": (dt.datetime.now(dt.timezone.utc)
                                                      + dt.timedelta(minutes=10)).isoformat(), "language": "en"})
            assert response.status_code == 201, response.text
            patient = phone.new_page()
            patient.goto(response.json()["join_url"])
            patient.locator("#name").fill("Kari Nordmann")
            patient.locator("#join").click()
            host.locator("#waiting li", has_text="Kari Nordmann").locator(".admit").click()
            wait_for_media(host, 30)
            wait_for_media(patient, 30)

            for page in (host, patient):
                page.evaluate(STATUS_SEEN)
            a.kill()  # the node both are on dies; nginx sends their reconnecting sockets to b

            for page in (host, patient):
                page.wait_for_function("() => window.statusSeen.includes('Reconnecting…')", timeout=15_000)
                page.wait_for_function("() => window.statusSeen.at(-1) === 'In consultation'", timeout=45_000)
            assert picture_grows(patient, 15.0) and picture_grows(host, 15.0)  # the picture flows on both sides
            expect(host.locator("#waiting li")).to_have_count(0)  # nobody had to knock again
            metrics = httpx.get(f"{b.url}/metrics").text
            assert "visitt_connected_participants 2" in metrics, metrics  # both are on b now
    finally:
        desk.close()
        phone.close()
        a.stop()
        b.stop()


def test_without_redis_a_node_is_not_ready_and_turns_sockets_away(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
    live = LiveServer(make_settings(tmp_path, redis_url=url)).start()
    try:
        _, token = book(live)
        ready = live.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"] == {"code": "not_ready", "message": "the message bus (Redis) is not reachable"}

        async def knock() -> None:  # told to try again later (1013): the page does, with its back-off
            async with connect(ws_url(live, f"/ws/v/{token}"), open_timeout=TIMEOUT) as refused:
                await asyncio.wait_for(refused.wait_closed(), TIMEOUT)
                assert refused.close_code == 1013

        run(knock())
    finally:
        live.stop()


@on_postgresql
def test_a_cohost_on_another_node_keeps_the_hosts_powers(nodes: tuple[LiveServer, LiveServer]) -> None:
    a, b = nodes
    _, token = book(a)
    cookie = staff_login(a)
    ola_cookie = staff_login(b, COLLEAGUE[0])

    async def scenario() -> None:
        async with await WsClient.staff(a, cookie) as host, await WsClient.guest(a, token) as patient:
            admitted = await _admitted_across(host, patient)
            colleague = invite(a, admitted["room"], name="Dr. O. Hansen", kind="colleague",
                               staff_id=staff_id(a, COLLEAGUE[0]))
            async with await WsClient.open(b, f"/ws/cohost/{colleague['id']}", cookie=ola_cookie) as cohost:
                await cohost.hello()
                await cohost.send({"type": "knock", "name": "whatever the page says"})
                knock = (await host.expect("knock"))["participant"]
                assert (knock["name"], knock["kind"]) == ("Ola Hansen", "colleague")
                await host.send({"type": "admit", "room": admitted["room"], "participant": cohost.id})
                await cohost.expect("admitted")
                assert (await joined_by(patient, cohost.id))["cohost"] is True
                await cohost.send({"type": "unlock", "room": admitted["room"]})  # a host power, from node b
                assert (await host.expect("room"))["locked"] is False
                await cohost.send({"type": "end", "room": admitted["room"]})
                await cohost.expect_error("forbidden")
            async with asyncio.timeout(5):  # the relay goes with the socket
                while b.app.state.cluster.relays:
                    await asyncio.sleep(0.05)

    run(scenario())
