"""Reading the confirmed ids for reference checks: an unusable state reads as unknown, not as a crash
(a reset_state run reads its own type's state before the commit replaces it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gong_provider.changes import commit_changes, stage_changes
from gong_provider.changes.confirmed import confirmed_ids
from gong_provider.models import RequestState, RequestStatus

DONE = RequestStatus(None, RequestState.DONE)


def test_confirmed_ids_are_the_live_keys_and_a_corrupt_state_reads_as_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "contacts.jsonl"
    source.write_text(
        "".join(
            json.dumps({"objectId": f"c{n}", "modifiedDate": "2026-01-01T00:00:00Z"}) + "\n" for n in range(3)
        )
    )
    state = tmp_path / "state"
    plan = stage_changes(
        source,
        object_type="CONTACT",
        out_dir=tmp_path / "out",
        state_base=state,
        integration_id=7,
        run_key="r1",
    )
    commit_changes(plan, {f.path: DONE for f in plan.files})
    assert sorted(confirmed_ids(state, 7, "CONTACT")) == ["c0", "c1", "c2"]
    head = state / "7" / "CONTACT" / "HEAD.json"
    head.write_text(head.read_text()[:20])
    assert list(confirmed_ids(state, 7, "CONTACT")) == []
    assert "confirmed CONTACT ids are not known" in caplog.text
