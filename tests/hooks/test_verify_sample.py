"""verify_sample: uploaded records fetched back through GET /v2/crm/entities (100 ids per call) and
compared with what was sent; a missing contact is reported as such."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.hooks.verify import CONTACT_NOTE, differing_fields, sample_records, verify_sample
from tests.fixtures.emulator import GongApi, ldjson
from tests.support.hooks import FAST

MODIFIED = "2026-01-01T00:00:00Z"


def account(n: int, **extra: Any) -> dict[str, Any]:
    return {"objectId": f"acc-{n}", "modifiedDate": MODIFIED, "name": f"Account {n}", **extra}


def write(path: Path, *records: dict[str, Any]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


@pytest.fixture
def hook(gong_connection_env: str, emulator_client: EmulatorClient) -> GongCrmHook:
    return GongCrmHook(gong_connection_env, **FAST)


def test_matches_mismatches_and_calls_of_100_ids(
    hook: GongCrmHook,
    gong_api: GongApi,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    tmp_path: Path,
) -> None:
    accounts = [account(n) for n in range(150)]
    assert gong_api.upload_and_wait("ACCOUNT", "verify-1", ldjson(*accounts))["status"] == "DONE"
    # what this run sent: acc-3's name differs from what Gong stores; a delete is not sampled
    sent = [*accounts[:3], account(3, name="Renamed"), *accounts[4:]]
    first = write(tmp_path / "a.ldjson", {"objectId": "acc-x", "modifiedDate": MODIFIED, "isDeleted": True})
    second = write(tmp_path / "b.ldjson", *sent)
    before = len(emulator_client.requests_log())

    report = verify_sample(hook, emulator.integration_id, "ACCOUNT", [first, second], 150)

    gets = [c for c in emulator_client.requests_log()[before:] if c["method"] == "GET"]
    assert len(gets) == 2  # 150 ids: 100, then 50
    assert (report.checked, report.matched, report.missing) == (150, 149, [])
    assert [(m.object_id, m.fields) for m in report.mismatched] == [("acc-3", ["name"])]
    assert report.to_dict()["verify_mismatched"] == 1


def test_a_missing_contact_is_reported_as_such(
    hook: GongCrmHook, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    path = write(tmp_path / "c.ldjson", {"objectId": "c-never", "modifiedDate": MODIFIED})
    report = verify_sample(hook, emulator.integration_id, "CONTACT", [path], 5)
    assert (report.checked, report.matched, report.mismatched, report.missing) == (1, 0, [], ["c-never"])
    assert report.note == CONTACT_NOTE


def test_sampling_and_comparing_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.ldjson", account(1), {"objectId": "d", "isDeleted": True}, account(2), account(3)
    )
    assert [r["objectId"] for r in sample_records([path], 2)] == ["acc-1", "acc-2"]
    assert differing_fields({"objectId": "a", "name": "A", "x": 1}, {"objectId": "a", "name": "A"}) == ["x"]
    with pytest.raises(ValueError, match="does not return STAGE"):
        verify_sample(None, 1, "STAGE", [path], 1)
