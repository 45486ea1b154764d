"""Every limit Visitt sets, in one place: how often something may be done, and how many may be open at once.

:func:`rules` is the table of rates - code entry, portal visits, sign-in, test calls, SMS, socket
messages - each read from the settings, so ``docs/configuration.md`` lists them once. They are
counted by the `limits <https://limits.readthedocs.io/>`_ package, through its documented
strategies and storages:

- *shared* rules (what an attacker could spread over several nodes, or wait out by a restart) are
  kept in Redis when ``VISITT_REDIS_URL`` is set - the same Redis as the bus, under
  ``<VISITT_REDIS_PREFIX>:limits`` - so every node counts against the same limit; without Redis
  (one node) in this process's memory. While Redis cannot be reached they are counted in memory
  too, so the limits hold per node and nothing stops working for want of Redis;
- *node* rules (a socket's message rate, a pace) always in memory: they are about this process.

:class:`Slots` caps what is *open* rather than how often (sockets per link and per address, test
room places per address); :class:`Gate` bounds the heavy work running at once (password checks).
Both are per node, in this process only. The rates' keys (addresses, codes, e-mail addresses,
phone numbers) are hashed before they reach a storage.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from starlette.websockets import WebSocket

from visitt.errors import RateLimited
from visitt.settings import Settings

log = logging.getLogger("visitt.limiter")
T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    """At most ``amount`` within ``seconds``. ``shared``: counted across nodes when Redis is set.
    ``moving``: a true look-back (each event ages out on its own); else a fixed window, which keeps
    one counter per key - for the per-message rate of thousands of sockets."""

    amount: int
    seconds: int
    shared: bool = True
    moving: bool = True

    @property
    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(max(1, self.amount), max(1, self.seconds))


def rules(settings: Settings) -> dict[str, Rule]:
    """The table of rate limits, by name (documented in ``docs/configuration.md``)."""
    s = settings
    return {
        # six-digit code: failed tries per client address, all tries per code (docs/joining.md)
        "code_address": Rule(s.code_attempts_per_address, s.code_attempt_minutes * 60),
        "code": Rule(s.code_attempts_per_code, s.code_attempt_minutes * 60),
        # portal visits per client address (docs/portal.md)
        "portal_address": Rule(s.portal_visits_per_address, s.portal_visit_minutes * 60),
        # staff sign-in: failed passwords (and second-factor codes) per account, then a lock-out that grows
        # (``backoffs``); per client address, any accounts, a longer look-back
        "login_account": Rule(s.login_failures_per_account, s.login_account_max_minutes * 60),
        "login_address": Rule(s.login_failures_per_address, s.login_address_minutes * 60),
        # test room round trips and TURN credentials per client address (docs/test-room.md)
        "test_offer": Rule(s.test_calls_per_address, s.test_call_minutes * 60, shared=False),
        "test_ice": Rule(s.test_calls_per_address, s.test_call_minutes * 60, shared=False),
        # outgoing SMS per recipient number and per staff member (or API token's owner) (docs/messaging.md)
        "sms_number": Rule(s.sms_per_number, s.sms_hours * 3600),
        "sms_staff": Rule(s.sms_per_staff, s.sms_hours * 3600),
        # signaling messages per socket, in windows of a second (docs/protocol.md)
        "messages": Rule(round(s.messages_per_second), 1, shared=False, moving=False),
    }


@dataclass(frozen=True)
class Backoff:
    """Once a rule's limit is reached: refused for ``first`` seconds, twice as long for each further
    lock-out within ``memory`` seconds, but never longer than ``longest``."""

    first: int
    longest: int
    memory: int = 24 * 3600

    def wait(self, lockouts: int) -> int:
        doublings: int = min(max(0, lockouts - 1), 30)
        return min(self.longest, self.first << doublings)


def backoffs(settings: Settings) -> dict[str, Backoff]:
    """The rules whose limit locks a key out for a growing time, by rule name."""
    s = settings
    return {"login_account": Backoff(s.login_account_seconds, s.login_account_max_minutes * 60)}


def caps(settings: Settings) -> dict[str, int]:
    """The table of caps on what is open at once on a node, by name."""
    s = settings
    return {"sockets_link": s.sockets_per_link, "sockets_address": s.sockets_per_address,
            "sockets_staff": s.sockets_per_staff,
            "test_room_address": s.test_room_places_per_address}


# Log lines name an address by a keyed hash: the same address gives the same label within one process,
# so an operator can follow one attacker, but a label cannot be turned back into an address.
_LOG_KEY = secrets.token_bytes(16)


def address_label(address: str) -> str:
    return hmac.new(_LOG_KEY, address.encode(), hashlib.sha256).hexdigest()[:12]


def _hashed(parts: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class Slots:
    """How many of something are open, per cap and key; :meth:`take` refuses at the cap. Per node
    (a socket or a place is held by the process it is open in)."""

    def __init__(self, caps: dict[str, int]) -> None:
        self.caps = caps
        self.held: Counter[tuple[str, str]] = Counter()

    def take(self, cap: str, key: str) -> bool:
        if self.held[(cap, key)] >= self.caps[cap]:
            return False
        self.held[(cap, key)] += 1
        return True

    def give_back(self, cap: str, key: str) -> None:
        self.held[(cap, key)] -= 1
        if self.held[(cap, key)] <= 0:
            del self.held[(cap, key)]

    @contextmanager
    def holding(self, cap: str, key: str) -> Iterator[bool]:
        """``with slots.holding(cap, key) as got:`` - a place while the block runs, if there was one."""
        got = self.take(cap, key)
        try:
            yield got
        finally:
            if got:
                self.give_back(cap, key)


CLOSE_TOO_MANY = 4029  # docs/protocol.md: too many sockets open on this link or from this address


async def too_many_sockets(websocket: WebSocket) -> None:
    """Close with :data:`CLOSE_TOO_MANY`. Accepted first: a socket refused during the handshake
    reaches the browser as a failed connection (1006), with no code to act on."""
    await websocket.accept()
    await websocket.close(CLOSE_TOO_MANY, "too many connections")


class Gate:
    """At most ``size`` of a heavy piece of work at once (an argon2 check takes 64 MiB and most of
    a core); a caller waits up to ``wait`` seconds for its turn, then is refused."""

    def __init__(self, size: int, wait: float) -> None:
        self.size, self.wait = size, wait
        self._semaphore = threading.BoundedSemaphore(size)

    @contextmanager
    def turn(self) -> Iterator[bool]:
        got = self._semaphore.acquire(timeout=self.wait)
        try:
            yield got
        finally:
            if got:
                self._semaphore.release()


class Limiter:
    """Counts against :func:`rules` (``app.state.limiter``). ``storage_uri``: where the shared rules
    are counted, a `limits storage URI <https://limits.readthedocs.io/en/stable/storage.html>`_;
    by default Redis at ``VISITT_REDIS_URL`` if set, else memory."""

    def __init__(self, settings: Settings, storage_uri: str | None = None) -> None:
        self.rules = rules(settings)
        self.backoffs = backoffs(settings)
        self.local: Storage = MemoryStorage()
        uri = storage_uri if storage_uri is not None else settings.redis_url
        self.shared: Storage = self.local
        if uri:
            shared = storage_from_string(uri, key_prefix=f"{settings.redis_prefix}:limits", wrap_exceptions=True)
            if not isinstance(shared, Storage):  # an async storage (async+redis://): not for these callers
                raise ValueError("the limiter needs a synchronous storage URI, such as redis://")
            self.shared = shared
        self._strategies: dict[tuple[bool, bool], RateLimiter] = {
            (shared, moving): (MovingWindowRateLimiter if moving else FixedWindowRateLimiter)(
                self.shared if shared else self.local)
            for shared in (True, False) for moving in (True, False)}
        self._warned = -math.inf
        self.slots = Slots(caps(settings))
        self.password_checks = Gate(settings.password_checks_at_once, settings.password_check_wait)

    def _counted(self, name: str, key: tuple[str, ...]) -> tuple[RateLimiter, RateLimitItem, str]:
        rule = self.rules[name]
        return self._strategies[(rule.shared, rule.moving)], rule.item, _hashed((name, *key))

    def _ask(self, name: str, key: tuple[str, ...], question: Callable[[RateLimiter, RateLimitItem, str], T]) -> T:
        """``question`` of the rule's strategy; while Redis cannot be reached, of this node's memory instead:
        the limits then hold per node, and nothing that needs no Redis stops working because of it."""
        strategy, item, hashed = self._counted(name, key)
        try:
            return question(strategy, item, hashed)
        except StorageError as error:
            now = time.monotonic()
            if now - self._warned > 60:  # one line a minute, not one per request
                self._warned = now
                cause = type(error.storage_error).__name__
                log.warning("limiter: Redis unreachable (%s); counting on this node only", cause)
            rule = self.rules[name]
            return question(self._strategies[(False, rule.moving)], item, hashed)

    def hit(self, name: str, *key: str) -> bool:
        """Count one event against rule ``name`` for ``key``; False (and not counted) if over the limit."""
        return self._ask(name, key, lambda strategy, item, hashed: strategy.hit(item, name, hashed))

    def test(self, name: str, *key: str) -> bool:
        """Whether one more event would be within the limit (counts nothing)."""
        return self._ask(name, key, lambda strategy, item, hashed: strategy.test(item, name, hashed))

    def _stats(self, name: str, key: tuple[str, ...]) -> tuple[float, int, int]:
        stats = self._ask(name, key, lambda strategy, item, hashed: strategy.get_window_stats(item, name, hashed))
        return stats.reset_time, stats.remaining, self.rules[name].item.amount

    def untouched(self, name: str, *key: str) -> bool:
        """Whether nothing has been counted against rule ``name`` for ``key`` within its window."""
        _reset, remaining, amount = self._stats(name, key)
        return remaining >= amount

    def retry_after(self, name: str, *key: str) -> int:
        """Whole seconds until rule ``name`` lets ``key`` in again (at least 1)."""
        reset, _remaining, _amount = self._stats(name, key)
        return max(1, int(reset - time.time() + 0.999))

    def _backoff_storage(self, name: str) -> Storage:
        return self.shared if self.rules[name].shared else self.local

    def _with_storage(self, name: str, action: Callable[[Storage], T]) -> T:
        try:
            return action(self._backoff_storage(name))
        except StorageError:  # Redis away: as in :meth:`_ask`, this node's memory
            return action(self.local)

    def locked_for(self, name: str, *key: str) -> int:
        """Whole seconds left of ``key``'s lock-out under the backoff of rule ``name`` (0: not locked)."""
        lock = "lock:" + _hashed((name, *key))

        def left(storage: Storage) -> int:
            if storage.get(lock) <= 0:
                return 0
            return max(0, int(storage.get_expiry(lock) - time.time() + 0.999))
        return self._with_storage(name, left)

    def fail(self, name: str, *key: str) -> int:
        """Count one failure against rule ``name`` (which has a backoff) for ``key``. If that reaches
        the limit, the count starts again and ``key`` is locked out for the backoff's next wait: the
        seconds returned (0: not locked out)."""
        self.hit(name, *key)
        if self.test(name, *key):
            return 0
        hashed, backoff = _hashed((name, *key)), self.backoffs[name]

        def lock_out(storage: Storage) -> int:
            lockouts = storage.incr("lockouts:" + hashed, backoff.memory)
            wait = backoff.wait(lockouts)
            storage.clear("lock:" + hashed)
            storage.incr("lock:" + hashed, wait)
            return wait
        wait = self._with_storage(name, lock_out)
        self._ask(name, key, lambda strategy, item, hashed: strategy.clear(item, name, hashed))
        return wait

    def refuse_locked(self, name: str, *key: str, message: str, code: str) -> RateLimited:
        """The :class:`RateLimited` for ``key`` locked out under rule ``name``, with its Retry-After."""
        error = RateLimited(message, code=code)
        error.retry_after = max(1, self.locked_for(name, *key))
        return error

    def refuse(self, name: str, *key: str, message: str, code: str) -> RateLimited:
        """The :class:`RateLimited` for ``key`` over rule ``name``, with its Retry-After."""
        error = RateLimited(message, code=code)
        error.retry_after = self.retry_after(name, *key)
        return error

    def check(self, name: str, *key: str, message: str, code: str) -> None:
        """Raise :meth:`refuse` if one more event would be over the limit (counts nothing)."""
        if not self.test(name, *key):
            raise self.refuse(name, *key, message=message, code=code)

    def count(self, name: str, *key: str, message: str, code: str) -> None:
        """Count one event, or raise :meth:`refuse` (uncounted) if it is over the limit."""
        if not self.hit(name, *key):
            raise self.refuse(name, *key, message=message, code=code)


class Pace:
    """Paces a repeated job on one node: up to ``burst`` runs at once, then ``rate`` a second -
    :meth:`reserve` is the seconds to wait before the next run (0: now)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.item = RateLimitItemPerSecond(burst, max(1, round(burst / rate)))
        self.strategy = FixedWindowRateLimiter(MemoryStorage())

    def reserve(self) -> float:
        if self.strategy.hit(self.item, "pace"):
            return 0.0
        return max(0.0, self.strategy.get_window_stats(self.item, "pace").reset_time - time.time())
