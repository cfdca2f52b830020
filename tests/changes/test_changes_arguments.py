"""stage() and stage_changes() take the same time-zone option under both names; run_time=None is now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gong_provider.changes import stage_changes
from gong_provider.staging import stage

NAIVE = [{"objectId": "a-1", "modifiedDate": "2026-03-01 10:00:00", "name": "Acme"}]


def _source(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in NAIVE))
    return path


def _staged_line(folder: Path) -> dict[str, object]:
    files = sorted(p for p in folder.rglob("account-g0-p0.ldjson"))
    return dict(json.loads(files[0].read_text().splitlines()[0]))


@pytest.mark.parametrize("name", ["timezone", "timezone_name"])
def test_both_functions_take_both_names(tmp_path: Path, name: str) -> None:
    source = _source(tmp_path)
    stage(source, object_type="ACCOUNT", out_dir=tmp_path / "a", **{name: "Europe/Paris"})
    stage_changes(
        source,
        object_type="ACCOUNT",
        out_dir=tmp_path / "b",
        state_base=tmp_path / "state",
        integration_id=1,
        run_key="r1",
        **{name: "Europe/Paris"},
    )
    for folder in (tmp_path / "a", tmp_path / "b"):
        assert _staged_line(folder)["modifiedDate"] == "2026-03-01T10:00:00+01:00"


def test_two_different_zones_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give one"):
        stage(
            _source(tmp_path),
            object_type="ACCOUNT",
            out_dir=tmp_path,
            timezone="UTC",
            timezone_name="Asia/Tokyo",
        )


def test_run_time_none_is_now(tmp_path: Path) -> None:
    plan = stage_changes(
        _source(tmp_path),
        object_type="ACCOUNT",
        out_dir=tmp_path / "out",
        state_base=tmp_path / "state",
        integration_id=1,
        run_key="r1",
        run_time=None,
    )
    assert plan.counts.records_uploaded == 1


def test_the_sync_mode_is_parsed_once_at_each_door(tmp_path: Path) -> None:
    """The DAG's Param and the library argument go through one parser; a typo is refused before any
    state is touched, naming the modes."""
    from gong_provider.changes.modes import parse_sync_mode
    from gong_provider.dags.stage import _sync_mode

    assert [parse_sync_mode(mode) for mode in ("upsert", "mirror", "full")] == ["upsert", "mirror", "full"]
    assert _sync_mode({}) == "upsert"
    assert _sync_mode({"sync_mode": "mirror"}) == "mirror"
    assert _sync_mode({"sync_mode": "upsert", "resend_key": "x"}) == "full"
    for bad in ("Mirror", "", None, 1):
        with pytest.raises(ValueError, match="sync mode must be one of upsert, mirror, full"):
            parse_sync_mode(bad)
    with pytest.raises(ValueError, match="got 'mirorr'"):
        _sync_mode({"sync_mode": "mirorr"})
    state = tmp_path / "state"
    with pytest.raises(ValueError, match="got 'mirorr'"):
        stage_changes(
            _source(tmp_path), object_type="ACCOUNT", out_dir=tmp_path / "out", state_base=state,
            integration_id=1, run_key="r", mode="mirorr",
        )  # fmt: skip
    assert not state.exists()
