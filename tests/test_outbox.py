"""The SMS outbox: durable, each message sent once even with several sender loops, failures recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from sqlalchemy import select, update

from visitt.messaging import outbox
from visitt.store.db import Database
from visitt.store.models import OutboxMessage, OutboxState, utcnow

from .eventually import eventually_async


class Recorder:
    """A backend that remembers what it was asked to send, and can be told to fail."""

    name = "recorder"

    def __init__(self, fail: outbox.SendFailed | None = None, delay: float = 0.0) -> None:
        self.sent: list[int] = []
        self.fail = fail
        self.delay = delay

    async def send(self, message: OutboxMessage) -> None:
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.sent.append(message.id)


def _queue(database: Database, count: int) -> None:
    with database.session() as session:
        for number in range(count):
            outbox.enqueue(session, recipient=f"+47412345{number:02d}", body=f"message {number}")


def _states(database: Database) -> list[OutboxState]:
    with database.session() as session:
        return list(session.scalars(select(OutboxMessage.state).order_by(OutboxMessage.id)))


def test_queued_messages_survive_a_restart_and_go_out_once(database: Database, tmp_path: Path) -> None:
    _queue(database, 3)  # queued while no sender runs, as if the node had just crashed
    path = tmp_path / "sms.jsonl"
    restarted = Database(database.url)
    sender = outbox.Sender(restarted, outbox.FileBackend(path))
    assert asyncio.run(sender.run_once()) == 3
    assert asyncio.run(sender.run_once()) == 0
    restarted.dispose()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["body"] for line in lines] == ["message 0", "message 1", "message 2"]
    assert lines[0]["to"] == "+4741234500"
    assert _states(database) == [OutboxState.sent] * 3
    with database.session() as session:  # the link in a sent SMS is not kept
        assert set(session.scalars(select(OutboxMessage.body))) == {""}


def test_two_sender_loops_never_send_the_same_message(database: Database) -> None:
    _queue(database, 40)
    first, second = Recorder(delay=0.001), Recorder(delay=0.001)

    nodes = [Database(database.url), Database(database.url)]

    async def both() -> None:
        senders = [outbox.Sender(node, backend) for node, backend in zip(nodes, (first, second))]
        for _ in range(5):
            await asyncio.gather(*(sender.run_once() for sender in senders))

    asyncio.run(both())
    for node in nodes:
        node.dispose()
    assert sorted(first.sent + second.sent) == sorted(set(first.sent + second.sent))
    assert len(first.sent) + len(second.sent) == 40
    assert _states(database) == [OutboxState.sent] * 40


def test_temporary_failure_is_retried_later(database: Database) -> None:
    _queue(database, 1)
    sender = outbox.Sender(database, Recorder(fail=outbox.SendFailed("operator returned 503")))
    asyncio.run(sender.run_once())
    with database.session() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert message.state is OutboxState.pending and message.attempts == 1
        assert message.last_error == "operator returned 503"
        assert message.next_attempt_at > utcnow()
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    healthy = Recorder()
    asyncio.run(outbox.Sender(database, healthy).run_once())
    assert len(healthy.sent) == 1 and _states(database) == [OutboxState.sent]


def test_permanent_failure_is_recorded_with_the_reason(database: Database) -> None:
    _queue(database, 1)
    sender = outbox.Sender(database, Recorder(fail=outbox.SendFailed("number does not exist", permanent=True)))
    asyncio.run(sender.run_once())
    with database.session() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert message.state is OutboxState.failed and message.last_error == "number does not exist"
        assert message.failure_reason == "rejected"  # the plain reason staff see, when the backend gives none


def test_each_channel_goes_to_its_own_backend(database: Database) -> None:
    with database.session() as session:
        outbox.enqueue(session, recipient="+4741234567", body="sms")
        outbox.enqueue(session, recipient="kari@example.no", body="{}", channel="email")
        outbox.enqueue(session, recipient="@kari", body="?", channel="pigeon")
    texts, mails = Recorder(), Recorder()
    asyncio.run(outbox.Sender(database, outbox.Channels({"sms": texts, "email": mails})).run_once())
    assert texts.sent == [1] and mails.sent == [2]
    with database.session() as session:
        unroutable = session.get(OutboxMessage, 3)
        assert unroutable is not None and unroutable.state is OutboxState.failed
        assert unroutable.failure_reason == "configuration"


def test_a_claim_held_by_a_dead_sender_is_taken_over_after_the_lease(database: Database) -> None:
    _queue(database, 1)
    with database.session() as session:
        session.execute(update(OutboxMessage).values(claimed_by="dead-node",
                                                     claimed_until=utcnow() + dt.timedelta(seconds=30)))
    backend = Recorder()
    sender = outbox.Sender(database, backend)
    asyncio.run(sender.run_once())
    assert backend.sent == []  # still leased to the other node
    with database.session() as session:
        session.execute(update(OutboxMessage).values(claimed_until=utcnow() - dt.timedelta(seconds=1)))
    asyncio.run(sender.run_once())
    assert len(backend.sent) == 1


class Gate:
    """A backend whose sends wait until the test opens the gate."""

    name = "gate"

    def __init__(self) -> None:
        self.sending = asyncio.Event()
        self.open = asyncio.Event()
        self.sent: list[int] = []

    async def send(self, message: OutboxMessage) -> None:
        self.sending.set()
        await self.open.wait()
        self.sent.append(message.id)


def test_stopping_finishes_the_message_being_sent_and_hands_back_the_rest(database: Database) -> None:
    _queue(database, 3)
    backend = Gate()
    sender = outbox.Sender(database, backend)

    async def stop_mid_send() -> None:
        loop = asyncio.create_task(sender.run())
        await backend.sending.wait()
        sender.stop()  # as the server does on SIGTERM, while the first message is with the operator
        backend.open.set()
        await asyncio.wait_for(loop, 5)

    asyncio.run(stop_mid_send())
    assert len(backend.sent) == 1
    assert _states(database) == [OutboxState.sent, OutboxState.pending, OutboxState.pending]
    with database.session() as session:  # no lease left behind: the next sender takes them at once
        assert set(session.scalars(select(OutboxMessage.claimed_by))) == {None}


def test_an_outage_is_logged_once_by_the_sender_and_its_end_too(
        database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every pass fails alike while the database is away: the operator's log says so once, not once a
    pass, and says when passes work again; the queued SMS then goes out."""
    _queue(database, 1)
    away = Database(f"sqlite:///{tmp_path / 'no such directory' / 'visitt.sqlite3'}")
    backend = Recorder()
    sender = outbox.Sender(away, backend, interval=0.01)

    async def outage_then_back() -> None:
        running = asyncio.create_task(sender.run())
        await eventually_async(lambda: [r for r in caplog.records if r.name == "visitt.outbox"], "a pass fails")
        await asyncio.sleep(0.3)  # some thirty more passes fail: said once only
        sender.database = database
        await eventually_async(lambda: backend.sent, "the queued SMS goes out")
        sender.stop()
        await running

    with caplog.at_level(logging.INFO, logger="visitt.outbox"):
        asyncio.run(outage_then_back())
    said = [record.getMessage() for record in caplog.records if record.name == "visitt.outbox"]
    assert len(said) == 2, said
    assert said[0].startswith("outbox pass failed (OperationalError") and said[1] == "outbox passes work again"
    assert _states(database) == [OutboxState.sent]
    away.dispose()
