"""Upload of a large LDJSON file to the emulator: the hook's streamed upload against `curl -F`.

Each client runs in its own process so its peak RSS growth is its own: the figure is
``ru_maxrss`` after the upload minus the RSS measured just before it (imports done, file not read).
The hook's one-time connection lookup happens before the clock starts; the upload itself (multipart
encoding, sending, Gong's answer) is timed, as curl's whole run is.
Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from gong_provider.emulator.process import EmulatorProcess

_CLIENT = r"""
import json, os, resource, sys, time, psutil
mode, path, conn_json, integration_id, crid = sys.argv[1:6]
os.environ["AIRFLOW_CONN_GONG_DEFAULT"] = conn_json
import requests
from gong_provider.hooks.gong import GongCrmHook
hook = GongCrmHook()
hook.config  # the connection lookup (~0.1 s, once per task) is not part of the upload
conn = json.loads(conn_json)
rss_before = psutil.Process().memory_info().rss
start = time.perf_counter()
if mode == "hook":
    hook.upload_entities(int(integration_id), "CONTACT", crid, path)
else:  # requests' own files= multipart, which builds the whole body in memory
    with open(path, "rb") as fh:
        r = requests.post(
            conn["host"] + "/v2/crm/entities",
            params={"integrationId": integration_id, "objectType": "CONTACT", "clientRequestId": crid},
            files={"dataFile": (os.path.basename(path), fh, "application/x-ndjson")},
            auth=(conn["login"], conn["password"]),
            timeout=600,
        )
        r.raise_for_status()
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": elapsed, "rss_growth_bytes": max(0, peak - rss_before)}))
"""


def make_file(path: Path, size_bytes: int) -> None:
    line_no = 0
    with path.open("wb") as out:
        written = 0
        while written < size_bytes:
            line_no += 1
            line = (
                f'{{"objectId":"c{line_no:09d}","modifiedDate":"2026-11-01T10:00:00Z",'
                f'"accountId":"a{line_no % 5000:06d}","emailAddress":"person{line_no}@example.com",'
                '"firstName":"Ada","lastName":"Lovelace","title":"VP Engineering",'
                '"phoneNumber":"+1 555 0100"}\n'
            ).encode()
            out.write(line)
            written += len(line)


def run_client(mode: str, path: Path, emulator: EmulatorProcess) -> dict[str, float]:
    crid = f"bench-{mode}-{uuid.uuid4().hex[:12]}"
    cmd = [
        sys.executable,
        "-c",
        _CLIENT,
        mode,
        str(path),
        emulator.connection_json(),
        str(emulator.integration_id),
        crid,
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_curl(path: Path, emulator: EmulatorProcess) -> dict[str, float]:
    crid = f"bench-curl-{uuid.uuid4().hex[:12]}"
    url = (
        f"{emulator.url}/v2/crm/entities?integrationId={emulator.integration_id}"
        f"&objectType=CONTACT&clientRequestId={crid}"
    )
    start = time.perf_counter()
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "-o",
            os.devnull,
            "-u",
            f"{emulator.access_key}:{emulator.access_key_secret}",
            "-F",
            f"dataFile=@{path};type=application/x-ndjson",
            url,
        ],
        check=True,
        timeout=900,
    )
    return {"seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=199, help="file size in MB (Gong's limit is 200 MB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client; the best time counts")
    parser.add_argument("--skip-requests-baseline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gong-bench-upload-") as tmp:
        path = Path(tmp) / "contacts.ldjson"
        make_file(path, args.mb * 1024 * 1024)
        size = path.stat().st_size
        with EmulatorProcess(Path(tmp) / "emulator", rate_limit_per_second=1000) as emulator:
            curl = min((run_curl(path, emulator) for _ in range(args.repeat)), key=lambda r: r["seconds"])
            hook = min(
                (run_client("hook", path, emulator) for _ in range(args.repeat)), key=lambda r: r["seconds"]
            )
            result: dict[str, object] = {
                "file_bytes": size,
                "curl_seconds": curl["seconds"],
                "hook_seconds": hook["seconds"],
                "hook_vs_curl": hook["seconds"] / curl["seconds"],
                "hook_rss_growth_bytes": hook["rss_growth_bytes"],
            }
            if not args.skip_requests_baseline:
                naive = run_client("requests", path, emulator)
                result["requests_files_seconds"] = naive["seconds"]
                result["requests_files_rss_growth_bytes"] = naive["rss_growth_bytes"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
