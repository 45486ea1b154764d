"""End-to-end encryption of a group call's media through Janus: the keys.

The pages encrypt each encoded frame with AES-GCM (``static/js/e2ee.js``); Janus forwards what it
cannot read. Visitt makes the keys and gives them, over the signaling socket, to the participants it
admitted and only to them (``sfu_keys``). A key lives in this process's memory only: never stored,
never logged, gone with the room.

When someone leaves or is removed, the call gets a new key (a new id) at once, so what they might
still receive from Janus is useless to them. Senders switch to it only :data:`SWITCH_AFTER` seconds
later, once every page has it; until then frames under the old key still decrypt (the pages keep a
key they are no longer given for a few seconds, ``e2ee.js``'s ``KEEP_MS``).

The call is encrypted while everyone sending to Janus encrypts. A participant who cannot (a browser
without encoded transforms; the tests' aiortc peers) could not decrypt the others either, so the call
goes in clear while they are in it (``send: null``), and everyone's participant list names them as
not end-to-end encrypted (``PeerInfo.e2ee``). See ``docs/meetings.md#end-to-end-encryption``.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from visitt.live import protocol_sfu

KEY_BYTES = 32  # AES-256-GCM
IDS = 256  # a key id is one byte in each frame's trailer
SWITCH_AFTER = 1.0  # seconds between giving everyone a new key and sending with it


@dataclass
class KeyRing:
    """One group call's keys: the newest last; ``sending`` the id everyone encrypts with."""

    keys: list[tuple[int, bytes]] = field(default_factory=list)
    sending: int = 0

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys = [(0, secrets.token_bytes(KEY_BYTES))]

    @property
    def newest(self) -> int:
        return self.keys[-1][0]

    def rotate(self) -> int:
        """A new key beside the one in use (senders keep theirs until :meth:`switch`); its id."""
        new = (self.newest + 1) % IDS
        self.keys = [key for key in self.keys if key[0] == self.sending] + [(new, secrets.token_bytes(KEY_BYTES))]
        return new

    def switch(self, key_id: int) -> bool:
        """Send with ``key_id`` and forget the older keys; False if a later rotation replaced it."""
        if key_id != self.newest:
            return False
        self.sending = key_id
        self.keys = self.keys[-1:]
        return True

    def message(self, encrypt: bool) -> protocol_sfu.SfuKeys:
        """What each admitted participant is told: every key in use, and the one to send with (none:
        in clear, as someone in the call cannot encrypt)."""
        return protocol_sfu.SfuKeys(keys=[protocol_sfu.FrameKey(id=key_id, key=base64.urlsafe_b64encode(key).decode())
                                      for key_id, key in self.keys],
                                send=self.sending if encrypt else None)
