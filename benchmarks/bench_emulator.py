"""Emulator benchmark: peak memory while accepting a 200 MB upload, and processing speed.

1. Streams a ~200 MB LDJSON file (requests-toolbelt) to a fresh emulator on loopback and reads
   the emulator's peak RSS (VmHWM, Linux) before and after; the upload is parked with a long
   processing delay so only its acceptance is measured.
2. Uploads N CONTACT records (default 500,000) with no processing delay and reports records/s
   from the emulator's own accepted/finished times, plus the peak RSS after processing.

Prints one JSON document on stdout. Usage: python benchmarks/bench_emulator.py [--upload-mb 200]
[--records 500000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests
from requests_toolbelt import MultipartEncoder

from gong_provider.emulator.process import EmulatorProcess

MB = 1_000_000


def contact(index: int) -> bytes:
    return (
        json.dumps(
            {
                "objectId": f"contact-{index:09d}",
                "modifiedDate": "2024-03-01T10:11:12Z",
                "url": f"https://crm.example.com/contacts/{index}",
                "accountId": f"account-{index % 20000}",
                "emailAddress": f"person{index}@example.com",
                "firstName": "Jane",
                "lastName": "Doe",
                "title": "VP Sales",
                "phoneNumber": "+1 555 0100",
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


def write_file(path: Path, *, max_bytes: int | None = None, records: int | None = None) -> tuple[int, int]:
    count = 0
    with open(path, "wb") as stream:
        while (records is None or count < records) and (max_bytes is None or stream.tell() < max_bytes - 400):
            stream.write(contact(count))
            count += 1
    return count, path.stat().st_size


def rss(pid: int) -> tuple[float, float]:
    """(current, peak) RSS in MB: VmRSS/VmHWM on Linux, else psutil's RSS for both."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) * 1024 / MB, int(fields["VmHWM"].split()[0]) * 1024 / MB
    current = psutil.Process(pid).memory_info().rss / MB
    return current, current


def upload(emulator: EmulatorProcess, path: Path, object_type: str, client_request_id: str) -> float:
    with open(path, "rb") as stream:
        encoder = MultipartEncoder({"dataFile": (path.name, stream, "application/x-ndjson")})
        start = time.perf_counter()
        response = requests.post(
            f"{emulator.url}/v2/crm/entities",
            params={
                "integrationId": emulator.integration_id,
                "objectType": object_type,
                "clientRequestId": client_request_id,
            },
            data=encoder,
            headers={"Content-Type": encoder.content_type},
            auth=emulator.basic_auth,
            timeout=600,
        )
        elapsed = time.perf_counter() - start
    if response.status_code != 201:
        raise SystemExit(f"upload failed: {response.status_code} {response.text}")
    return elapsed


def wait_done(emulator: EmulatorProcess, client_request_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in emulator.client.requests():
            if request["clientRequestId"] == client_request_id and request["finishedAt"]:
                return request
        time.sleep(0.05)
    raise SystemExit(f"{client_request_id} not processed within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upload-mb", type=float, default=200.0, help="size of the upload (decimal MB)")
    parser.add_argument("--records", type=int, default=500_000, help="records for the processing run")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "emulator",
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": psutil.cpu_count(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as work:
        work_dir = Path(work)
        big = work_dir / "upload.ldjson"
        _, upload_bytes = write_file(big, max_bytes=int(args.upload_mb * MB))
        with EmulatorProcess(
            work_dir / "state-accept", processing_delay=3600, rate_limit_per_second=0
        ) as emulator:
            assert emulator.pid is not None
            before, _ = rss(emulator.pid)
            seconds = upload(emulator, big, "CONTACT", "bench-accept")
            _, peak = rss(emulator.pid)
        results["accept"] = {
            "upload_bytes": upload_bytes,
            "upload_seconds": round(seconds, 3),
            "upload_mb_per_second": round(upload_bytes / MB / seconds, 1),
            "emulator_rss_before_mb": round(before, 1),
            "emulator_peak_rss_mb": round(peak, 1),
            "emulator_peak_rss_growth_mb": round(peak - before, 1),
            "target": "peak RSS < 100 MB",
        }
        big.unlink()

        records_file = work_dir / "contacts.ldjson"
        records, records_bytes = write_file(records_file, records=args.records)
        with EmulatorProcess(
            work_dir / "state-process", processing_delay=0, rate_limit_per_second=0
        ) as emulator:
            assert emulator.pid is not None
            upload(emulator, records_file, "CONTACT", "bench-process")
            request = wait_done(emulator, "bench-process")
            _, peak = rss(emulator.pid)
        processing_seconds = request["finishedAt"] - request["acceptedAt"]
        results["process"] = {
            "records": records,
            "file_bytes": records_bytes,
            "status": request["status"],
            "total_success_count": request["totalSuccessCount"],
            "processing_seconds": round(processing_seconds, 3),
            "records_per_second": round(records / processing_seconds),
            "emulator_peak_rss_mb": round(peak, 1),
            "target": ">= 100,000 records/s",
        }
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
