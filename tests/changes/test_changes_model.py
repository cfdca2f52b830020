"""The model-based crash test of change capture (hypothesis stateful testing) against the emulator,
with the state on local files and on a real S3 endpoint (moto's server).

A random sequence of export edits (new, changed, deleted by absence or by ``isDeleted``, repeated
ids, ids with surrounding spaces, null fields, invalid lines, rejected duplicates, lines Gong refuses,
compact or spaced JSON) and runs: every sync mode, ``reset_state``, crashes before the upload, after
it, and at every write of a commit (claim, buckets, HEAD, plan removal, garbage, lease: injected by
a wrapper around the state store's three write calls), commit retries, clears and retries of the
same run, overlapping runs (excluded by the lease, or a run that lost an expired lease), and Gong's
answers (DONE; FAILED with a complete list from the emulator itself; FAILED with no error and no
``totalErrorCount``; FAILED with 20 errors and no ``totalErrorCount``; DONE with line errors; an
answer lost to a 500 after Gong stored the file; a 429 that kept the file from Gong).

Gong's answers other than the emulator's own are modelled at the commit's boundary (the status the
commit is given), not as HTTP faults: the hook's retries would only add time, and what matters is
what the commit is shown. Invariants, after every step: a record present in the source is never
deleted in Gong; the state never claims a content Gong does not hold (once no plan is in flight);
after a clean mirror run, Gong equals the valid source; an unchanged rerun then uploads nothing but
the lines Gong refuses (each named in the report); a clean run never fails, whatever came before.

Examples are bounded for CI; ``GONG_MODEL_EXAMPLES=500 make test-model`` runs many more.
"""

from __future__ import annotations

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
from gong_provider.ids import make_client_request_id
from gong_provider.models import CustomField, RecordError, RequestState, RequestStatus
from tests.changes.clock import Clock

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
        self.source: dict[int, list[Entry]] = {}
        self.runs = 0
        self.crashed: tuple[str, ChangePlan | None, dict[str, Any]] | None = None
        """The last run's key, plan and statuses when it died before its commit finished."""

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
            out_dir=h.tmp / "out" / run_key / uuid.uuid4().hex[:6],
            state_base=self.base,
            integration_id=h.integration_id,
            run_key=run_key,
            max_reject_ratio=1.0,
            max_delete_ratio=1.0,
            custom_fields=SCORE,
            **options,
        )

    def upload(self, plan: ChangePlan, answer: str) -> dict[str, Any]:
        """Generation after generation; returns the statuses the commit is shown."""
        h = self.harness
        statuses: dict[str, Any] = {}
        for generation in plan.manifest.generations:
            sent = []
            for staged in generation:
                if answer in NOTHING_STORED:
                    statuses[staged.path] = shown(RequestStatus(None, RequestState.FAILED), answer)
                    continue
                request_id = make_client_request_id(
                    dag_id="model",
                    task_id="upload",
                    run_id=plan.run_token,
                    map_index=None,
                    object_type=TYPE,
                    content_sha256=staged.sha256,
                )
                h.hook.upload_entities(h.integration_id, TYPE, request_id, staged.path)
                sent.append((staged.path, request_id))
            for path, request_id in sent:
                statuses[path] = shown(self.wait(request_id), answer)
        return statuses

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
        crash=st.sampled_from(["none", "none", "before_upload", "after_upload", "commit"]),
        at_write=st.integers(0, 12),
    )
    def run(self, mode: str, reset_state: bool, answer: str, crash: str, at_write: int) -> None:
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
            statuses = self.upload(plan, answer)
        if crash in ("before_upload", "after_upload"):
            self.crashed = (run_key, plan, statuses)
        else:
            self.commit(run_key, plan, statuses, at_write if crash == "commit" else None)
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
        self.commit(run_key, plan, self.upload(plan, answer), None)
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
        first_statuses = self.upload(first, "done")
        if not takeover:
            with pytest.raises(GongStateConflictError, match="holds the state"):
                self.stage(second_key, mode="mirror", confirm_deletes=10**6)
            commit_changes(first, first_statuses)
        else:
            h.clock.advance(hours=13)
            second = self.stage(second_key, mode="mirror", confirm_deletes=10**6)
            commit_changes(second, self.upload(second, "done"))
            with pytest.raises(GongStateConflictError):
                commit_changes(first, first_statuses)
        self.check_never_deleted(before, present)

    @rule()
    def clean_mirror_run(self) -> None:
        """A clean run never fails, then Gong equals the valid source and a rerun sends nothing new."""
        self.harness.clock.advance(days=1)
        self.runs += 1
        run_key = f"run-{self.runs}"
        before, present = self.gong(), self.present()
        plan = self.stage(run_key, mode="mirror", confirm_deletes=10**6)
        commit_changes(plan, self.upload(plan, "done"))
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
        rerun = self.stage(f"run-{self.runs}", mode="mirror", confirm_deletes=10**6)
        refused = {f"c{n}" for n, entries in self.source.items() if entries[-1].kind == "refused"}
        sent = {
            json.loads(line)["objectId"]
            for f in rerun.files
            for line in Path(f.path).read_text().splitlines()
        }
        assert sent <= refused, f"an unchanged rerun sent {sorted(sent - refused)}"
        report = commit_changes(rerun, self.upload(rerun, "done"))
        assert report.left_pending >= len(refused)

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
    crashes before the commit and at its writes; users listed twice (an earlier version before the
    last); a delete Gong answers DONE while refusing its lines (``refused_done``: the DAG's
    delete_changed_users fails, so the commit sees no answer for it and the new versions are not
    sent). Invariant: a user is never sent as a plain upsert while Gong associates it with another
    email (its re-association unconfirmed), and at most once per run (its last version); after a
    clean run Gong associates every user with the source's last email."""

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
        self.requests = 0

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

    def send(self, paths: list[str], answer: str, *, deletes: bool = False) -> dict[str, Any]:
        statuses: dict[str, Any] = {}
        for path in paths:
            if answer in NOTHING_STORED:
                statuses[path] = shown(RequestStatus(None, RequestState.FAILED), answer)
                continue
            if answer == "refused_done":  # every line refused, yet DONE
                self.harness.client.inject_fault(
                    "done_with_errors", path="/v2/crm/entities", method="POST", description="refused"
                )
            self.requests += 1
            request_id = f"users-{uuid.uuid4().hex[:8]}-{self.requests}"
            self.harness.hook.upload_entities(self.harness.integration_id, "BUSINESS_USER", request_id, path)
            status = wait_for(self.harness, request_id)
            if answer == "refused_done" and deletes:
                continue  # delete_changed_users fails on it: no row reaches the commit
            statuses[path] = shown(status, answer)
        return statuses

    def check_no_plain_upsert_of_a_changed_user(self, plan: ChangePlan) -> None:
        """Gong associates a user with another email only while its delete is unconfirmed."""
        associated = self.harness.client.user_emails()
        sent: list[str] = []
        for staged in plan.files:
            for line in Path(staged.path).read_text().splitlines():
                record = json.loads(line)
                sent.append(record["objectId"])
                if record.get("isDeleted") is True:
                    continue
                held = associated.get(record["objectId"])
                assert held in (None, record["emailAddress"]), (
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
        plan = self.stage(mode)
        statuses: dict[str, Any] = {}
        if crash != "before_deletes":
            statuses = self.send(plan.reassociate_files, delete_answer, deletes=True)
            if not plan.reassociate_files or delete_answer == "done":  # the DAG waits for the deletes
                self.check_no_plain_upsert_of_a_changed_user(plan)
                statuses.update(self.send([f.path for f in plan.files], upsert_answer))
        if crash in ("before_deletes", "before_commit"):
            return  # the next run recovers the plan: its keys pending
        h.faults.countdown = at_write if crash == "commit" else None
        try:
            commit_changes(plan, statuses)
        except Crash:
            pass
        finally:
            h.faults.countdown = None

    @rule()
    def clean_run(self) -> None:
        """Everything DONE: Gong associates every user of the source with its email."""
        self.harness.clock.advance(days=1)
        plan = self.stage("mirror")
        statuses = self.send(plan.reassociate_files, "done")
        self.check_no_plain_upsert_of_a_changed_user(plan)
        statuses.update(self.send([f.path for f in plan.files], "done"))
        commit_changes(plan, statuses)
        associated = self.harness.client.user_emails()
        assert {k: associated.get(k) for k in self.source()} == self.source()
        rerun = self.stage("mirror")
        assert rerun.reassociate_files == []
        assert rerun.files == []
        commit_changes(rerun, {})

    def stage(self, mode: str) -> ChangePlan:
        h = self.harness
        self.runs += 1
        run_key = f"users-{self.runs}"
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
            out_dir=h.tmp / "out" / run_key / uuid.uuid4().hex[:6],
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


def test_the_model_with_state_on_s3(harness_parts: dict[str, Any], s3: Any) -> None:
    _run(Harness(state_base=s3.url("state"), **harness_parts), examples=3, steps=8)
