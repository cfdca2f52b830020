"""Benchmark: N processes x M calls against the emulator at Gong's 3 calls/s, budget shared vs per process.

Half the processes use the sync hook with the access key, half the async hook (concurrent calls on
one event loop) with the OAuth token: one company, as Gong counts it. Each scope runs once:

- ``host``: the shared budget (the default: token lock files for every process of the host);
- ``process``: a budget per process (the behaviour before the shared budget), the baseline;
- ``redis`` (with ``--budget-url``): every process its own budget directory, as if each were a
  host of its own, and one budget in the Redis at that URL (the several-machines budget).

Reports (JSON on stdout), per scope, from the emulator's own record of when it counted or refused
each call: the most calls sent (counted + refused) and counted in any sliding second, the 429
answers, the calls that failed, wall time.
``python benchmarks/bench_budget.py worker ...`` is one of the hammering processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gong_provider.emulator.process import EmulatorProcess
from gong_provider.emulator.ratelimit import busiest_window
from gong_provider.hooks._ratelimit import BudgetSettings, budget_for, budget_host, shared_calls_today

CONN_ID = "gong_budget"
GONG_CALLS_PER_SECOND = 3


def worker(mode: str, calls: int, ready: Path, go: Path) -> int:
    """One hammering process: ``calls`` list-integrations calls once ``go`` appears; exit 1 if any failed."""
    from gong_provider.hooks.gong import GongCrmAsyncHook, GongCrmHook

    ready.touch()
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.01)
    if mode == "sync":
        failed = 0
        with GongCrmHook(CONN_ID) as hook:
            for _ in range(calls):
                try:
                    hook.list_integrations()
                except Exception as error:
                    print(f"call failed: {error}", flush=True)
                    failed += 1
    else:

        async def main() -> int:
            async with GongCrmAsyncHook(CONN_ID) as hook:
                outcomes = await asyncio.gather(
                    *(hook.list_integrations() for _ in range(calls)), return_exceptions=True
                )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    print(f"call failed: {outcome}", flush=True)
            return sum(isinstance(outcome, BaseException) for outcome in outcomes)

        failed = asyncio.run(main())
    print(f"FAILED-CALLS {failed}", flush=True)
    return 1 if failed else 0


def connection(emulator: EmulatorProcess, *, oauth: bool, extra: dict[str, Any]) -> str:
    conn = json.loads(emulator.connection_json())
    if oauth:
        del conn["login"], conn["password"]
        extra = {**extra, "access_token": emulator.token}
    conn["extra"] = extra
    return json.dumps(conn)


def wait_for(path: Path, processes: list[subprocess.Popen[bytes]], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if any(process.poll() is not None for process in processes):
            raise RuntimeError("a hammering process ended before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.02)


def hammer(
    emulator: EmulatorProcess,
    work_dir: Path,
    *,
    scope: str,
    processes: int,
    calls: int,
    max_retries: int,
    budget_url: str | None = None,
) -> dict[str, Any]:
    """Run the processes at once against a freshly reset emulator; what the emulator saw."""
    emulator.client.reset()
    work_dir.mkdir(parents=True)
    budget_dir = str(work_dir / "budget")
    extra: dict[str, Any] = {"budget_scope": scope, "budget_dir": budget_dir, "max_retries": max_retries}
    if scope == "redis":
        extra["budget_scope"] = "host"
        extra["budget_url"] = budget_url
    go = work_dir / "go"
    started: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for index in range(processes):
            mode, oauth = ("sync", False) if index % 2 == 0 else ("async", True)
            env = dict(os.environ)
            own = {"budget_dir": f"{budget_dir}-{index}"} if scope == "redis" else {}  # a host each
            env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = connection(emulator, oauth=oauth, extra={**extra, **own})
            log = (work_dir / f"worker-{index}.log").open("wb")
            logs.append(log)
            argv = [__file__, "worker", mode, str(calls), str(work_dir / f"ready-{index}"), str(go)]
            started.append(
                subprocess.Popen([sys.executable, *argv], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        for index in range(processes):
            wait_for(work_dir / f"ready-{index}", started)
        began = time.monotonic()
        go.touch()
        for process in started:
            process.wait(timeout=600)
        wall = time.monotonic() - began
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
    failed_calls = 0
    for index in range(processes):
        for line in (work_dir / f"worker-{index}.log").read_text(errors="replace").splitlines():
            if line.startswith("FAILED-CALLS "):
                failed_calls += int(line.split()[1])
    rate_log = emulator.client.rate_log()
    counted = sorted(rate_log["counted"])
    budget = BudgetSettings(
        budget_host(emulator.url), GONG_CALLS_PER_SECOND, directory=budget_dir, url=budget_url
    )
    calls_today = {
        "host": lambda: budget_for(budget).calls_today(budget.tokens),
        "redis": lambda: shared_calls_today(budget),
    }
    return {
        "scope": scope,
        "calls": len(counted),
        "max_calls_in_any_sliding_second": busiest_window(counted),
        "max_sent_in_any_sliding_second": busiest_window(counted + rate_log["refused"]),
        "answers_429": len(rate_log["refused"]),
        "failed_calls": failed_calls,
        "exit_codes": [process.returncode for process in started],
        "wall_seconds": round(wall, 2),
        "calls_per_second": round(len(counted) / wall, 2) if wall else None,
        "budget_calls_today": calls_today[scope]() if scope in calls_today else None,
        "counted_times": counted,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        mode, calls, ready, go = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5])
        return worker(mode, calls, ready, go)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", type=int, default=4, help="processes (half sync, half async)")
    parser.add_argument("--calls", type=int, default=10, help="calls per process")
    parser.add_argument(
        "--scopes", nargs="+", default=["host", "process"], choices=["host", "process", "redis"]
    )
    parser.add_argument("--budget-url", help="redis://host:port/db for the redis scope")
    parser.add_argument(
        "--max-retries", type=int, default=10, help="hook retries: the per-process baseline lives on 429s"
    )
    args = parser.parse_args()
    if "redis" in args.scopes and not args.budget_url:
        parser.error("the redis scope needs --budget-url")
    result: dict[str, Any] = {
        "processes": args.processes,
        "calls_per_process": args.calls,
        "gong_calls_per_second": GONG_CALLS_PER_SECOND,
    }
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp:
        settings = {"processing_delay": 0, "rate_limit_per_second": GONG_CALLS_PER_SECOND}
        with EmulatorProcess(Path(tmp) / "emulator", rate_limit_per_day=10**9, **settings) as emulator:
            for scope in args.scopes:
                result[scope] = hammer(
                    emulator,
                    Path(tmp) / scope,
                    scope=scope,
                    processes=args.processes,
                    calls=args.calls,
                    max_retries=args.max_retries,
                    budget_url=args.budget_url,
                )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
