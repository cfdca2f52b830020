"""A cleared run plans anew, and its files go to Gong again, through the upload operator.

The sync DAG derives each file's clientRequestId from the Airflow run id, which a cleared run (or a
retried stage task) keeps. A plan of the new attempt may stage a file byte-identical to one the
earlier attempt sent, at the same position, while other requests went in between (a later generation
of the same objectId, a business user's re-association delete): reusing the earlier request's DONE
would confirm content Gong no longer holds. Each planning attempt's files get ids of their own
(``ChangePlan.run_token`` in the staged folders' manifests), and are sent again.

Both upload paths that reuse an earlier request are exercised: a later try asking Gong first
(``try_number`` 2, a cleared task's) and the hook's 409 (``try_number`` 1).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from gong_provider.changes import ChangePlan, commit_changes, stage_changes, statuses_by_file
from gong_provider.changes.capture import iter_state
from gong_provider.changes.state import LIVE, StateStore, digest_of
from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.exceptions import GongConnectionError
from gong_provider.ids import make_client_request_id
from gong_provider.operators.gong import GongUploadEntitiesOperator
from tests.changes.clock import Clock
from tests.support.gong_tasks import run_task, task_context

DAG_ID = "gong_crm_sync"
RUN_R1 = "scheduled__2026-03-02T00:00:00+00:00"


class DagLikeRun:
    """Stages with ``stage_changes`` and uploads with the operator as the sync DAG does: generation 0
    one mapped ``upload`` task per file (a bare path), later generations in ``later_generations``
    (staged-file dicts), a BUSINESS_USER's re-association deletes first in ``delete_changed_users``
    (paths); every id scoped to the Airflow run id, which a cleared run keeps."""

    def __init__(self, tmp: Path, emulator: EmulatorProcess, object_type: str) -> None:
        self.tmp = tmp
        self.emulator = emulator
        self.object_type = object_type
        self.attempts = 0

    def stage(self, records: list[dict[str, Any]], run_id: str) -> ChangePlan:
        self.attempts += 1
        source = self.tmp / f"export-{self.attempts}.jsonl"
        source.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        return stage_changes(
            source,
            object_type=self.object_type,
            out_dir=self.tmp / "runs" / run_id.replace(":", "_").replace("+", "_"),  # as the DAG: per run
            state_base=self.tmp / "state",
            integration_id=self.emulator.integration_id,
            run_key=run_id,
        )

    def upload(self, task_id: str, file: Any, run_id: str, try_number: int, map_index: int = -1) -> Any:
        task = GongUploadEntitiesOperator(
            task_id=task_id,
            integration_id=str(self.emulator.integration_id),
            object_type=self.object_type,
            file=file,
            wait_for_completion=True,
            poll_interval=0.05,
            max_poll_interval=0.2,
            fail_on_record_errors=False,
        )
        context = task_context(
            dag_id=DAG_ID, task_id=task_id, run_id=run_id, map_index=map_index, try_number=try_number
        )
        return run_task(task, context)

    def send(self, plan: ChangePlan, run_id: str, try_number: int) -> list[dict[str, Any]]:
        """Every file of the plan, in the DAG's order; returns the upload rows (the commit's input)."""
        rows: list[dict[str, Any]] = []
        if plan.reassociate_files:
            rows += self.upload("delete_changed_users", plan.reassociate_files, run_id, try_number)
        generations = plan.manifest.generations
        for index, staged in enumerate(generations[0] if generations else []):
            rows.append(self.upload("upload", staged.path, run_id, try_number, map_index=index))
        later = [asdict(staged) for generation in generations[1:] for staged in generation]
        if later:
            rows += self.upload("later_generations", later, run_id, try_number)
        return rows

    def state(self) -> dict[str, tuple[int, int]]:
        store = StateStore(self.tmp / "state", self.emulator.integration_id, self.object_type)
        return {object_id: (digest, flag) for object_id, digest, flag, _ in iter_state(store)}


def contact(version: str) -> dict[str, Any]:
    return {"objectId": "c1", "modifiedDate": "2026-01-01T00:00:00Z", "firstName": version}


@pytest.mark.parametrize("try_number", [1, 2], ids=["hook-409", "earlier-try"])
def test_a_cleared_run_sends_an_earlier_generation_again(
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    conn: str,
    clock: Clock,
    tmp_path: Path,
    try_number: int,
) -> None:
    """v1 then v2 of one objectId in one run, its commit lost; the run is cleared and the export
    now holds v1 only: v1 goes again (its file is byte-identical to the first attempt's generation
    0), Gong ends holding v1, and the state says LIVE at v1."""
    sync = DagLikeRun(tmp_path, emulator, "CONTACT")
    first = sync.stage([contact("v0")], "scheduled__2026-03-01T00:00:00+00:00")
    commit_changes(first, statuses_by_file(sync.send(first, "scheduled__2026-03-01T00:00:00+00:00", 1)))

    clock.advance(days=1)
    attempt_1 = sync.stage([contact("v1"), contact("v2")], RUN_R1)
    assert len(attempt_1.manifest.generations) == 2
    sync.send(attempt_1, RUN_R1, 1)  # the commit never runs (a worker killed, say)
    assert emulator_client.entities("CONTACT")["c1"]["firstName"] == "v2"

    clock.advance(minutes=5)  # the user clears the run: its stage plans again
    attempt_2 = sync.stage([contact("v1")], RUN_R1)
    [gen0] = attempt_2.manifest.files
    assert gen0.sha256 == attempt_1.manifest.generations[0][0].sha256  # the same bytes, same position
    rows = sync.send(attempt_2, RUN_R1, try_number)
    assert [row["already_accepted"] for row in rows] == [False]  # sent again, under an id of its own
    assert [row["plan_token"] for row in rows] == [attempt_2.run_token]  # the commit keeps its plan's
    commit_changes(attempt_2, statuses_by_file(rows))

    held = emulator_client.entities("CONTACT")["c1"]
    assert held["firstName"] == "v1"
    line = Path(gen0.path).read_bytes().rstrip(b"\n")
    assert sync.state()["c1"] == (digest_of(line), LIVE)


def user(email: str) -> dict[str, Any]:
    return {"objectId": "u1", "emailAddress": email, "modifiedDate": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize("try_number", [1, 2], ids=["hook-409", "earlier-try"])
def test_a_cleared_business_user_run_sends_the_new_version_after_its_new_delete(
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    conn: str,
    clock: Clock,
    tmp_path: Path,
    try_number: int,
) -> None:
    """u1 changes from a to b: its delete and its new version are DONE, the commit is lost. The
    cleared run deletes u1 again (a new delete: later dated), so the new version, byte-identical to
    the first attempt's, must go again too: Gong ends associating u1 with b, the state says LIVE."""
    sync = DagLikeRun(tmp_path, emulator, "BUSINESS_USER")
    first = sync.stage([user("a@acme.com")], "scheduled__2026-03-01T00:00:00+00:00")
    commit_changes(first, statuses_by_file(sync.send(first, "scheduled__2026-03-01T00:00:00+00:00", 1)))

    clock.advance(days=1)
    attempt_1 = sync.stage([user("b@acme.com")], RUN_R1)
    assert attempt_1.reassociate_files
    sync.send(attempt_1, RUN_R1, 1)  # the commit never confirms u1
    assert emulator_client.user_emails() == {"u1": "b@acme.com"}

    clock.advance(minutes=5)  # cleared: the re-association delete is dated anew, the upload is not
    attempt_2 = sync.stage([user("b@acme.com")], RUN_R1)
    assert attempt_2.manifest.files[0].sha256 == attempt_1.manifest.files[0].sha256
    rows = sync.send(attempt_2, RUN_R1, try_number)
    assert [row["already_accepted"] for row in rows] == [False, False]
    assert {row["plan_token"] for row in rows} == {attempt_2.run_token}  # the delete's folder too
    commit_changes(attempt_2, statuses_by_file(rows))

    assert emulator_client.user_emails() == {"u1": "b@acme.com"}
    assert set(emulator_client.entities("BUSINESS_USER")) == {"u1"}
    assert sync.state()["u1"][1] == LIVE


def test_a_retried_upload_task_of_the_same_plan_reuses_its_request(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """Within one planning attempt a retry sends nothing twice: try 1 loses its connection after Gong
    stored the file, try 2 finds the same id at Gong. The file of a first run is sent as staged (in
    the type's folder, beside staging's manifest), which names the plan too."""
    sync = DagLikeRun(tmp_path, emulator, "CONTACT")
    plan = sync.stage([contact("v0")], RUN_R1)
    [staged] = plan.manifest.files
    assert "/upload/" not in staged.path  # a rebuild uploads the staged file as it is
    emulator_client.inject_fault("drop_after_store", path="/v2/crm/entities", method="POST")
    with pytest.raises(GongConnectionError):
        sync.upload("upload", staged.path, RUN_R1, try_number=1, map_index=0)
    row = sync.upload("upload", staged.path, RUN_R1, try_number=2, map_index=0)
    assert row["already_accepted"] is True
    assert row["status"] == "DONE"
    assert row["plan_token"] == plan.run_token
    assert emulator_client.upload_counts() == {row["client_request_id"]: 1}
    assert row["client_request_id"] == make_client_request_id(
        dag_id=DAG_ID,
        task_id="upload",
        run_id=RUN_R1,
        map_index=0,
        object_type="CONTACT",
        content_sha256=staged.sha256,
        position=(0, 0, 0),
        plan_token=plan.run_token,
    )
