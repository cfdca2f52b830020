"""Gong's rate budget per company, kept across the hooks, threads, event loops and processes of a host.

Gong counts a company's calls (default: 3 in any sliding second, 10,000 a UTC day), whichever
credential, process or host makes them, and answers 429 + Retry-After above that (the hooks honour
it: the backstop). The budget is keyed by the API host, which names the company.

**Tokens, not spacing.** The budget is ``N`` tokens. A call holds one from just before it is sent
until its answer (or error) is back, and the token then rests one second before it is used again.
Gong counts a call at some moment between the sending and the answer, so two calls on one token
are at least a second apart on Gong's own clock whatever the network's jitter; ``N + 1`` calls in
one second would need two on one token. Hence at most ``N`` calls in ANY sliding second, which
spacing calls ``1/N`` apart cannot promise once latency varies by more than its margin.

**Where the tokens live** (connection extra ``budget_scope``):

- ``host`` (default): one lock file per token, ``<budget_dir>/<host>-<digest>.<i>.slot``. A call
  holds the token with a non-blocking ``flock`` (never a blocking one, so an event loop is never
  held up) and the file keeps when the token was last taken and let go and how many calls it
  carried that UTC day. Every process of the host (workers, triggerer, task processes, Celery
  children) shares the tokens; the kernel drops the lock of a process that dies, so a killed worker
  frees its token. The call it had in flight may have reached Gong just before, so its file still
  says "taken, never let go": the next process to hold the token lets it go for the dead one at that
  moment (the dead call was counted before it) and the token rests its second from there.
- ``process``: the tokens live in memory (one budget per process, as before; several processes add
  up and rely on Retry-After).

Hosts do not share files: with several hosts, each keeps its own budget, unless a Redis every host
reaches holds the tokens (``GONG_PROVIDER_BUDGET_URL`` or the ``budget_url`` extra, which wins:
hooks/_redis_budget.py). Redis out of reach: one warning, and the per-host budget above for that
call (Gong's Retry-After is the backstop), never a failed task (see docs/rate-budget.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import random
import re
import struct
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: the host scope falls back to the process scope
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from gong_provider.hooks._redis_budget import Held, RedisBudget

log = logging.getLogger("gong_provider.hooks")

SCOPES = ("host", "process")
DEFAULT_SCOPE = "host"
DEFAULT_CALLS_PER_DAY = 10_000
"""Gong's default daily budget per company: used to warn, never to hold calls back (docs/rate-budget.md)."""
BUDGET_DIR_ENV = "GONG_PROVIDER_BUDGET_DIR"
"""Environment variable for the default budget directory (the ``budget_dir`` extra wins)."""
BUDGET_URL_ENV = "GONG_PROVIDER_BUDGET_URL"
"""Environment variable for the Redis every host shares the budget through (the ``budget_url`` extra wins)."""
REDIS_RETRY_AFTER = 30.0
"""Seconds a process keeps the per-host budget after Redis could not be reached, before trying it again."""
REST_MARGIN = 0.05
"""Seconds a token rests beyond the window: headroom for clock resolution on either side."""
BUSY_POLL = 0.02
"""How often a caller looks again while every token is held by a call in flight (plus jitter)."""
DAY_WARNINGS = (0.8, 1.0)
"""Shares of the daily budget at which a process warns (once each per UTC day)."""
_RECORD = struct.Struct("<dqqd")
"""A token's file: when it was let go (epoch seconds), that UTC day's number, the day's calls, and
when it was last taken (last, so a file of an older release, without it, still reads)."""
_OLD_RECORD = struct.Struct("<dqq")


@dataclass(frozen=True)
class BudgetSettings:
    """How a connection spends its company's budget (from the connection's extras)."""

    host: str
    calls_per_second: float
    calls_per_day: int = DEFAULT_CALLS_PER_DAY
    scope: str = DEFAULT_SCOPE
    directory: str | None = None
    url: str | None = None

    @property
    def tokens(self) -> int:
        """Calls allowed in any sliding second: ``calls_per_second`` rounded down, at least 1."""
        return max(1, math.floor(self.calls_per_second + 1e-9))

    @property
    def rest(self) -> float:
        """Seconds a token rests after its call: one second, longer for a rate below one per second."""
        return max(1.0, self.tokens / self.calls_per_second) + REST_MARGIN

    @property
    def budget_url(self) -> str | None:
        """The Redis the budget is shared through, or None for the per-host (or per-process) budget."""
        return self.url or os.environ.get(BUDGET_URL_ENV, "").strip() or None

    @property
    def budget_dir(self) -> Path:
        return Path(
            self.directory
            or os.environ.get(BUDGET_DIR_ENV)
            or Path(tempfile.gettempdir()) / "gong-provider-budget"
        )


def budget_host(base_url: str) -> str:
    """The company a base URL names: its host and port, lower-cased (scheme and path do not count)."""
    _, _, rest = base_url.partition("://")
    return rest.split("/", 1)[0].lower()


@dataclass(frozen=True)
class _Token:
    released_at: float = 0.0
    day: int = 0
    calls: int = 0
    taken_at: float = 0.0

    @property
    def never_let_go(self) -> bool:
        """Taken after its last release: read under the token's lock, its holder died in a call."""
        return self.taken_at > self.released_at

    def taken(self, now: float) -> _Token:
        return _Token(self.released_at, self.day, self.calls, now)

    def let_go(self, now: float) -> _Token:
        """Released at ``now`` with its call counted for the day (never before it was taken, even
        when the clock stepped back, so it does not look never let go)."""
        day = int(now // 86400)
        calls = self.calls + 1 if self.day == day else 1
        return _Token(max(now, self.taken_at), day, calls, self.taken_at)


class _DayWarnings:
    """Warns once per UTC day at each share of ``DAY_WARNINGS`` a company's calls reach (one per budget)."""

    def __init__(self) -> None:
        self._warned: tuple[int, float] = (0, 0.0)

    def check(self, host: str, day: int, calls: int, per_day: int) -> None:
        if per_day <= 0:
            return
        reached = max((share for share in DAY_WARNINGS if calls >= share * per_day), default=0.0)
        warned_day, warned_share = self._warned
        if reached and (warned_day != day or reached > warned_share):
            self._warned = (day, reached)
            log.warning(
                "Gong calls to %s today (UTC): %s of the company's %s a day%s",
                host,
                calls,
                per_day,
                "; Gong answers 429 until midnight UTC once they are spent" if reached >= 1 else "",
            )


class _Budget:
    """The token logic; subclasses say where tokens are held and their records kept."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self.day_warnings = _DayWarnings()

    # -- storage: called with self._lock held ----------------------------------------------

    def _try_hold(self, slot: int) -> bool:
        raise NotImplementedError

    def _let_go(self, slot: int) -> None:
        raise NotImplementedError

    def _read(self, slot: int) -> _Token:
        raise NotImplementedError

    def _write(self, slot: int, token: _Token) -> None:
        raise NotImplementedError

    # -- the budget ------------------------------------------------------------------------

    def try_take(self, settings: BudgetSettings) -> int | float:
        """A token (``int``) now, or the seconds (``float``) to wait before trying again."""
        wait = math.inf
        with self._lock:
            now = time.time()
            for slot in range(settings.tokens):
                if slot in self._held or not self._try_hold(slot):
                    wait = min(wait, BUSY_POLL * (1 + random.random()))
                    continue
                token = self._read(slot)
                if token.never_let_go:
                    token = self._let_go_for_the_dead(slot, token, now)
                # min(): a clock stepped back never makes a token rest longer than ``rest``
                ready = min(token.released_at, now) + settings.rest
                if ready <= now:
                    self._write(slot, token.taken(now))
                    self._held.add(slot)
                    return slot
                self._let_go(slot)
                wait = min(wait, ready - now)
        return wait

    def _let_go_for_the_dead(self, slot: int, token: _Token, now: float) -> _Token:
        """A process died holding the token: its call may have reached Gong a moment ago, so the
        token is let go (and the call counted) now, and rests from now."""
        log.warning(
            "A process died in a Gong call to %s holding budget token %s: it rests from now", self.host, slot
        )
        token = token.let_go(now)
        self._write(slot, token)
        return token

    def give_back(self, slot: int, settings: BudgetSettings) -> None:
        """Let a token go once its call is answered (or failed), and count the call for the day."""
        with self._lock:
            token = self._read(slot).let_go(time.time())
            self._write(slot, token)
            self._let_go(slot)
            self._held.discard(slot)
            today = self._calls_on(token.day, settings.tokens)
        self.day_warnings.check(self.host, token.day, today, settings.calls_per_day)

    def calls_today(self, tokens: int) -> int:
        """Calls counted this UTC day through tokens ``0 .. tokens - 1`` (every process of the scope)."""
        with self._lock:
            return self._calls_on(int(time.time() // 86400), tokens)

    def _calls_on(self, day: int, tokens: int) -> int:
        return sum(token.calls for token in map(self._read, range(tokens)) if token.day == day)

    def close(self) -> None:
        """Forget the budget (after a fork, or in tests)."""


class _MemoryBudget(_Budget):
    """Tokens in this process's memory: the ``process`` scope."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self._tokens: dict[int, _Token] = {}

    def _try_hold(self, slot: int) -> bool:
        return True  # ``_held`` already keeps the process's own calls apart

    def _let_go(self, slot: int) -> None:
        pass

    def _read(self, slot: int) -> _Token:
        return self._tokens.get(slot, _Token())

    def _write(self, slot: int, token: _Token) -> None:
        self._tokens[slot] = token


class _FileBudget(_Budget):
    """Tokens as lock files shared by every process of the host: the ``host`` scope."""

    def __init__(self, host: str, directory: Path) -> None:
        super().__init__(host)
        safe = re.sub(r"[^A-Za-z0-9.-]", "_", host)[:80]
        self._stem = directory / f"{safe}-{hashlib.sha256(host.encode()).hexdigest()[:8]}"
        self._fds: dict[int, int] = {}
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd(0)  # fail here, not on a call, when the directory cannot be used

    def _fd(self, slot: int) -> int:
        fd = self._fds.get(slot)
        if fd is None:
            fd = self._fds[slot] = os.open(
                f"{self._stem}.{slot}.slot", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        return fd

    def _try_hold(self, slot: int) -> bool:
        try:
            fcntl.flock(self._fd(slot), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _let_go(self, slot: int) -> None:
        fcntl.flock(self._fd(slot), fcntl.LOCK_UN)

    def _read(self, slot: int) -> _Token:
        data = os.pread(self._fd(slot), _RECORD.size, 0)
        if len(data) == _RECORD.size:
            return _Token(*_RECORD.unpack(data))
        if len(data) == _OLD_RECORD.size:
            return _Token(*_OLD_RECORD.unpack(data))
        return _Token()

    def _write(self, slot: int, token: _Token) -> None:
        record = _RECORD.pack(token.released_at, token.day, token.calls, token.taken_at)
        os.pwrite(self._fd(slot), record, 0)

    def close(self) -> None:
        """Close the files; an inherited copy of a locked file closes without unlocking the parent."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


_BUDGETS: dict[tuple[str, str, str], _Budget] = {}
_BUDGETS_LOCK = threading.Lock()


def budget_for(settings: BudgetSettings) -> _Budget:
    """The process's handle on the company's budget in ``settings.scope`` (one per host and place)."""
    place = str(settings.budget_dir) if settings.scope == "host" else ""
    key = (settings.scope, settings.host, place)
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        if budget is None:
            budget = _BUDGETS[key] = _new_budget(settings)
        return budget


def _new_budget(settings: BudgetSettings) -> _Budget:
    if settings.scope != "host":
        return _MemoryBudget(settings.host)
    if fcntl is None:  # pragma: no cover - not on POSIX
        log.warning("No file locks on this platform: the Gong budget for %s is per process", settings.host)
        return _MemoryBudget(settings.host)
    try:
        return _FileBudget(settings.host, settings.budget_dir)
    except OSError as error:
        log.warning(
            "Cannot keep the Gong budget for %s in %s (%s): it is per process now; set the connection "
            "extra budget_dir (or %s) to a directory every Airflow process of this host can write",
            settings.host,
            settings.budget_dir,
            error,
            BUDGET_DIR_ENV,
        )
        return _MemoryBudget(settings.host)


class _SharedBudget:
    """A company's budget in Redis, and whether this process can reach that Redis now."""

    def __init__(self, redis_budget: RedisBudget) -> None:
        self.redis = redis_budget
        self.day_warnings = _DayWarnings()
        self._down_until = 0.0
        self._warned = False

    @property
    def usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def reached(self) -> None:
        if self._warned:
            self._warned = False
            log.warning("The Gong budget's Redis answers again: %s shares it", self.redis.host)

    def unreachable(self, error: Exception, safe_url: str) -> None:
        """One warning per outage; Redis is tried again ``REDIS_RETRY_AFTER`` seconds later."""
        self._down_until = time.monotonic() + REDIS_RETRY_AFTER
        if not self._warned:
            self._warned = True
            log.warning(
                "Cannot reach the Gong budget's Redis at %s (%s: %s): calls to %s keep this host's "
                "budget (budget_dir) and Gong's Retry-After, trying Redis again every %.0f s",
                safe_url,
                type(error).__name__,
                error,
                self.redis.host,
                REDIS_RETRY_AFTER,
            )


_SHARED: dict[tuple[str, str], _SharedBudget | None] = {}


def _shared_for(settings: BudgetSettings) -> _SharedBudget | None:
    """The process's handle on the company's budget in Redis, or None when there is none to use."""
    url = settings.budget_url
    if url is None:
        return None
    with _BUDGETS_LOCK:
        if (url, settings.host) not in _SHARED:
            _SHARED[(url, settings.host)] = _new_shared(url, settings.host)
        shared = _SHARED[(url, settings.host)]
    return shared if shared is not None and shared.usable else None


def _new_shared(url: str, host: str) -> _SharedBudget | None:
    try:
        from gong_provider.hooks._redis_budget import RedisBudget
    except ImportError as error:
        log.warning(
            "%s (or the budget_url extra) is set but the redis client is not installed (%s): the Gong "
            "budget for %s is this host's; install airflow-provider-gong[redis]",
            BUDGET_URL_ENV,
            error,
            host,
        )
        return None
    return _SharedBudget(RedisBudget(url, host))


def _redis_errors() -> tuple[type[Exception], ...]:
    from gong_provider.hooks._redis_budget import RedisUnavailable

    return (RedisUnavailable, OSError)


def _take_shared(shared: _SharedBudget, settings: BudgetSettings) -> Held | None:
    """A Redis token (waiting with ``time.sleep``), or None when Redis cannot be reached."""
    try:
        while isinstance(taken := shared.redis.try_take(settings.tokens, settings.rest), float):
            time.sleep(taken)
    except _redis_errors() as error:
        shared.unreachable(error, _safe(shared))
        return None
    shared.reached()
    return taken


async def _take_shared_async(shared: _SharedBudget, settings: BudgetSettings) -> Held | None:
    """A Redis token through ``redis.asyncio`` (waiting with ``asyncio.sleep``), or None."""
    try:
        while isinstance(taken := await shared.redis.try_take_async(settings.tokens, settings.rest), float):
            await asyncio.sleep(taken)
    except _redis_errors() as error:
        shared.unreachable(error, _safe(shared))
        return None
    shared.reached()
    return taken


def _counted(shared: _SharedBudget, settings: BudgetSettings, day: int, calls: int) -> None:
    shared.day_warnings.check(settings.host, day, calls, settings.calls_per_day)


def _safe(shared: _SharedBudget) -> str:
    from gong_provider.hooks._redis_budget import safe_url

    return safe_url(shared.redis.url)


@contextmanager
def spend(settings: BudgetSettings) -> Iterator[None]:
    """Hold a token of the company's budget for one call (blocking this thread while none is free)."""
    if settings.calls_per_second <= 0:
        yield
        return
    shared = _shared_for(settings)
    held = _take_shared(shared, settings) if shared is not None else None
    if shared is not None and held is not None:
        try:
            yield
        finally:
            try:
                _counted(shared, settings, *shared.redis.give_back(held, settings.rest))
            except _redis_errors() as error:  # the token's lease runs out by itself
                shared.unreachable(error, _safe(shared))
        return
    budget = budget_for(settings)
    while not isinstance(taken := budget.try_take(settings), int):
        time.sleep(taken)
    try:
        yield
    finally:
        budget.give_back(taken, settings)


@asynccontextmanager
async def spend_async(settings: BudgetSettings) -> AsyncIterator[None]:
    """Hold a token for one call from an event loop: only non-blocking locks, ``asyncio.sleep`` waits."""
    if settings.calls_per_second <= 0:
        yield
        return
    shared = _shared_for(settings)
    held = await _take_shared_async(shared, settings) if shared is not None else None
    if shared is not None and held is not None:
        try:
            yield
        finally:
            try:
                _counted(shared, settings, *await shared.redis.give_back_async(held, settings.rest))
            except _redis_errors() as error:
                shared.unreachable(error, _safe(shared))
        return
    budget = budget_for(settings)
    while not isinstance(taken := budget.try_take(settings), int):
        await asyncio.sleep(taken)
    try:
        yield
    finally:
        budget.give_back(taken, settings)


def shared_calls_today(settings: BudgetSettings) -> int | None:
    """Calls counted this UTC day in the Redis budget (every host's), or None without one."""
    shared = _shared_for(settings)
    return shared.redis.calls_today() if shared is not None else None


def _forget_budgets_after_fork() -> None:
    """A forked child is a new process: fresh locks, its own file handles (the parent keeps its locks)."""
    global _BUDGETS_LOCK
    _BUDGETS_LOCK = threading.Lock()
    for budget in _BUDGETS.values():
        budget.close()
    _BUDGETS.clear()
    for shared in _SHARED.values():
        if shared is not None:
            shared.redis.close()
    _SHARED.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_budgets_after_fork)
