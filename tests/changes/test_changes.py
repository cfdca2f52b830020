"""Change capture on real files: the diff, the modes, the guards, the commit rules, a corrupt state.

Gong's answers are request statuses built here (the emulator tests are in test_changes_emulator.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from gong_provider.changes import (
    ChangePlan,
    CommitReport,
    GongDeleteGuardError,
    GongStateConflictError,
    GongStateCorruptError,
    StateStore,
    commit_changes,
    stage_changes,
)
from gong_provider.changes.capture import iter_state
from gong_provider.changes.state import LIVE, PENDING, TOMBSTONE, digest_of
from gong_provider.models import CustomField, RecordError, RequestState, RequestStatus
from gong_provider.staging import locate_lines
from tests.changes.clock import Clock

DONE = RequestStatus(None, RequestState.DONE)


def contact(number: int, version: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "objectId": f"c{number}",
        "modifiedDate": "2026-01-01T00:00:00Z",
        "firstName": f"v{version}",
        **extra,
    }


class Sync:
    """One object type synced run after run from a JSON Lines file under ``tmp``."""

    def __init__(self, tmp: Path, object_type: str = "CONTACT", **options: Any) -> None:
        self.tmp = tmp
        self.object_type = object_type
        self.options = {"mode": "mirror", **options}
        self.runs = 0

    def stage(
        self, records: Iterable[Mapping[str, Any] | str], run_key: str | None = None, **options: Any
    ) -> ChangePlan:
        if run_key is None:
            self.runs += 1
            run_key = f"run-{self.runs}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        source = self.tmp / "export.jsonl"
        source.write_text("".join((r if isinstance(r, str) else compact(r)) + "\n" for r in records))
        return stage_changes(
            source,
            object_type=self.object_type,
            out_dir=self.tmp / "out" / run_key,
            state_base=self.tmp / "state",
            integration_id=7,
            run_key=run_key,
            run_time="2026-02-01T06:00:00+00:00",
            **{**self.options, **options},
        )

    def sync(
        self, records: Iterable[Mapping[str, Any] | str], **options: Any
    ) -> tuple[ChangePlan, CommitReport]:
        plan = self.stage(records, **options)
        return plan, commit_changes(plan, {f.path: DONE for f in plan.files})

    @property
    def store(self) -> StateStore:
        return StateStore(self.tmp / "state", 7, self.object_type)

    def state(self) -> dict[str, tuple[int, int, Any]]:
        return {object_id: (digest, flag, extra) for object_id, digest, flag, extra in iter_state(self.store)}


def compact(record: Mapping[str, Any]) -> str:
    """As CRMs export: compact JSON (the staged bytes are what the state's digests compare)."""
    return json.dumps(record, separators=(",", ":"))


def lines_of(plan: ChangePlan) -> list[dict[str, Any]]:
    return [json.loads(line) for f in plan.files for line in Path(f.path).read_text().splitlines()]


def ids_of(plan: ChangePlan) -> list[str]:
    return [record["objectId"] for record in lines_of(plan)]


def test_first_run_sends_everything_and_an_unchanged_rerun_nothing(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    plan, report = sync.sync([contact(n) for n in range(50)])
    assert plan.rebuild
    assert plan.rebuild_reason == "no state yet (first run)"
    assert len(ids_of(plan)) == 50
    assert report.live == 50
    assert report.generation == 1
    again, report = sync.sync([contact(n) for n in range(50)])
    assert again.files == []
    assert again.counts.unchanged == 50
    assert again.counts.records_uploaded == 0
    assert report.generation == 2
    assert report.live == 50


def test_only_new_changed_and_pending_records_are_uploaded(tmp_path: Path, clock: Clock) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(20)])
    plan, _ = sync.sync([contact(n, version=1 if n in (3, 4) else 0) for n in range(1, 22)])
    counts = plan.counts
    assert (counts.new, counts.changed, counts.unchanged, counts.deleted) == (2, 2, 17, 1)
    assert sorted(ids_of(plan)) == ["c0", "c20", "c21", "c3", "c4"]
    deletes = [r for r in lines_of(plan) if r.get("isDeleted")]
    # dated when planned, not with run_time (an old interval's end would back-date them: item 15)
    assert deletes == [{"objectId": "c0", "modifiedDate": "2026-03-01T12:00:00Z", "isDeleted": True}]
    state = sync.state()
    assert "c0" not in state
    assert state["c3"][1] == LIVE
    assert state["c3"][0] == digest_of(compact(contact(3, 1)).encode())


def test_upload_files_keep_generations_and_point_at_the_source_lines(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(10)])
    records = [contact(n) for n in range(10)] + [contact(2, 1), contact(2, 2), contact(5, 1)]
    plan, _ = sync.sync(records)
    generations = plan.manifest.generations
    by_generation = [
        [json.loads(line)["objectId"] for f in g for line in Path(f.path).read_text().splitlines()]
        for g in generations
    ]
    assert by_generation == [["c2", "c5"], ["c2", "c5"], ["c2"]]
    first = generations[0][0]
    located = locate_lines(first, [1, 2])
    assert [(loc.object_id, loc.source_line) for loc in located.values()] == [("c2", 3), ("c5", 6)]
    assert sync.state()["c2"][0] == digest_of(compact(contact(2, 2)).encode())


def test_a_cleared_run_never_drops_its_earlier_attempts_plan(tmp_path: Path) -> None:
    """Item 1: attempt 1 uploads (c0 changed, c3 deleted) and dies before its commit; the run is
    cleared and re-staged with the export back to the old data: every key of attempt 1 is pending."""
    sync = Sync(tmp_path, max_delete_ratio=1.0)
    sync.sync([contact(n) for n in range(6)])
    first = sync.stage([contact(0, 1), *(contact(n) for n in (1, 2, 4, 5))], run_key="daily")
    assert first.counts.deleted == 1
    retry = sync.stage([contact(n) for n in range(6)], run_key="daily")
    assert retry.run_token != first.run_token
    assert sorted(ids_of(retry)) == ["c0", "c3"]
    assert retry.counts.pending_retried == 2
    commit_changes(retry, {f.path: DONE for f in retry.files})
    assert sync.state()["c0"][:2] == (digest_of(compact(contact(0)).encode()), LIVE)
    assert sync.store.plan_tokens() == []


def test_deletes_carry_what_the_type_needs(tmp_path: Path, clock: Clock) -> None:
    stages = Sync(tmp_path / "s", "STAGE", max_delete_ratio=1.0)
    stages.sync([{"objectId": "s1", "name": "Won"}, {"objectId": "s2", "name": "Lost"}])
    plan, _ = stages.sync([{"objectId": "s1", "name": "Won"}])
    assert lines_of(plan) == [
        {"objectId": "s2", "modifiedDate": "2026-03-01T12:00:00Z", "isDeleted": True, "name": "Lost"}
    ]
    users = Sync(tmp_path / "u", "BUSINESS_USER", max_delete_ratio=1.0)
    user = {"objectId": "u1", "modifiedDate": "2026-01-01T00:00:00Z", "emailAddress": "a@b.example"}
    users.sync([user, {**user, "objectId": "u2"}])
    plan, _ = users.sync([user])
    assert lines_of(plan) == [{"objectId": "u2", "modifiedDate": "2026-03-01T12:00:00Z", "isDeleted": True}]


def test_source_deletions_pass_through_and_become_tombstones(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(5)])
    gone = contact(1, isDeleted=True)
    plan, _ = sync.sync([contact(0), gone, *[contact(n) for n in range(2, 5)]])
    assert lines_of(plan) == [gone]
    assert sync.state()["c1"][1] == TOMBSTONE
    again, _ = sync.sync([contact(0), gone, *[contact(n) for n in range(2, 5)]])
    assert again.files == []


def test_upsert_mode_never_deletes(tmp_path: Path) -> None:
    sync = Sync(tmp_path, mode="upsert")
    sync.sync([contact(n) for n in range(10)])
    plan, report = sync.sync([contact(0)])
    assert plan.files == []
    assert plan.counts.deleted == 0
    assert report.live == 10


def test_full_mode_sends_everything_and_keeps_what_it_must_delete(tmp_path: Path) -> None:
    """Item 3: keys confirmed earlier and absent from a rebuild's export stay in the state, so that
    the next mirror run deletes them (behind the guard)."""
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(10)])
    plan, report = sync.sync([contact(n) for n in range(4)], mode="full")
    assert plan.rebuild
    assert len(ids_of(plan)) == 4
    assert plan.counts.deleted == 0
    assert report.live == 10
    plan, report = sync.sync([contact(n) for n in range(4)], max_delete_ratio=1.0)
    assert sorted(ids_of(plan)) == [f"c{n}" for n in range(4, 10)]
    assert plan.counts.deleted == 6
    assert set(sync.state()) == {"c0", "c1", "c2", "c3"}


def test_a_changed_fingerprint_sends_everything(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(5)])
    score = [CustomField(unique_name="score", label="Score", type="STRING")]
    plan, _ = sync.sync([contact(n) for n in range(5)], custom_fields=score)
    assert plan.rebuild
    assert "custom fields" in (plan.rebuild_reason or "")
    assert len(ids_of(plan)) == 5


# -- delete guards ----------------------------------------------------------------------------


def test_an_empty_source_sends_no_delete_and_fails(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(5)])
    with pytest.raises(GongDeleteGuardError, match="no records but Gong holds 5 confirmed"):
        sync.stage([])
    assert sync.store.plan_tokens() == []
    plan, _ = sync.sync([], confirm_deletes=5, max_delete_ratio=1.0, mode="upsert")
    assert plan.files == []


def test_an_empty_source_with_every_delete_confirmed_empties_the_type(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(5)])
    with pytest.raises(GongDeleteGuardError, match="confirm_deletes=5"):
        sync.stage([], confirm_deletes=4)  # fewer than Gong holds: still refused
    plan, report = sync.sync([], confirm_deletes=5)
    assert plan.counts.deleted == 5
    assert sorted(line["objectId"] for line in lines_of(plan)) == [f"c{n}" for n in range(5)]
    assert all(line["isDeleted"] is True for line in lines_of(plan))
    report.raise_for_guard()
    assert report.live == 0


def test_too_many_deletes_are_withheld_unless_confirmed(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(100)])
    plan, report = sync.sync([contact(n, 1 if n == 0 else 0) for n in range(90)])
    assert ids_of(plan) == ["c0"]
    assert plan.counts.deletes_withheld == 10
    assert plan.counts.deleted == 0
    with pytest.raises(GongDeleteGuardError, match=r"10 record\(s\).*confirm_deletes=10"):
        report.raise_for_guard()
    assert sync.state()["c0"][0] == digest_of(compact(contact(0, 1)).encode())  # upserts committed
    plan, report = sync.sync([contact(n, 1 if n == 0 else 0) for n in range(90)], confirm_deletes=10)
    assert plan.counts.deleted == 10
    assert report.live == 90
    report.raise_for_guard()


def test_within_the_ratio_deletes_go(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(100)])
    plan, _ = sync.sync([contact(n) for n in range(95)])
    assert plan.counts.deleted == 5
    assert plan.guard is None


def test_a_reject_without_a_readable_object_id_suppresses_every_delete(tmp_path: Path) -> None:
    sync = Sync(tmp_path, max_reject_ratio=0.5)
    sync.sync([contact(n) for n in range(20)])
    plan, _ = sync.sync([*[contact(n) for n in range(19)], "{not json"])
    assert plan.counts.deleted == 0
    assert plan.counts.deletes_withheld == 1
    assert plan.files == []


def test_a_reject_is_never_deleted_and_is_retried_when_valid(tmp_path: Path) -> None:
    sync = Sync(tmp_path, max_reject_ratio=0.5)
    sync.sync([contact(n) for n in range(10)])
    broken = contact(3, 1, modifiedDate="yesterday")
    plan, _ = sync.sync([*[contact(n) for n in range(10) if n != 3], broken])
    assert plan.counts.rejected == 1
    assert plan.counts.deleted == 0
    assert plan.files == []
    assert sync.state()["c3"][1] == PENDING
    plan, _ = sync.sync([contact(n) for n in range(10)])
    assert plan.counts.pending_retried == 1
    assert ids_of(plan) == ["c3"]
    assert sync.state()["c3"][1] == LIVE


# -- commit rules -----------------------------------------------------------------------------


def failed(lines: list[int], total: int | None = None) -> RequestStatus:
    errors = [RecordError(line, "Field [firstName] must be a string") for line in lines]
    return RequestStatus(None, RequestState.FAILED, errors, total if total is not None else len(errors))


def test_failed_lines_stay_pending_and_the_rest_is_confirmed(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    plan = sync.stage([contact(n) for n in range(10)])
    report = commit_changes(plan, {plan.files[0].path: failed([2, 5])})
    assert (report.confirmed, report.left_pending, report.live, report.pending) == (8, 2, 8, 2)
    state = sync.state()
    assert state["c1"][1] == PENDING
    assert state["c4"][1] == PENDING
    assert state["c0"][1] == LIVE
    plan, _ = sync.sync([contact(n) for n in range(10)])
    assert plan.counts.pending_retried == 2
    assert sorted(ids_of(plan)) == ["c1", "c4"]


def test_an_incomplete_error_list_leaves_the_whole_file_pending(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    plan = sync.stage([contact(n) for n in range(30)])
    report = commit_changes(plan, {plan.files[0].path: failed(list(range(1, 21)), total=25)})
    assert report.confirmed == 0
    assert report.pending == 30
    general = RequestStatus(None, RequestState.FAILED, [RecordError(0, "internal error")], 1)
    plan = sync.stage([contact(n) for n in range(30)])
    assert plan.counts.pending_retried == 30
    assert commit_changes(plan, {plan.files[0].path: general}).pending == 30


def test_status_dicts_from_xcom_and_gong_json_are_accepted(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    plan = sync.stage([contact(n) for n in range(3)])
    gong_json = {
        "requestId": "r",
        "status": "FAILED",
        "errors": [{"line": 1, "description": "x"}],
        "totalErrorCount": 1,
    }
    assert commit_changes(plan, {plan.files[0].path: gong_json}).pending == 1
    plan = sync.stage([contact(n) for n in range(3)])
    assert commit_changes(plan, {plan.files[0].path: DONE.to_dict()}).live == 3


def test_a_run_that_died_in_flight_has_its_keys_sent_again(tmp_path: Path, clock: Clock) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(10)])
    sync.stage([contact(n, 1 if n < 2 else 0) for n in range(10)])  # uploaded, never committed
    with pytest.raises(GongStateConflictError, match="holds the state"):
        sync.stage([contact(n) for n in range(10)])  # the dead run's lease has not expired yet
    clock.advance(days=1)  # the next daily run
    # the source goes back to what the state holds: without the in-flight marker nothing would go
    plan, report = sync.sync([contact(n) for n in range(10)])
    assert sorted(ids_of(plan)) == ["c0", "c1"]
    assert plan.counts.pending_retried == 2
    assert report.pending == 0
    assert sync.store.plan_tokens() == []


def test_a_rebuild_that_died_in_flight_makes_the_next_run_rebuild(tmp_path: Path, clock: Clock) -> None:
    sync = Sync(tmp_path)
    sync.stage([contact(n) for n in range(10)])  # first run, never committed
    clock.advance(days=1)
    plan, report = sync.sync([contact(n) for n in range(10)])
    assert plan.rebuild
    assert len(ids_of(plan)) == 10
    assert report.live == 10


def test_a_commit_retried_after_it_succeeded_returns_the_same_report(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    plan = sync.stage([contact(n) for n in range(4)])
    report = commit_changes(plan, {f.path: DONE for f in plan.files})
    again = commit_changes(ChangePlan.from_dict(json.loads(json.dumps(plan.to_dict()))), {})
    assert again.already_committed
    assert again.generation == report.generation
    assert again.live == 4


def test_two_runs_never_overlap_on_one_state(tmp_path: Path, clock: Clock) -> None:
    """Item 5: the lease, taken before the upload and checked at the commit, excludes overlap; a run
    whose lease expired and was taken over cannot commit (its keys are pending for the taker)."""
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(4)])
    first = sync.stage([contact(n, 1) for n in range(4)], run_key="a")
    with pytest.raises(GongStateConflictError, match="run a holds the state"):
        sync.stage([contact(n, 2) for n in range(4)], run_key="b")
    clock.advance(hours=13)  # a hangs past its lease
    second = sync.stage([contact(n, 2) for n in range(4)], run_key="b")
    with pytest.raises(GongStateConflictError, match="lost the state"):
        commit_changes(first, {f.path: DONE for f in first.files})
    report = commit_changes(second, {f.path: DONE for f in second.files})
    assert report.live == 4
    assert sync.state()["c0"][0] == digest_of(compact(contact(0, 2)).encode())
    third = sync.stage([contact(n, 3) for n in range(4)], run_key="c")  # b released the state
    commit_changes(third, {f.path: DONE for f in third.files})
    with pytest.raises(GongStateConflictError):
        commit_changes(first, {f.path: DONE for f in first.files})


def test_a_stale_claim_is_skipped_not_a_lock(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Item 7: a commit that died between its claim and HEAD does not lock the type."""
    sync = Sync(tmp_path)
    _, report = sync.sync([contact(0)])
    head = sync.store.read_head()
    assert head is not None
    claim = tmp_path / "state" / "7" / "CONTACT" / f"claim-{report.generation + 1:08d}.json"
    claim.write_text('{"run_token": "dead-commit"}')  # its commit died before HEAD
    plan = sync.stage([contact(0, 1)])
    with caplog.at_level("WARNING"):
        report = commit_changes(plan, {f.path: DONE for f in plan.files})
    assert report.generation == head.generation + 2
    assert "dead-commit" in caplog.text
    assert "stale" in caplog.text
    assert sync.state()["c0"][:2] == (digest_of(compact(contact(0, 1)).encode()), LIVE)


# -- a broken state ---------------------------------------------------------------------------


def _bucket_files(sync: Sync) -> list[Path]:
    return sorted((sync.tmp / "state" / "7" / sync.object_type).glob("gen-*.msgpack"))


@pytest.mark.parametrize("damage", ["missing", "truncated", "corrupt", "head"])
def test_a_broken_state_is_a_clear_error_and_reset_recovers(tmp_path: Path, damage: str) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(40)])
    target = _bucket_files(sync)[0]
    if damage == "missing":
        target.unlink()
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:10])
    elif damage == "corrupt":
        data = bytearray(target.read_bytes())
        data[-3] ^= 0xFF
        target.write_bytes(bytes(data))
    else:
        head = tmp_path / "state" / "7" / "CONTACT" / "HEAD.json"
        head.write_text(head.read_text()[:40])
    with pytest.raises(GongStateCorruptError, match="reset_state=True") as caught:
        sync.stage([contact(n) for n in range(2)], run_key="broken")
    assert "CONTACT" in caught.value.location
    upload = tmp_path / "out" / "broken" / "CONTACT" / "upload"
    assert not upload.exists() or not list(upload.glob("*.ldjson")), "nothing may be planned, no delete"
    plan, report = sync.sync([contact(n) for n in range(2)], reset_state=True)
    assert plan.rebuild
    assert plan.counts.deleted == 0
    assert report.live == 2
    again, _ = sync.sync([contact(n) for n in range(2)])
    assert again.files == []
    assert again.counts.unchanged == 2
