"""Gong's budget per company across hooks and OS processes, checked on the emulator's own clock.

The emulator counts calls the way Gong does (a sliding second per company, every credential alike)
and keeps the time of each call it counted or refused (``/_emulator/rate-log``). These tests start
real processes, sync and async hooks, Basic and OAuth credentials, and check that no sliding second
held more than 3 calls and that Gong never had to answer 429.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.emulator.ratelimit import busiest_window
from gong_provider.hooks._ratelimit import BudgetSettings, budget_for, spend_async
from gong_provider.hooks.gong import INTEGRATIONS_PATH, GongCrmHook
from tests.support.hooks import Heartbeat

BENCH_BUDGET = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_budget.py"

HOLDER = """
import sys, time
from pathlib import Path
from gong_provider.hooks._ratelimit import BudgetSettings, spend

settings = BudgetSettings(host=sys.argv[1], calls_per_second=1, directory=sys.argv[2])
with spend(settings):
    Path(sys.argv[3]).touch()
    time.sleep(600)
"""

CALLER = """
import sys
from gong_provider.hooks.gong import GongCrmHook

GongCrmHook(sys.argv[1]).list_integrations()
sys.exit(3)  # answered: it was not killed holding its token
"""


def wait_for(path: Path, processes: list[subprocess.Popen[bytes]], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        for process in processes:
            assert process.poll() is None, f"a process ended early with {process.returncode}"
        assert time.monotonic() < deadline, f"{path.name} did not appear within {timeout} s"
        time.sleep(0.02)


def connection(emulator: EmulatorProcess, budget_dir: Path, *, oauth: bool, **extra: object) -> str:
    conn = json.loads(emulator.connection_json())
    if oauth:
        conn.pop("login"), conn.pop("password")
        extra["access_token"] = emulator.token
    conn["extra"] = {"max_retries": 0, "budget_dir": str(budget_dir), **extra}  # a 429 would fail
    return json.dumps(conn)


@pytest.fixture
def limited(emulator_client: EmulatorClient) -> EmulatorClient:
    """The emulator at Gong's real limit: 3 calls in any sliding second for the company."""
    emulator_client.configure(rate_limit_per_second=3)
    return emulator_client


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sync_and_async_processes_share_the_company_budget() -> None:
    """Four processes: two sync hooks with the access key, two async hooks with the OAuth token.

    The benchmark's run (its own emulator at 3 calls/s), asserted here on the emulator's record of
    when it counted each call; no retries, so a 429 would fail a call.
    """
    argv = ["--processes", "4", "--calls", "5", "--scopes", "host", "--max-retries", "0"]
    done = subprocess.run(
        [sys.executable, str(BENCH_BUDGET), *argv], capture_output=True, text=True, timeout=540, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout[done.stdout.index("{") :])["host"]
    assert (run["exit_codes"], run["failed_calls"], run["answers_429"]) == ([0, 0, 0, 0], 0, 0)
    assert len(run["counted_times"]) == 20
    assert busiest_window(run["counted_times"]) <= 3
    assert run["budget_calls_today"] == 20  # the token files counted every process's calls


def test_basic_and_oauth_hooks_for_one_host_share_one_budget(
    emulator: EmulatorProcess,
    limited: EmulatorClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    budget_dir = tmp_path / "budget"
    for name, with_token in (("basic", False), ("oauth", True)):
        env = connection(emulator, budget_dir, oauth=with_token, calls_per_day=10)
        monkeypatch.setenv(f"AIRFLOW_CONN_GONG_{name.upper()}", env)
    basic, oauth = GongCrmHook("gong_basic"), GongCrmHook("gong_oauth")
    assert (basic.config.auth_scheme, oauth.config.auth_scheme) == ("Basic", "Bearer")

    for _ in range(4):  # bursts of two: separate budgets would allow 6 in the first second
        basic.list_integrations()
        oauth.list_integrations()

    rate_log = limited.rate_log()
    assert len(rate_log["counted"]) == 8
    assert rate_log["refused"] == []
    assert busiest_window(rate_log["counted"]) <= 3
    budget = basic.config.budget
    assert budget_for(budget).calls_today(budget.tokens) == 8
    warnings = [r.getMessage() for r in caplog.records if "of the company's 10 a day" in r.getMessage()]
    assert warnings, "no warning as the day's budget ran low"
    assert warnings[0].startswith("Gong calls to 127.0.0.1:"), warnings


def test_a_worker_killed_in_a_call_leaves_its_token_resting_from_its_death(
    emulator: EmulatorProcess, limited: EmulatorClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead worker's call reached Gong; the kernel frees its token at once, the budget must not.

    A process sends a call whose answer the emulator holds back, and is SIGKILLed holding its token.
    Hooks then call at full speed on all three tokens: the emulator must never have seen (counted
    or refused) more than 3 calls in a sliding second, the dead call included.
    """
    budget_dir = tmp_path / "budget"
    for name, with_token in (("holder", False), ("basic", False), ("oauth", True)):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_GONG_{name.upper()}", connection(emulator, budget_dir, oauth=with_token)
        )
    hooks = [GongCrmHook("gong_basic"), GongCrmHook("gong_oauth"), GongCrmHook("gong_basic")]
    limited.inject_fault("delay", seconds=4, path=INTEGRATIONS_PATH, method="GET")
    holder = subprocess.Popen([sys.executable, "-c", CALLER, "gong_holder"], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not limited.rate_log()["counted"]:  # Gong has counted the call: now it dies holding
            assert holder.poll() is None, f"the holder ended with {holder.returncode} before its call"
            assert time.monotonic() < deadline, "the holder's call did not reach the emulator in 120 s"
            time.sleep(0.02)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL

    failures: list[BaseException] = []

    def call_twice(hook: GongCrmHook) -> None:
        try:
            for _ in range(2):
                hook.list_integrations()
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    callers = [threading.Thread(target=call_twice, args=(hook,)) for hook in hooks]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=120)
    assert failures == []  # no retries: a 429 would be one

    deadline = time.monotonic() + 60
    while len(limited.requests_log()) < 7:  # the held answer is logged too (not in a later test)
        assert time.monotonic() < deadline, limited.requests_log()
        time.sleep(0.05)
    rate_log = limited.rate_log()
    assert (len(rate_log["counted"]), rate_log["refused"]) == (7, [])
    assert busiest_window(rate_log["counted"] + rate_log["refused"]) <= 3
    budget = hooks[0].config.budget
    assert budget_for(budget).calls_today(budget.tokens) == 7  # the dead worker's call counts too


@pytest.mark.timeout(120)
async def test_a_token_held_by_another_process_is_waited_for_without_blocking_and_freed_by_its_death(
    tmp_path: Path,
) -> None:
    """The kernel drops a dead process's lock: a worker killed mid-call gives its token back, which
    rests its second from the death (the dead call may have just reached Gong) before it is used."""
    settings = BudgetSettings(
        host=f"budget-test-{uuid.uuid4().hex}", calls_per_second=1, directory=str(tmp_path)
    )
    holding = tmp_path / "holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, settings.host, str(tmp_path), str(holding)], start_new_session=True
    )
    try:
        wait_for(holding, [holder])
        assert isinstance(budget_for(settings).try_take(settings), float)  # the only token is taken

        async def one_call() -> float:
            async with spend_async(settings):
                return time.time()

        async with Heartbeat() as heartbeat:
            waiter = asyncio.create_task(one_call())
            while heartbeat.ticks < 30:
                await asyncio.sleep(0.01)
            assert not waiter.done()
            ticks_before_kill = heartbeat.ticks
            killed_at = time.time()
            os.killpg(holder.pid, signal.SIGKILL)
            taken_at = await asyncio.wait_for(waiter, timeout=60)
        assert heartbeat.ticks >= ticks_before_kill
        assert taken_at >= killed_at + settings.rest  # a lower bound: a slow machine only adds to it
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("calls_per_second", "tokens", "rest"),
    [(3, 3, 1.05), (10, 10, 1.05), (1.5, 1, 1.05), (0.5, 1, 2.05)],
)
def test_calls_per_second_becomes_tokens_and_their_rest(
    calls_per_second: float, tokens: int, rest: float
) -> None:
    """At most ``tokens`` calls in any sliding second, and never more than ``calls_per_second`` on average."""
    settings = BudgetSettings(host="h", calls_per_second=calls_per_second)
    assert settings.tokens == tokens
    assert settings.rest == pytest.approx(rest)
    assert settings.tokens / settings.rest <= calls_per_second


def test_an_unusable_budget_dir_falls_back_to_a_budget_per_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    settings = BudgetSettings(
        host=f"fallback-{uuid.uuid4().hex}", calls_per_second=1, directory=str(not_a_dir)
    )
    budget = budget_for(settings)
    assert any("it is per process now" in record.getMessage() for record in caplog.records)
    assert isinstance(budget.try_take(settings), int)
    assert isinstance(budget.try_take(settings), float)  # still a budget: the only token is in use


def test_the_process_scope_keeps_no_files(tmp_path: Path) -> None:
    settings = BudgetSettings(
        host="process-scope", calls_per_second=3, scope="process", directory=str(tmp_path)
    )
    slot = budget_for(settings).try_take(settings)
    assert isinstance(slot, int)
    budget_for(settings).give_back(slot, settings)
    assert list(tmp_path.iterdir()) == []


def test_a_token_file_of_an_older_release_still_reads(tmp_path: Path) -> None:
    """Files written before tokens recorded when they were taken keep the day's count, never taken."""
    settings = BudgetSettings(host=f"older-{uuid.uuid4().hex}", calls_per_second=1, directory=str(tmp_path))
    budget = budget_for(settings)
    (slot_file,) = tmp_path.glob("*.0.slot")
    slot_file.write_bytes(struct.pack("<dqq", time.time() - 5, int(time.time() // 86400), 41))
    slot = budget.try_take(settings)
    assert isinstance(slot, int)  # a file of an older release never says "taken, never let go"
    budget.give_back(slot, settings)
    assert budget.calls_today(settings.tokens) == 42
