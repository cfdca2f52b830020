"""Gong's rate budget shared by every machine through Redis (``GONG_PROVIDER_BUDGET_URL``, ``budget_url``).

The same tokens as the per-host budget (hooks/_ratelimit.py), kept as Redis keys instead of lock
files, so every host that reaches one Redis spends one budget. Token ``i`` of a company is the key
``gong-provider:budget:<host>:<i>``, held with redis-py's ``Lock`` (``SET NX PX`` with a random
value; redis-py's own scripts extend and release it only for its holder):

- a call takes a free token with a non-blocking ``acquire`` (the async hook through
  ``redis.asyncio``, so a triggerer's event loop never waits on Redis);
- while the call is in flight its holder renews the lease every ``RENEW_EVERY`` seconds (a thread
  for the sync hook, a task for the async one); the lease is the token's rest plus ``2 * RENEW_EVERY``;
- once the answer is back the key's time to live is cut to the token's rest: Redis drops it one
  second (plus margin) later, on Redis's own clock, so hosts' clocks never matter;
- a holder that dies stops renewing, and its key outlives it by at least the rest plus one
  ``RENEW_EVERY``: its call, which may have reached Gong just before, rests its second too, and
  the token comes back by itself (nothing leaks).

The day's calls are one ``INCR`` per call on ``gong-provider:calls:<host>:<UTC day>``, kept two days.

Why not ``limits`` or ``pyrate-limiter``: both count a call when it is let through, in a window of
those moments. Gong counts it somewhere between the sending and the answer, so with latency varying
a window of start times lets ``N + 1`` calls land in one of Gong's seconds; a token held until the
answer and resting afterwards cannot. redis-py's ``Lock`` is that token, in the ``redis`` client
itself, sync and asyncio, with no script of ours.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import weakref
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.lock import Lock as AsyncLock
from redis.exceptions import LockError
from redis.lock import Lock

log = logging.getLogger("gong_provider.hooks")

KEY_PREFIX = "gong-provider"
RENEW_EVERY = 1.0
"""Seconds between two renewals of an in-flight call's lease."""
SOCKET_TIMEOUT = 2.0
"""Seconds to connect to Redis or wait for its answer before the budget falls back to the host's."""
BUSY_POLL = 0.02
"""How often a caller looks again while every token is taken (plus jitter)."""
DAY_KEPT = 2 * 86400

RedisUnavailable = redis.RedisError
"""What the caller catches to fall back to the per-host budget (connection, timeout, server errors)."""


def safe_url(url: str) -> str:
    """The URL without its credentials, for logs: ``redis://host:port/db``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass
class Held:
    """A token held for one call, and what keeps its lease alive while the call is in flight."""

    lock: Lock | AsyncLock
    stop: threading.Event = field(default_factory=threading.Event)
    renewer: threading.Thread | asyncio.Task[None] | None = None


def _lease(rest: float) -> float:
    return rest + 2 * RENEW_EVERY


class RedisBudget:
    """One company's tokens in one Redis, for the sync and async hooks of this process."""

    def __init__(self, url: str, host: str) -> None:
        self.url = url
        self.host = host
        self._client: redis.Redis | None = None
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def _key(self, slot: int) -> str:
        return f"{KEY_PREFIX}:budget:{self.host}:{slot}"

    def _day_key(self, day: int) -> str:
        return f"{KEY_PREFIX}:calls:{self.host}:{day}"

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=SOCKET_TIMEOUT, socket_timeout=SOCKET_TIMEOUT
            )
        return self._client

    def async_client(self) -> redis.asyncio.Redis:
        """A client of the running event loop (redis.asyncio connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = redis.asyncio.Redis.from_url(
                self.url, socket_connect_timeout=SOCKET_TIMEOUT, socket_timeout=SOCKET_TIMEOUT
            )
        return client

    # -- sync -------------------------------------------------------------------------------

    def try_take(self, tokens: int, rest: float) -> Held | float:
        """A token held now (its lease renewed by a thread), or the seconds to wait before trying again."""
        for slot in random.sample(range(tokens), tokens):
            lock = Lock(self.client, self._key(slot), timeout=_lease(rest), thread_local=False)
            if lock.acquire(blocking=False):
                held = Held(lock)
                held.renewer = threading.Thread(
                    target=self._renew, args=(held,), name=f"gong-budget-{slot}", daemon=True
                )
                held.renewer.start()
                return held
        return BUSY_POLL * (1 + random.random())

    @staticmethod
    def _renew(held: Held) -> None:
        while not held.stop.wait(RENEW_EVERY):
            try:
                held.lock.reacquire()
            except (LockError, redis.RedisError):
                return  # the lease is gone or Redis is: give_back says so

    def give_back(self, held: Held, rest: float) -> tuple[int, int]:
        """Let the token rest ``rest`` s on Redis's clock and count the call: (UTC day, calls that day)."""
        held.stop.set()
        if isinstance(held.renewer, threading.Thread):
            held.renewer.join()
        assert isinstance(held.lock, Lock)
        day = int(time.time() // 86400)
        try:
            held.lock.extend(rest, replace_ttl=True)
        except LockError:
            self._lease_lost()
        with self.client.pipeline() as pipe:
            pipe.incr(self._day_key(day))
            pipe.expire(self._day_key(day), DAY_KEPT)
            calls = int(pipe.execute()[0])
        return day, calls

    def _lease_lost(self) -> None:
        log.warning(
            "A Gong call to %s outlived its budget token's lease in %s (the process stalled, or Redis "
            "lost the key): that second may have held one call more than the budget",
            self.host,
            safe_url(self.url),
        )

    def calls_today(self) -> int:
        """Calls counted this UTC day by every process that shares the Redis."""
        count = self.client.get(self._day_key(int(time.time() // 86400)))
        return int(count or 0)  # type: ignore[arg-type]  # redis-py types sync and async answers as one

    # -- async ------------------------------------------------------------------------------

    async def try_take_async(self, tokens: int, rest: float) -> Held | float:
        """As :meth:`try_take`, awaiting Redis on the running loop; a task renews the lease."""
        client = self.async_client()
        for slot in random.sample(range(tokens), tokens):
            lock = AsyncLock(client, self._key(slot), timeout=_lease(rest), thread_local=False)
            if await lock.acquire(blocking=False):
                held = Held(lock)
                held.renewer = asyncio.create_task(self._renew_async(lock))
                return held
        return BUSY_POLL * (1 + random.random())

    @staticmethod
    async def _renew_async(lock: AsyncLock) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await lock.reacquire()
            except (LockError, redis.RedisError):
                return

    async def give_back_async(self, held: Held, rest: float) -> tuple[int, int]:
        """As :meth:`give_back`, awaiting Redis on the running loop."""
        if isinstance(held.renewer, asyncio.Task):
            held.renewer.cancel()
        assert isinstance(held.lock, AsyncLock)
        day = int(time.time() // 86400)
        try:
            await held.lock.extend(rest, replace_ttl=True)
        except LockError:
            self._lease_lost()
        async with self.async_client().pipeline() as pipe:
            pipe.incr(self._day_key(day))
            pipe.expire(self._day_key(day), DAY_KEPT)
            calls = int((await pipe.execute())[0])
        return day, calls

    def close(self) -> None:
        """Drop the clients (after a fork: the child opens its own connections)."""
        self._client = None
        self._async_clients = weakref.WeakKeyDictionary()
