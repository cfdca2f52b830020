"""Benchmark: 1,000 GongRequestStatusTriggers waiting in one event loop on the emulator.

Reports (JSON on stdout):
- CPU seconds and memory (RSS growth, peak) of this process while 1,000 triggers wait for Gong;
- request-status calls per completed request for a 60 s processing delay, counted from the emulator's
  request log, with the default growing schedule (5 s, x1.5, up to 60 s) and with a fixed 5 s poll.

The hook's client-side limit (3 calls/s by default, Gong's limit) is switched off for the benchmark
so that the event loop, not the limiter, is measured. Runs in about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from gong_provider.emulator.process import EmulatorProcess
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.triggers.gong import GongRequestStatusTrigger

RECORD = b'{"objectId":"c-1","modifiedDate":"2026-01-01T00:00:00Z"}\n'


def upload_all(conn_id: str, integration_id: int, ids: list[str], path: Path) -> None:
    with GongCrmHook(conn_id) as hook:
        for request_id in ids:
            hook.upload_entities(integration_id, "CONTACT", request_id, path)


async def wait_all(triggers: list[GongRequestStatusTrigger]) -> list[dict[str, Any]]:
    async def one(trigger: GongRequestStatusTrigger) -> dict[str, Any]:
        events = [event.payload async for event in trigger.run()]
        return events[0]

    return await asyncio.gather(*(one(t) for t in triggers))


def make_triggers(
    conn_id: str, integration_id: int, ids: list[str], deadline: float, factor: float
) -> list[GongRequestStatusTrigger]:
    return [
        GongRequestStatusTrigger(
            integration_id=integration_id,
            client_request_id=request_id,
            gong_conn_id=conn_id,
            end_time=deadline,
            poll_interval=5.0,
            max_poll_interval=60.0,
            backoff_factor=factor,
        )
        for request_id in ids
    ]


class PeakRss:
    """Samples this process's RSS every 0.2 s in a thread."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=20, help="requests per schedule for the call count")
    parser.add_argument("--delay", type=float, default=60.0, help="Gong's processing delay in seconds")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # one log line per call would cost more than the triggers
    results = os.fdopen(os.dup(1), "w")  # stdout carries only the JSON; any log goes to stderr
    sys.stdout.flush()
    os.dup2(2, 1)

    settings = {
        "processing_delay": args.delay,
        "rate_limit_per_second": 1_000_000,
        "rate_limit_per_day": 10**9,
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(Path(tmp) / "sample", **settings) as sample_gong,
        EmulatorProcess(Path(tmp) / "crowd", **settings) as crowd_gong,
    ):
        # Two emulators: the crowd's 1,000 simultaneous calls slow the emulator's answers, which would
        # stretch the sampled triggers' intervals; that is not what the call count should measure.
        for conn_id, gong in (("GONG_SAMPLE", sample_gong), ("GONG_CROWD", crowd_gong)):
            conn = json.loads(gong.connection_json())
            conn["extra"] = {"calls_per_second": 0}
            os.environ[f"AIRFLOW_CONN_{conn_id}"] = json.dumps(conn)
        data = Path(tmp) / "contacts.ldjson"
        data.write_bytes(RECORD)

        growing = [f"bench-grow-{n}" for n in range(args.sample)]
        fixed = [f"bench-fixed-{n}" for n in range(args.sample)]
        crowd = [f"bench-crowd-{n}" for n in range(args.triggers)]
        started_upload = time.monotonic()
        upload_all("gong_crowd", crowd_gong.integration_id, crowd, data)
        upload_all("gong_sample", sample_gong.integration_id, growing + fixed, data)  # full delay ahead
        upload_seconds = time.monotonic() - started_upload

        process = psutil.Process()
        deadline = time.time() + args.delay + 600
        triggers = (
            make_triggers("gong_sample", sample_gong.integration_id, growing, deadline, 1.5)
            + make_triggers("gong_sample", sample_gong.integration_id, fixed, deadline, 1.0)
            + make_triggers("gong_crowd", crowd_gong.integration_id, crowd, deadline, 1.5)
        )
        rss_before = process.memory_info().rss
        cpu_before = time.process_time()
        wall_before = time.monotonic()
        with PeakRss() as peak:
            events = asyncio.run(wait_all(triggers))
        wall = time.monotonic() - wall_before
        cpu = time.process_time() - cpu_before

        statuses = Counter(event["status"] for event in events)
        calls = Counter(
            call["clientRequestId"]
            for gong in (sample_gong, crowd_gong)
            for call in gong.client.requests_log()
            if call["path"] == "/v2/crm/request-status"
        )

        def per_request(ids: list[str]) -> float:
            return sum(calls[i] for i in ids) / len(ids)

        result = {
            "benchmark": "triggers",
            "concurrent_triggers": len(triggers),
            "processing_delay_s": args.delay,
            "upload_seconds": round(upload_seconds, 2),
            "wait_wall_seconds": round(wall, 2),
            "wait_cpu_seconds": round(cpu, 2),
            "cpu_share_of_one_core": round(cpu / wall, 3),
            "rss_before_mb": round(rss_before / 2**20, 1),
            "rss_peak_mb": round(peak.peak / 2**20, 1),
            "rss_growth_per_trigger_kb": round((peak.peak - rss_before) / len(triggers) / 1024, 1),
            "events": dict(statuses),
            "status_calls_per_request_growing_schedule": per_request(growing),
            "status_calls_per_request_fixed_5s_poll": per_request(fixed),
            "status_calls_per_request_crowd": round(per_request(crowd), 2),
            "target_calls_per_request": 6,
        }
        print(json.dumps(result, indent=2), file=results, flush=True)
        if statuses != Counter({"DONE": len(triggers)}):
            sys.exit(1)


if __name__ == "__main__":
    main()
