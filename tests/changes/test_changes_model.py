"""The model-based crash test of change capture (hypothesis stateful testing) against the emulator,
with the state on local files and on a real S3 endpoint (moto's server).

A random sequence of export edits (new, changed, deleted by absence or by ``isDeleted``, repeated
ids, ids with surrounding spaces, null fields, invalid lines, rejected duplicates, lines Gong refuses,
compact or spaced JSON) and runs: every sync mode, ``reset_state``, crashes while staging (lease,
recovery, plan), before the upload, between its generations, after it, and at every write of a
commit (claim, buckets, HEAD, plan removal, garbage, lease: injected by a wrapper around the state
store's three write calls), commit retries, clears and retries of the same run, a later
generation's task failed before the commit, mass deletes withheld for an approval (approved
and answered, approved but unanswered, approved then a crash, rejected), overlapping runs (excluded
by the lease, or a run that lost an expired lease), and Gong's answers (DONE; FAILED with a complete
list from the emulator itself; FAILED with no error and no ``totalErrorCount``; FAILED with 20 errors
and no ``totalErrorCount``; DONE with line errors; an answer lost to a 500 after Gong stored the
file; a 429 that kept the file from Gong).

Gong's answers other than the emulator's own are modelled at the commit's boundary (the status the
commit is given), not as HTTP faults: the hook's retries would only add time, and what matters is
what the commit is shown. Invariants, after every step: a record present in the source is never
deleted in Gong; the state never claims a content Gong does not hold (once no plan is in flight);
after a clean mirror run, Gong equals the valid source; an unchanged rerun then uploads nothing but
the lines Gong refuses (each named in the report); a clean run never fails, whatever came before.

Examples are bounded for CI; ``GONG_MODEL_EXAMPLES=500 make test-model`` runs many more.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gong_provider.changes import ChangePlan, GongStateConflictError, commit_changes, stage_changes
from gong_provider.changes.capture import iter_state
from gong_provider.changes.state import LIVE, TOMBSTONE, StateStore, digest_of
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.models import CustomField, RecordError, RequestState, RequestStatus
from gong_provider.operators.gong import GongUploadEntitiesOperator
from gong_provider.operators.upload_files import UploadFile, file_facts, resolve_files
from tests.changes.clock import Clock
from tests.support.gong_tasks import task_context

TYPE = "CONTACT"
IDS = 6
SCORE = [CustomField("score", "Score", "STRING")]
"""Staging takes ``score`` as a string; Gong's schema says NUMBER: "high" passes staging, Gong refuses it."""
EXAMPLES = int(os.environ.get("GONG_MODEL_EXAMPLES", "0"))
ANSWERS = ["done", "done", "done", "failed_bare", "failed_20", "done_line_errors", "lost_500", "refused_429"]
NOTHING_STORED = {"failed_bare", "failed_20", "done_line_errors", "refused_429"}
"""Answers that do not prove a line stored are modelled at their worst: Gong stored nothing."""


class Crash(Exception):
    """The worker dies at an injected point."""


class WriteFaults:
    """Wraps the state store's writes (write_file, create_file, remove_file): the ``n``-th raises."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.countdown: int | None = None
        for name in ("write_file", "create_file", "remove_file"):
            real = getattr(StateStore, name)
            monkeypatch.setattr(StateStore, name, self._wrap(real))

    def _wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def write(store: StateStore, *args: Any) -> Any:
            if self.countdown is not None:
                if self.countdown == 0:
                    self.countdown = None
                    raise Crash(f"killed at {real.__name__}{args[:1]}")
                self.countdown -= 1
            return real(store, *args)

        return write


@dataclass
class Entry:
    kind: str
    """ok, null, deleted, spaced (objectId " cN"), invalid (a staging reject), refused (by Gong)."""
    version: int
    spaced_json: bool = False


def record_of(number: int, entry: Entry) -> dict[str, Any]:
    record: dict[str, Any] = {
        "objectId": f"c{number}",
        "modifiedDate": "2026-01-01T00:00:00Z",
        "firstName": f"v{entry.version}",
    }
    if entry.kind == "null":
        record["lastName"] = None
    elif entry.kind == "deleted":
        record["isDeleted"] = True
    elif entry.kind == "spaced":
        record["objectId"] = f" c{number}"
    elif entry.kind == "invalid":
        record["modifiedDate"] = "not a date"
    elif entry.kind == "refused":
        record["score"] = "high"
    return record


def compact(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


@dataclass
class Harness:
    """What the machine drives: the emulator, the hook, the state base, the clock, the write faults."""

    tmp: Path
    state_base: Any
    hook: GongCrmHook
    emulator: EmulatorProcess
    client: Any
    clock: Clock
    faults: WriteFaults
    integration_id: int = 0
    bases: list[Any] = field(default_factory=list)

    def store(self, base: Any) -> StateStore:
        return StateStore(base, self.integration_id, TYPE)

    def fresh_gong(self) -> None:
        """An example starts with an emulator holding nothing."""
        self.client.reset()
        self.integration_id = self.emulator.integration_id


def airflow_run_id(run_key: str) -> str:
    """The Airflow run id of a model run: the same across the run's clears and retries."""
    return f"scheduled__{run_key}T00:00:00+00:00"


def dag_request_ids(h: Harness, plan: ChangePlan, run_key: str) -> dict[str, str]:
    """Each file's clientRequestId as the sync DAG's upload tasks derive it (the operator's own
    derivation): generation 0 one mapped ``upload`` task per file, named by its path; the later
    generations one ``later_generations`` task, named by staged-file dicts; every id scoped to the
    Airflow run id, which a cleared run keeps (never ``plan.run_token``, new at each attempt); a
    BUSINESS_USER's re-association deletes one ``delete_changed_users`` task."""
    generations = plan.manifest.generations
    tasks: list[tuple[str, int, list[UploadFile]]] = [
        ("upload", index, resolve_files(staged.path)[0])
        for index, staged in enumerate(generations[0] if generations else [])
    ]
    if plan.reassociate_files:  # BUSINESS_USER: one task, named by the paths, before ``upload``
        tasks.append(("delete_changed_users", -1, resolve_files(plan.reassociate_files)[0]))
    if plan.withheld_files:  # sent once approved: one task, named by the paths
        tasks.append(("send_approved_deletes", -1, resolve_files(plan.withheld_files)[0]))
    later = [dataclasses.asdict(staged) for generation in generations[1:] for staged in generation]
    if later:
        tasks.append(("later_generations", -1, resolve_files(later)[0]))
    ids: dict[str, str] = {}
    for task_id, map_index, uploads in tasks:
        operator = GongUploadEntitiesOperator(
            task_id=task_id, integration_id=str(h.integration_id), object_type=plan.object_type, file=[]
        )
        context = task_context(
            dag_id="gong_crm_sync", task_id=task_id, run_id=airflow_run_id(run_key), map_index=map_index
        )
        for upload in uploads:
            ids[upload.path] = operator._client_request_id_for(
                context, upload, file_facts(upload), h.integration_id, plan.object_type, upload.plan_token
            )
    return ids


def wait_for(h: Harness, request_id: str) -> RequestStatus:
    """Gong's final answer for one request (polled, bounded)."""
    deadline = time.monotonic() + 30
    while True:
        status = h.hook.get_request_status(h.integration_id, request_id)
        if status.status.is_terminal:
            return status
        assert time.monotonic() < deadline, f"{request_id} still {status.status}"
        time.sleep(0.01)


class SyncMachine(RuleBasedStateMachine):
    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        h = self.harness
        h.fresh_gong()
        h.hook.set_entity_schema(h.integration_id, TYPE, [CustomField("score", "Score", "NUMBER")])
        self.base = (
            f"{h.state_base}/{uuid.uuid4().hex[:8]}"
            if isinstance(h.state_base, str)
            else h.state_base / uuid.uuid4().hex[:8]
        )
        self.out = uuid.uuid4().hex[:8]
        self.source: dict[int, list[Entry]] = {}
        self.runs = 0
        self.crashed: tuple[str, ChangePlan | None, dict[str, Any]] | None = None
        """The last run's key, plan and statuses when it died before its commit finished."""

    @initialize(confirmed=st.integers(0, 3))
    def confirmed_records(self, confirmed: int) -> None:
        """Start from nothing, or from records Gong holds (one removal away from a delete, so that
        the guard, the approval and the deletes' crashes are reached in a few steps)."""
        if confirmed:
            self.source = {number: [Entry("ok", 0)] for number in range(confirmed)}
            self.clean_mirror_pass()

    # -- the export ------------------------------------------------------------------------------

    @rule(number=st.integers(0, IDS - 1), version=st.integers(0, 2), spaced_json=st.booleans())
    def put(self, number: int, version: int, spaced_json: bool) -> None:
        self.source[number] = [Entry("ok", version, spaced_json)]

    @rule(number=st.integers(0, IDS - 1))
    def remove(self, number: int) -> None:
        self.source.pop(number, None)

    @rule(
        number=st.integers(0, IDS - 1),
        kind=st.sampled_from(["null", "deleted", "spaced", "invalid", "refused", "dup_reject", "repeated"]),
        version=st.integers(0, 2),
    )
    def edit(self, number: int, kind: str, version: int) -> None:
        if kind == "dup_reject":
            self.source[number] = [Entry("invalid", version), Entry("ok", version)]
        elif kind == "repeated":
            self.source[number] = [Entry("ok", version), Entry("ok", version + 1, True)]
        else:
            self.source[number] = [Entry(kind, version)]

    def lines(self) -> list[str]:
        out = []
        for number in sorted(self.source):
            for entry in self.source[number]:
                record = record_of(number, entry)
                out.append(json.dumps(record) if entry.spaced_json else compact(record))
        return out

    def present(self) -> set[str]:
        """objectIds the source still holds (a reject or a spaced id included): never deleted."""
        return {f"c{n}" for n, entries in self.source.items() if entries and entries[-1].kind != "deleted"}

    # -- a run ---------------------------------------------------------------------------------

    def stage(self, run_key: str, **options: Any) -> ChangePlan:
        h = self.harness
        source = h.tmp / f"{run_key}.jsonl"
        source.write_text("".join(line + "\n" for line in self.lines()))
        return stage_changes(
            source,
            object_type=TYPE,
            out_dir=h.tmp / "out" / self.out / run_key,  # as the DAG's: one folder per run, its clears too
            state_base=self.base,
            integration_id=h.integration_id,
            run_key=run_key,
            max_reject_ratio=1.0,
            custom_fields=SCORE,
            **{"max_delete_ratio": 1.0, **options},
        )

    def upload(
        self, plan: ChangePlan, answer: str, run_key: str, generations: int | None = None
    ) -> dict[str, Any]:
        """Generation after generation (the first ``generations`` only, when given), under the ids
        the DAG derives (Gong's 409 for an id it has reuses that request, as the DAG's upload does);
        returns the statuses the commit is shown."""
        h = self.harness
        request_ids = dag_request_ids(h, plan, run_key)
        statuses: dict[str, Any] = {}
        for generation in plan.manifest.generations[:generations]:
            sent = []
            for staged in generation:
                if answer in NOTHING_STORED:
                    statuses[staged.path] = shown(RequestStatus(None, RequestState.FAILED), answer)
                    continue
                request_id = request_ids[staged.path]
                h.hook.upload_entities(h.integration_id, TYPE, request_id, staged.path)
                sent.append((staged.path, request_id))
            for path, request_id in sent:
                statuses[path] = shown(self.wait(request_id), answer)
        return statuses

    def upload_withheld(self, plan: ChangePlan, run_key: str) -> dict[str, Any]:
        """The approved withheld deletes, sent as ``send_approved_deletes`` does; their statuses."""
        h = self.harness
        request_ids = dag_request_ids(h, plan, run_key)
        for path in plan.withheld_files:
            h.hook.upload_entities(h.integration_id, TYPE, request_ids[path], path)
        return {path: self.wait(request_ids[path]) for path in plan.withheld_files}

    def wait(self, request_id: str) -> RequestStatus:
        return wait_for(self.harness, request_id)

    def gong(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self.harness.client.entities(TYPE)
        return result

    def check_never_deleted(self, before: dict[str, Any], present: set[str]) -> None:
        after = self.gong()
        lost = {object_id for object_id in before if object_id in present and object_id not in after}
        assert not lost, f"records present in the source were deleted in Gong: {sorted(lost)}"

    @rule(
        mode=st.sampled_from(["upsert", "mirror", "full"]),
        reset_state=st.booleans(),
        answer=st.sampled_from(ANSWERS),
        crash=st.sampled_from(
            ["none", "none", "before_upload", "mid_upload", "after_upload", "later_failed", "commit"]
        ),
        at_write=st.integers(0, 12),
    )
    def run(self, mode: str, reset_state: bool, answer: str, crash: str, at_write: int) -> None:
        """A run: ``mid_upload`` dies after the first generation went (the later ones never do);
        ``later_failed`` sends only the first generation too (the later generations' task failed)
        and commits what it has, as the DAG's commit does (trigger rule all_done)."""
        h = self.harness
        h.clock.advance(days=1)  # a day later: a dead run's lease has expired
        self.runs += 1
        run_key = f"run-{self.runs}"
        before, present = self.gong(), self.present()
        self.crashed = None
        if not self.present() and mode == "mirror" and not reset_state:
            mode = "upsert"  # an empty source in mirror mode is refused by the guard (test_changes.py)
        plan = self.stage(run_key, mode=mode, reset_state=reset_state)
        statuses: dict[str, Any] = {}
        if crash != "before_upload":
            first_only = crash in ("mid_upload", "later_failed")
            statuses = self.upload(plan, answer, run_key, 1 if first_only else None)
        if crash in ("before_upload", "mid_upload", "after_upload"):
            self.crashed = (run_key, plan, statuses)
        else:
            self.commit(run_key, plan, statuses, at_write if crash == "commit" else None)
        self.check_never_deleted(before, present)

    @rule(decision=st.sampled_from(["approve", "approve_unanswered", "approve_then_crash", "reject"]))
    def mass_delete(self, decision: str) -> None:
        """A mirror run whose deletes the guard withholds for an approval (``max_delete_ratio=0``),
        then a person's answer: approved and sent (answered; unanswered, as when the send failed
        while waiting; or the worker dies before the commit), or rejected (nothing sent)."""
        h = self.harness
        h.clock.advance(days=1)
        self.runs += 1
        run_key = f"run-{self.runs}"
        before, present = self.gong(), self.present()
        self.crashed = None
        if not present:
            return  # an empty source in mirror mode is refused by the guard (test_changes.py)
        plan = self.stage(run_key, mode="mirror", max_delete_ratio=0.0)
        statuses = self.upload(plan, "done", run_key)
        if decision != "reject":
            withheld = self.upload_withheld(plan, run_key)
            statuses |= dict.fromkeys(withheld) if decision == "approve_unanswered" else withheld
        if decision == "approve_then_crash":
            self.crashed = (run_key, plan, statuses)
        else:
            self.commit(run_key, plan, statuses, None)
        self.check_never_deleted(before, present)

    @rule(at_write=st.integers(0, 10))
    def crash_while_staging(self, at_write: int) -> None:
        """The worker dies at a write of ``stage_changes`` (the lease, the recovery of a dead plan, the
        plan and its marker), or right after it, before the upload."""
        h = self.harness
        h.clock.advance(days=1)
        self.runs += 1
        run_key = f"run-{self.runs}"
        before, present = self.gong(), self.present()
        h.faults.countdown = at_write
        try:
            plan = self.stage(run_key, mode="mirror" if present else "upsert", confirm_deletes=10**6)
        except Crash:
            self.crashed = (run_key, None, {})
        else:
            self.crashed = (run_key, plan, {})
        finally:
            h.faults.countdown = None
        self.check_never_deleted(before, present)

    def commit(self, run_key: str, plan: ChangePlan, statuses: dict[str, Any], at_write: int | None) -> None:
        self.harness.faults.countdown = at_write
        try:
            commit_changes(plan, statuses)
        except Crash:
            self.crashed = (run_key, plan, statuses)
        finally:
            self.harness.faults.countdown = None

    @precondition(lambda self: self.crashed is not None and self.crashed[1] is not None)
    @rule()
    def retry_commit(self) -> None:
        """The commit task's retry, same plan, same statuses: idempotent, never a conflict."""
        assert self.crashed is not None
        _, plan, statuses = self.crashed
        assert plan is not None
        commit_changes(plan, statuses)
        self.crashed = None

    @precondition(lambda self: self.crashed is not None)
    @rule(answer=st.sampled_from(["done", "failed_bare"]))
    def clear_and_retry(self, answer: str) -> None:
        """The run is cleared and staged again under its run id (the export may have moved on)."""
        assert self.crashed is not None
        run_key = self.crashed[0]
        before, present = self.gong(), self.present()
        plan = self.stage(run_key, mode="mirror", confirm_deletes=10**6)
        self.commit(run_key, plan, self.upload(plan, answer, run_key), None)
        self.crashed = None
        self.check_never_deleted(before, present)

    @rule(takeover=st.booleans())
    def overlap(self, takeover: bool) -> None:
        """A second run on the same state while the first holds it: refused; or, once the first's
        lease expired, the second takes over and the first cannot commit."""
        h = self.harness
        h.clock.advance(days=1)
        self.runs += 2
        first_key, second_key = f"run-{self.runs - 1}", f"run-{self.runs}"
        before, present = self.gong(), self.present()
        self.crashed = None
        first = self.stage(first_key, mode="mirror", confirm_deletes=10**6)
        first_statuses = self.upload(first, "done", first_key)
        if not takeover:
            with pytest.raises(GongStateConflictError, match="holds the state"):
                self.stage(second_key, mode="mirror", confirm_deletes=10**6)
            commit_changes(first, first_statuses)
        else:
            h.clock.advance(hours=13)
            second = self.stage(second_key, mode="mirror", confirm_deletes=10**6)
            commit_changes(second, self.upload(second, "done", second_key))
            with pytest.raises(GongStateConflictError):
                commit_changes(first, first_statuses)
        self.check_never_deleted(before, present)

    @rule()
    def clean_mirror_run(self) -> None:
        """A clean run never fails, then Gong equals the valid source and a rerun sends nothing new.

        A clean run that rebuilds (because a rebuilding run died before its commit) infers no delete
        (docs/state.md, "Rebuilds keep what they must delete"): the next mirror run deletes what the
        source lost, so Gong is checked after that one."""
        before, present = self.gong(), self.present()
        if self.clean_mirror_pass().rebuild:
            self.check_never_deleted(before, present)
            assert not self.clean_mirror_pass().rebuild, "a clean rebuild's commit did not end the rebuild"
        self.crashed = None
        self.check_never_deleted(before, present)
        gong = self.gong()
        withheld = any(e.kind == "spaced" for entries in self.source.values() for e in entries)
        for number in range(IDS):
            object_id = f"c{number}"
            entries = self.source.get(number, [])
            last = entries[-1] if entries else None
            if last is None:
                assert withheld or object_id not in gong, (
                    f"{object_id} is gone from the source, not from Gong"
                )
            elif last.kind in ("ok", "null"):
                expected = record_of(number, Entry("ok", last.version))
                assert gong.get(object_id) == expected, object_id
            elif last.kind == "deleted":
                assert object_id not in gong, object_id
        self.runs += 1
        rerun_key = f"run-{self.runs}"
        rerun = self.stage(rerun_key, mode="mirror", confirm_deletes=10**6)
        refused = {f"c{n}" for n, entries in self.source.items() if entries[-1].kind == "refused"}
        sent = {
            json.loads(line)["objectId"]
            for f in rerun.files
            for line in Path(f.path).read_text().splitlines()
        }
        assert sent <= refused, f"an unchanged rerun sent {sorted(sent - refused)}"
        report = commit_changes(rerun, self.upload(rerun, "done", rerun_key))
        assert report.left_pending >= len(refused)

    def clean_mirror_pass(self) -> ChangePlan:
        """One mirror run that every answer confirms; it must not fail."""
        self.harness.clock.advance(days=1)
        self.runs += 1
        run_key = f"run-{self.runs}"
        plan = self.stage(run_key, mode="mirror", confirm_deletes=10**6)
        commit_changes(plan, self.upload(plan, "done", run_key))
        return plan

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def the_state_claims_only_what_gong_holds(self) -> None:
        store = self.harness.store(self.base)
        if store.plan_tokens():
            return  # a plan in flight: its keys are pending for the next run, whatever HEAD says
        gong = self.gong()
        for object_id, digest, flag, _ in iter_state(store):
            if flag == LIVE:
                assert object_id in gong, f"the state says Gong holds {object_id}"
                assert digest == digest_of(compact(gong[object_id]).encode()), f"{object_id} differs"
            elif flag == TOMBSTONE:
                assert object_id not in gong, f"the state says {object_id} is deleted"


USERS = 3
USER_ANSWERS = ["done", "failed_bare", "lost_500"]


class BusinessUserMachine(RuleBasedStateMachine):
    """Business users changed the way Gong documents (a delete DONE, then the new version), with the
    delete or the upload refused, lost or never sent (delete_changed_users failed, a worker killed),
    crashes before the commit and at its writes, a run cleared after such a crash (staged again
    under its Airflow run id: its new deletes go, and so must its new versions, byte-identical or
    not); users listed twice (an earlier version before the last); a delete Gong answers DONE while
    refusing its lines (``refused_done``: the new versions go, as the DAG's delete_changed_users goes
    on after an answer that names the refused lines; the refused users stay pending). Invariant: a
    user is never sent as a plain upsert while Gong associates it with another email (its
    re-association unconfirmed) unless Gong refused its delete in that run, and at most once per run
    (its last version); after a clean run Gong associates every user with the source's
    last email."""

    harness: Harness
    ANSWERS = [*USER_ANSWERS, "refused_done"]

    def __init__(self) -> None:
        super().__init__()
        self.harness.fresh_gong()
        self.base = self.harness.tmp / "users" / uuid.uuid4().hex[:8]
        self.emails: dict[int, int] = {}
        self.earlier: dict[int, int] = {}
        """An earlier version listed before the user's last one (a repeated objectId)."""
        self.runs = 0
        self.crashed: str | None = None
        """The run key of the last run when it died before its commit finished."""

    @initialize()
    def confirmed_users(self) -> None:
        """Start where the rule matters: users Gong holds (one re-association away from the bug)."""
        self.emails = dict.fromkeys(range(USERS - 1), 0)
        self.clean_run()

    @rule(number=st.integers(0, USERS - 1), version=st.integers(0, 2))
    def put(self, number: int, version: int) -> None:
        self.emails[number] = version

    @rule(number=st.integers(0, USERS - 1))
    def remove(self, number: int) -> None:
        self.emails.pop(number, None)

    @rule(number=st.integers(0, USERS - 1), version=st.integers(0, 1))
    def repeat(self, number: int, version: int) -> None:
        """The user changes (or is new), and the export lists an earlier version (another email)
        before its last one."""
        self.earlier[number] = version
        self.emails[number] = (self.emails.get(number, -1) + 1) % 3

    def source(self) -> dict[str, str]:
        return {f"u{n}": f"u{n}-v{v}@acme.com" for n, v in self.emails.items()}

    def send(
        self, paths: list[str], answer: str, request_ids: dict[str, str], *, deletes: bool = False
    ) -> dict[str, Any]:
        """Under the ids the DAG derives (a 409 reuses the request Gong has, as the DAG does)."""
        statuses: dict[str, Any] = {}
        for path in paths:
            if answer in NOTHING_STORED:
                statuses[path] = shown(RequestStatus(None, RequestState.FAILED), answer)
                continue
            if answer == "refused_done":  # every line refused, yet DONE
                self.harness.client.inject_fault(
                    "done_with_errors", path="/v2/crm/entities", method="POST", description="refused"
                )
            request_id = request_ids[path]
            self.harness.hook.upload_entities(self.harness.integration_id, "BUSINESS_USER", request_id, path)
            status = wait_for(self.harness, request_id)
            statuses[path] = shown(status, answer)
        return statuses

    @invariant()
    def the_state_claims_only_users_gong_holds(self) -> None:
        store = StateStore(self.base, self.harness.integration_id, "BUSINESS_USER")
        if store.plan_tokens():
            return  # a plan in flight: its keys are pending for the next run, whatever HEAD says
        held = self.harness.client.entities("BUSINESS_USER")
        for object_id, _, flag, _ in iter_state(store):
            if flag == LIVE:
                assert object_id in held, f"the state says Gong holds user {object_id}"

    def check_no_plain_upsert_of_a_changed_user(self, plan: ChangePlan, refused: bool = False) -> None:
        """Gong associates a user with another email only while its delete is unconfirmed; with
        ``refused`` (Gong answered the deletes, refusing their lines) those users' new versions go
        anyway, as plain upserts Gong keeps the old email for: they stay pending, deleted first
        again by the next run, and the other users' new versions are not held back."""
        associated = self.harness.client.user_emails()
        refused_ids = {
            json.loads(line)["objectId"]
            for path in (plan.reassociate_files if refused else [])
            for line in Path(path).read_text().splitlines()
        }
        sent: list[str] = []
        for staged in plan.files:
            for line in Path(staged.path).read_text().splitlines():
                record = json.loads(line)
                sent.append(record["objectId"])
                if record.get("isDeleted") is True:
                    continue
                held = associated.get(record["objectId"])
                assert record["objectId"] in refused_ids or held in (None, record["emailAddress"]), (
                    f"{record['objectId']} sent as a plain upsert while Gong associates it with {held}"
                )
        assert len(sent) == len(set(sent)), f"a user sent twice in one run: {sorted(sent)}"

    @rule(
        mode=st.sampled_from(["upsert", "mirror"]),
        delete_answer=st.sampled_from(ANSWERS),
        upsert_answer=st.sampled_from(ANSWERS),
        crash=st.sampled_from(["none", "none", "before_deletes", "before_commit", "commit"]),
        at_write=st.integers(0, 8),
    )
    def run(self, mode: str, delete_answer: str, upsert_answer: str, crash: str, at_write: int) -> None:
        h = self.harness
        h.clock.advance(days=1)  # a dead run's lease has expired
        self.crashed = None
        run_key = self.next_run()
        plan = self.stage(mode, run_key)
        ids = dag_request_ids(h, plan, run_key)
        statuses: dict[str, Any] = {}
        if crash != "before_deletes":
            statuses = self.send(plan.reassociate_files, delete_answer, ids, deletes=True)
            # the DAG waits for the deletes' answer; one naming the refused lines lets the rest go
            if not plan.reassociate_files or delete_answer in ("done", "refused_done"):
                self.check_no_plain_upsert_of_a_changed_user(plan, refused=delete_answer == "refused_done")
                statuses.update(self.send([f.path for f in plan.files], upsert_answer, ids))
        if crash in ("before_deletes", "before_commit"):
            self.crashed = run_key  # the next run, or a clear of this one, recovers the plan
            return
        h.faults.countdown = at_write if crash == "commit" else None
        try:
            commit_changes(plan, statuses)
        except Crash:
            self.crashed = run_key
        finally:
            h.faults.countdown = None

    @precondition(lambda self: self.crashed is not None)
    @rule()
    def clear_and_retry(self) -> None:
        """The crashed run is cleared: staged again under its run id (its deletes dated anew),
        everything DONE; then a clean run shows what Gong holds."""
        assert self.crashed is not None
        run_key, self.crashed = self.crashed, None
        self.harness.clock.advance(minutes=5)
        self.run_all_done(run_key)

    def run_all_done(self, run_key: str) -> None:
        """Stage in mirror mode, the deletes DONE, then the new versions DONE, then commit."""
        plan = self.stage("mirror", run_key)
        ids = dag_request_ids(self.harness, plan, run_key)
        statuses = self.send(plan.reassociate_files, "done", ids)
        self.check_no_plain_upsert_of_a_changed_user(plan)
        statuses.update(self.send([f.path for f in plan.files], "done", ids))
        commit_changes(plan, statuses)

    @rule()
    def clean_run(self) -> None:
        """Everything DONE: Gong associates every user of the source with its email."""
        self.harness.clock.advance(days=1)
        self.crashed = None
        self.run_all_done(self.next_run())
        associated = self.harness.client.user_emails()
        assert {k: associated.get(k) for k in self.source()} == self.source()
        rerun = self.stage("mirror", self.next_run())
        assert rerun.reassociate_files == []
        assert rerun.files == []
        commit_changes(rerun, {})

    def next_run(self) -> str:
        self.runs += 1
        return f"users-{self.runs}"

    def stage(self, mode: str, run_key: str) -> ChangePlan:
        h = self.harness
        source = h.tmp / f"{run_key}.jsonl"
        earlier = {f"u{n}": f"u{n}-earlier{v}@acme.com" for n, v in self.earlier.items() if n in self.emails}
        users = [
            {"objectId": k, "emailAddress": v, "modifiedDate": "2026-01-01T00:00:00Z"}
            for k, v in [*earlier.items(), *self.source().items()]
        ]
        source.write_text("".join(compact(u) + "\n" for u in users))
        return stage_changes(
            source,
            object_type="BUSINESS_USER",
            out_dir=self.base.parent / "out" / self.base.name / run_key,  # the DAG's: one per run
            state_base=self.base,
            integration_id=h.integration_id,
            run_key=run_key,
            mode=mode if users else "upsert",
            max_delete_ratio=1.0,
        )


def shown(status: RequestStatus, answer: str) -> RequestStatus | None:
    """The answer the commit is shown for a file Gong processed as ``status``."""
    if answer == "failed_bare":
        return RequestStatus(status.request_id, RequestState.FAILED)
    if answer == "failed_20":
        errors = [RecordError(line, "refused") for line in range(1, 21)]
        return RequestStatus(status.request_id, RequestState.FAILED, errors)
    if answer == "done_line_errors":
        return RequestStatus(status.request_id, RequestState.DONE, [RecordError(1, "refused")])
    if answer in ("lost_500", "refused_429"):
        return None
    return status


def _run(harness: Harness, examples: int, steps: int) -> None:
    machine = type("BoundSyncMachine", (SyncMachine,), {"harness": harness})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES or examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=not EXAMPLES,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )


@pytest.fixture
def harness_parts(
    tmp_path: Path,
    conn: str,
    emulator: EmulatorProcess,
    emulator_client: Any,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    return {
        "tmp": tmp_path,
        "hook": GongCrmHook(conn),
        "emulator": emulator,
        "client": emulator_client,
        "clock": clock,
        "faults": WriteFaults(monkeypatch),
    }


def test_the_model_with_local_state(harness_parts: dict[str, Any], tmp_path: Path) -> None:
    _run(Harness(state_base=tmp_path / "state", **harness_parts), examples=20, steps=12)


def test_the_business_user_model(harness_parts: dict[str, Any], tmp_path: Path) -> None:
    harness = Harness(state_base=tmp_path / "state", **harness_parts)
    machine = type("BoundBusinessUserMachine", (BusinessUserMachine,), {"harness": harness})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES or 10,
            stateful_step_count=8,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each step uploads: a shrink takes minutes
            derandomize=not EXAMPLES,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )


def test_the_model_replays_a_cleared_run_that_must_send_a_file_again(
    harness_parts: dict[str, Any], tmp_path: Path
) -> None:
    """A sequence of the bug the model's DAG-like ids made reachable, replayed step by step: a
    cleared run whose new plan stages a file byte-identical to the earlier attempt's (v1 then v2
    sent, the export back to v1) must send it again, not reuse the earlier request's DONE."""
    harness = Harness(state_base=tmp_path / "state", **harness_parts)
    sync = type("BoundSyncMachine", (SyncMachine,), {"harness": harness})()
    sync.put(number=0, version=0, spaced_json=False)
    sync.run(mode="upsert", reset_state=False, answer="done", crash="none", at_write=0)
    sync.edit(number=0, kind="repeated", version=1)  # v1, then v2: two generations
    sync.run(mode="upsert", reset_state=False, answer="done", crash="after_upload", at_write=0)
    sync.put(number=0, version=1, spaced_json=False)  # the export now holds v1 only
    sync.clear_and_retry(answer="done")
    sync.the_state_claims_only_what_gong_holds()
    sync.clean_mirror_run()


def test_the_business_user_model_replays_a_cleared_run_that_must_send_a_user_again(
    harness_parts: dict[str, Any], tmp_path: Path
) -> None:
    """The business-user sequence of the same bug: the cleared run's new delete goes, so the user's
    new version, byte-identical to the earlier attempt's, must go again after it."""
    harness = Harness(state_base=tmp_path / "state", **harness_parts)
    users = type("BoundBusinessUserMachine", (BusinessUserMachine,), {"harness": harness})()
    users.confirmed_users()
    users.put(number=0, version=1)  # u0 changes its email
    users.run(mode="upsert", delete_answer="done", upsert_answer="done", crash="before_commit", at_write=0)
    users.clear_and_retry()
    users.the_state_claims_only_users_gong_holds()
    users.clean_run()


def test_the_model_with_state_on_s3(harness_parts: dict[str, Any], s3: Any) -> None:
    _run(Harness(state_base=s3.url("state"), **harness_parts), examples=3, steps=8)


def test_a_dead_rebuild_then_clean_runs_delete_what_the_source_lost(
    harness_parts: dict[str, Any], tmp_path: Path
) -> None:
    """The sequence the 100-example run found: a reset_state run died before its upload, so the next
    clean mirror run rebuilds and infers no delete; the one after deletes c0 (replayed as found)."""
    harness = Harness(state_base=tmp_path / "state", **harness_parts)
    machine = type("BoundSyncMachine", (SyncMachine,), {"harness": harness})()
    machine.edit(kind="null", number=0, version=0)
    machine.clean_mirror_run()
    machine.remove(number=0)
    machine.run(answer="done", at_write=0, crash="before_upload", mode="upsert", reset_state=True)
    machine.clean_mirror_run()
    assert "c0" not in machine.gong()
    machine.teardown()


def test_approved_deletes_left_unanswered_are_not_recorded_as_confirmed(
    harness_parts: dict[str, Any], tmp_path: Path
) -> None:
    """The review's case, replayed through the machine: approved withheld deletes Gong processed
    whose answer the commit never saw leave their keys pending, never live."""
    harness = Harness(state_base=tmp_path / "state", **harness_parts)
    machine = type("BoundSyncMachine", (SyncMachine,), {"harness": harness})()
    machine.put(number=0, version=0, spaced_json=False)
    machine.put(number=1, version=0, spaced_json=False)
    machine.clean_mirror_run()
    machine.remove(number=0)
    machine.mass_delete(decision="approve_unanswered")
    assert "c0" not in machine.gong()
    machine.the_state_claims_only_what_gong_holds()
    machine.teardown()
