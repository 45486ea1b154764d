"""The technical chat: short messages between the people in a call, relayed and never stored.

A message exists on the server only while it is passed on: no database row, no log line, no
buffer for latecomers. Whoever is admitted later sees only what is written after they came in,
and everything is gone from the pages when the call ends. The chat is for technical matters
("I can't hear you") only (REQUIREMENTS.md item 23); the server refuses a message carrying a
national identity number, the pages ask before sending anything that looks like other personal
details.
"""

from __future__ import annotations

import datetime as dt

from visitt import nationalid
from visitt.live import protocol
from visitt.errors import Forbidden, ValidationFailed
from visitt.live.live_room import LiveRoom, Peer

PERSONAL_NUMBER = ("not sent: the message contains a national identity number or D-number; the chat is for "
                   "technical messages only, never for personal details")


def deliver(room: LiveRoom, sender: Peer, message: protocol.Chat) -> None:
    """Send ``message`` to everyone in the call, the sender included as their confirmation."""
    if room.in_call.get(sender.id) is not sender:
        raise Forbidden("only people in the call can chat", code="not_in_call")
    if message.text is not None and nationalid.contains(message.text):
        raise ValidationFailed(PERSONAL_NUMBER, code="chat_personal_number")
    at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    room.broadcast(protocol.encode(protocol.ChatIn(from_=sender.id, name=sender.name, text=message.text,
                                                   phrase=message.phrase, at=at)))
