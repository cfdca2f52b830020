"""Change capture against the emulator through GongCrmHook (stage -> diff -> upload -> wait -> commit).

The model-based test is test_changes_model.py.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from gong_provider.changes import ChangePlan, CommitReport, commit_changes, stage_changes
from gong_provider.changes.capture import iter_state
from gong_provider.changes.state import PENDING, StateStore
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.ids import make_client_request_id
from gong_provider.models import CustomField, RequestStatus
from tests.changes.clock import Clock

TYPE = "CONTACT"


def compact(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


class EmulatorSync:
    """Runs of one type against the emulator; each run's clientRequestIds are scoped to its run key."""

    def __init__(self, tmp: Path, hook: GongCrmHook, integration_id: int, **options: Any) -> None:
        self.tmp = tmp
        self.hook = hook
        self.integration_id = integration_id
        self.options = {"mode": "mirror", "max_reject_ratio": 1.0, **options}

    def stage(self, lines: list[str], **options: Any) -> ChangePlan:
        run_key = f"run-{uuid.uuid4().hex[:8]}"
        source = self.tmp / "export.jsonl"
        source.write_text("".join(line + "\n" for line in lines))
        return stage_changes(
            source,
            object_type=TYPE,
            out_dir=self.tmp / "out" / run_key,
            state_base=self.tmp / "state",
            integration_id=self.integration_id,
            run_key=run_key,
            run_time="2026-03-01T00:00:00Z",
            **{**self.options, **options},
        )

    def upload_and_wait(self, plan: ChangePlan) -> dict[str, RequestStatus]:
        """Generation after generation, each file under a run-scoped id, each waited for."""
        statuses: dict[str, RequestStatus] = {}
        for generation in plan.manifest.generations:
            sent = []
            for staged in generation:
                request_id = make_client_request_id(
                    dag_id="test",
                    task_id="upload",
                    run_id=plan.run_key,
                    map_index=None,
                    object_type=TYPE,
                    content_sha256=staged.sha256,
                )
                self.hook.upload_entities(self.integration_id, TYPE, request_id, staged.path)
                sent.append((staged.path, request_id))
            for path, request_id in sent:
                statuses[path] = self.wait(request_id)
        return statuses

    def wait(self, request_id: str, timeout: float = 30) -> RequestStatus:
        deadline = time.monotonic() + timeout
        while True:
            status = self.hook.get_request_status(self.integration_id, request_id)
            if status.status.is_terminal:
                return status
            assert time.monotonic() < deadline, f"{request_id} still {status.status}"
            time.sleep(0.01)

    def sync(self, lines: list[str], **options: Any) -> tuple[ChangePlan, CommitReport]:
        plan = self.stage(lines, **options)
        return plan, commit_changes(plan, self.upload_and_wait(plan))

    def state(self) -> dict[str, tuple[int, int]]:
        store = StateStore(self.tmp / "state", self.integration_id, TYPE)
        return {object_id: (digest, flag) for object_id, digest, flag, _ in iter_state(store)}


@pytest.fixture
def hook(conn: str) -> GongCrmHook:
    return GongCrmHook(conn)


def contact(number: int, version: int = 0, **extra: object) -> dict[str, Any]:
    return {
        "objectId": f"c{number}",
        "modifiedDate": "2026-01-01T00:00:00Z",
        "firstName": f"v{version}",
        **extra,
    }


def test_a_failed_file_leaves_only_the_lines_gong_listed_pending(
    tmp_path: Path, hook: GongCrmHook, emulator: EmulatorProcess, emulator_client: Any
) -> None:
    # Gong's schema says NUMBER, staging was told STRING: those records pass staging, Gong refuses them
    hook.set_entity_schema(emulator.integration_id, TYPE, [CustomField("score", "Score", "NUMBER")])
    score = [CustomField("score", "Score", "STRING")]
    sync = EmulatorSync(tmp_path, hook, emulator.integration_id, custom_fields=score)
    lines = [compact(contact(n, score="high") if n in (2, 5) else contact(n)) for n in range(8)]
    plan, report = sync.sync(lines)
    assert report.confirmed == 6
    assert report.left_pending == 2
    state = sync.state()
    assert {k for k, (_, flag) in state.items() if flag == PENDING} == {"c2", "c5"}
    assert set(emulator_client.entities(TYPE)) == {f"c{n}" for n in range(8)} - {"c2", "c5"}
    fixed = [compact(contact(n)) for n in range(8)]
    plan, report = sync.sync(fixed)
    assert plan.counts.pending_retried == 2
    assert plan.counts.records_uploaded == 2
    assert report.pending == 0
    assert set(emulator_client.entities(TYPE)) == {f"c{n}" for n in range(8)}


def test_a_crash_between_upload_and_commit_resends_the_in_flight_keys(
    tmp_path: Path, hook: GongCrmHook, emulator: EmulatorProcess, emulator_client: Any, clock: Clock
) -> None:
    sync = EmulatorSync(tmp_path, hook, emulator.integration_id)
    sync.sync([compact(contact(n)) for n in range(6)])
    crashed = sync.stage([compact(contact(n, 1 if n < 2 else 0)) for n in range(6)])
    sync.upload_and_wait(crashed)  # the worker dies here: no commit
    clock.advance(days=1)  # the next daily run (the dead run's lease has expired)
    assert emulator_client.entities(TYPE)["c0"]["firstName"] == "v1"
    # the export goes back to what the state holds; only the in-flight marker says Gong differs
    plan, report = sync.sync([compact(contact(n)) for n in range(6)])
    assert sorted(plan.counts.__dict__.items()) == sorted(
        {**plan.counts.__dict__, "pending_retried": 2, "unchanged": 4, "records_uploaded": 2}.items()
    )
    assert emulator_client.entities(TYPE)["c0"]["firstName"] == "v0"
    assert report.pending == 0
    counts = emulator_client.record_counts(TYPE)
    assert counts["c0"] == 3  # first run, the crashed run, the retry: never twice within a run
    assert counts["c3"] == 1
