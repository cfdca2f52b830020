"""One focused regression test per case of issue 17 that test_changes.py does not hold already
(there: 1 a cleared run, 3 rebuilds keep delete candidates, 5 overlap, 7 a stale claim, 15 delete
dates; test_changes_s3.py: 6 the exclusive claim and 12 object storage)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gong_provider.changes import commit_changes
from gong_provider.changes.commit import file_outcome
from gong_provider.changes.state import LIVE
from gong_provider.models import RecordError, RequestState, RequestStatus
from gong_provider.staging.outdir import OutputDir
from tests.changes.test_changes import DONE, Sync, compact, contact, ids_of


def spaced(record: dict[str, Any]) -> str:
    """As ``json.dumps`` writes by default: whitespace after ``:`` and ``,``."""
    return json.dumps(record)


def test_2_a_reject_for_an_id_with_spaces_never_deletes_the_record(tmp_path: Path) -> None:
    sync = Sync(tmp_path, max_reject_ratio=0.5, max_delete_ratio=1.0)
    sync.sync([contact(n) for n in range(6)])
    records: list[dict[str, Any] | str] = [contact(n) for n in range(5)]
    records.append(contact(5) | {"objectId": " c5"})  # refused by staging: " c5" is not an id
    plan, _ = sync.sync(records)
    assert plan.counts.deleted == 0
    assert plan.counts.deletes_withheld == 1  # c5 looks gone: an unusable id withholds every delete
    assert (plan.withheld_files, plan.guard) == ([], None)  # not the ratio guard: nothing to approve
    assert "isDeleted" not in json.dumps([*ids_of(plan)])
    assert sync.state()["c5"][1] == LIVE
    assert " c5" not in sync.state()
    again, _ = sync.sync(records)  # and nothing is sent for " c5" run after run
    assert again.files == []


def _dies_removing_a_plan_marker(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Kill the worker at its first removal of a plan marker (after HEAD moved); returns the undo."""
    real_remove = OutputDir.remove

    def remove(folder: OutputDir, name: str) -> None:
        if name.startswith("plan-") and name.endswith(".json"):
            raise OSError("worker killed")
        real_remove(folder, name)

    monkeypatch.setattr(OutputDir, "remove", remove)
    return lambda: monkeypatch.setattr(OutputDir, "remove", real_remove)


def test_8_a_commit_that_died_after_head_is_finished_by_its_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(4)])
    plan = sync.stage([contact(n, 1) for n in range(4)])
    undo = _dies_removing_a_plan_marker(monkeypatch)
    with pytest.raises(OSError, match="killed"):
        commit_changes(plan, {f.path: DONE for f in plan.files})
    undo()
    again = commit_changes(plan, {f.path: DONE for f in plan.files})
    assert again.already_committed
    assert sync.store.plan_tokens() == []
    rerun, _ = sync.sync([contact(n, 1) for n in range(4)])
    assert rerun.files == []
    assert rerun.counts.pending_retried == 0


def test_8_the_next_run_removes_a_committed_marker_without_resending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = Sync(tmp_path)
    plan = sync.stage([contact(n) for n in range(4)])
    undo = _dies_removing_a_plan_marker(monkeypatch)
    with pytest.raises(OSError):
        commit_changes(plan, {f.path: DONE for f in plan.files})
    undo()
    rerun, _ = sync.sync([contact(n) for n in range(4)], run_key=plan.run_key)  # the run, cleared
    assert rerun.files == []
    assert not rerun.rebuild


def test_9_a_null_in_one_record_does_not_change_its_neighbours_digests(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([spaced(contact(n)) for n in range(50)])
    with_null = [spaced(contact(n) | {"lastName": None} if n == 20 else contact(n)) for n in range(50)]
    plan, _ = sync.sync(with_null)  # that block goes through the per-record path
    assert plan.files == []
    assert plan.counts.unchanged == 50


def test_10_a_rejected_duplicate_before_a_valid_line_does_not_keep_it_pending(tmp_path: Path) -> None:
    sync = Sync(tmp_path, max_reject_ratio=0.5)
    sync.sync([contact(n) for n in range(4)])
    export: list[dict[str, Any] | str] = [
        contact(0, modifiedDate="not a date"),
        *(contact(n) for n in range(4)),
    ]
    _, report = sync.sync(export)
    assert report.pending == 0
    again, _ = sync.sync(export)
    assert again.files == []
    assert again.counts.pending_retried == 0


def _status(state: RequestState, errors: int, total: int | None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "requestId": "r",
        "status": state.value,
        "errors": [{"line": n + 1, "description": "bad"} for n in range(errors)],
    }
    if total is not None:
        answer["totalErrorCount"] = total
    return answer


@pytest.mark.parametrize(
    ("answer", "proves"),
    [
        (_status(RequestState.FAILED, 0, None), None),
        (_status(RequestState.FAILED, 20, None), None),
        (_status(RequestState.DONE, 2, None), None),
        (_status(RequestState.FAILED, 20, 45), None),
        (_status(RequestState.FAILED, 2, 2), frozenset({1, 2})),
        (_status(RequestState.DONE, 0, None), frozenset()),
    ],
    ids=[
        "failed-no-errors",
        "failed-20-no-total",
        "done-with-errors",
        "failed-incomplete",
        "complete",
        "done",
    ],
)
def test_13_an_answer_that_does_not_prove_a_line_stored_leaves_it_pending(
    answer: dict[str, Any], proves: frozenset[int] | None
) -> None:
    assert RequestStatus.from_json(answer).refused_lines() == proves
    outcome = file_outcome(answer)
    assert outcome.accepts(3) is (proves is not None)
    assert not outcome.accepts(1) or proves == frozenset()


def test_13_failed_without_errors_commits_nothing(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    plan = sync.stage([contact(n) for n in range(3)])
    failed = RequestStatus("r", RequestState.FAILED, [RecordError(0, "")][:0])
    report = commit_changes(plan, {f.path: failed for f in plan.files})
    assert report.confirmed == 0
    assert report.pending == 3


def test_the_digest_is_of_the_canonical_line() -> None:
    from gong_provider.changes.state import digest_of

    record = contact(1, title="a: b, c")
    assert digest_of(spaced(record).encode()) == digest_of(compact(record).encode())
    assert digest_of(compact(record).encode()) != digest_of(compact(contact(1, title="a:b,c")).encode())


def test_a_preview_writes_nothing_under_the_state(tmp_path: Path) -> None:
    """The entry point for a dry run (HITL approval): the plan, and no lease, marker or generation."""
    from gong_provider.changes import preview_changes

    sync = Sync(tmp_path, max_delete_ratio=1.0)
    sync.sync([contact(n) for n in range(4)])
    folder = tmp_path / "state" / "7" / "CONTACT"
    before = sorted(p.name for p in folder.iterdir())
    source = tmp_path / "preview.jsonl"
    source.write_text("".join(compact(contact(n, 1 if n == 0 else 0)) + "\n" for n in range(3)))
    plan = preview_changes(
        source,
        object_type="CONTACT",
        out_dir=tmp_path / "preview",
        state_base=tmp_path / "state",
        integration_id=7,
        mode="mirror",
        max_delete_ratio=1.0,
    )
    assert (plan.counts.changed, plan.counts.deleted, plan.counts.unchanged) == (1, 1, 2)
    assert sorted(p.name for p in folder.iterdir()) == before
    real, _ = sync.sync([contact(n, 1 if n == 0 else 0) for n in range(3)])  # and the real run agrees
    assert real.counts == plan.counts


def test_a_state_of_the_previous_format_is_rebuilt_not_refused(tmp_path: Path) -> None:
    """An upgrade: the first run rebuilds (digests are canonical now), keeping the keys it must delete."""
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(4)])
    head = tmp_path / "state" / "7" / "CONTACT" / "HEAD.json"
    data = json.loads(head.read_text())
    data["format"] = 1
    data["fingerprint"] = "fingerprint of format 1"
    del data["committed_tokens"]
    head.write_text(json.dumps(data))
    plan, report = sync.sync([contact(n) for n in range(3)])
    assert plan.rebuild_reason == "the mapping, normalization options or custom fields changed"
    assert report.live == 4  # c3 stays, for the next mirror run to delete
    again, _ = sync.sync([contact(n) for n in range(3)], max_delete_ratio=1.0)
    assert again.counts.deleted == 1
