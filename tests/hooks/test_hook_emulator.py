"""GongCrmHook and GongCrmAsyncHook against the local Gong CRM API emulator (a real server process)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.exceptions import GongConflictError
from gong_provider.hooks.gong import GongCrmAsyncHook, GongCrmHook
from gong_provider.models import CustomField, RequestState, RequestStatus
from tests.support.hooks import FAST

ACCOUNTS = (
    b'{"objectId": "acc-1", "modifiedDate": "2024-03-01T10:00:00Z", "name": "Acme", "segment": "SMB"}\n'
    b'{"objectId": "acc-2", "modifiedDate": "2024-03-01T10:00:00+01:00", "name": "Globex"}\n'
)


@pytest.fixture
def hook(gong_connection_env: str, emulator_client: EmulatorClient) -> GongCrmHook:
    return GongCrmHook(gong_connection_env, **FAST)


def _wait_until_processed(hook: GongCrmHook, integration_id: int, client_request_id: str) -> RequestStatus:
    deadline = time.monotonic() + 30
    while True:
        status = hook.get_request_status(integration_id, client_request_id)
        if status.status.is_terminal or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def _accounts_file(tmp_path: Path, data: bytes = ACCOUNTS) -> Path:
    path = tmp_path / "accounts.ldjson"
    path.write_bytes(data)
    return path


def test_register_is_idempotent_for_the_existing_integration(
    hook: GongCrmHook, emulator: EmulatorProcess
) -> None:
    (existing,) = [i for i in hook.list_integrations() if i.integration_id == emulator.integration_id]

    assert hook.register_integration(existing.name, existing.owner_email) == emulator.integration_id
    with pytest.raises(GongConflictError, match="one generic CRM integration"):
        hook.register_integration("A different name", "someone@example.com")


def test_entity_schema_round_trip(hook: GongCrmHook, emulator: EmulatorProcess) -> None:
    fields = [
        CustomField(
            unique_name="segment", label="Segment", type="PICKLIST", ordered_value_list=["SMB", "ENT"]
        ),
        CustomField(unique_name="arr", label="ARR", type="CURRENCY"),
    ]

    hook.set_entity_schema(emulator.integration_id, "ACCOUNT", fields)
    stored = hook.get_entity_schema(emulator.integration_id, "ACCOUNT")

    assert {(f.unique_name, f.type) for f in stored} == {("segment", "PICKLIST"), ("arr", "CURRENCY")}


def test_upload_wait_and_read_back_exactly_once(
    hook: GongCrmHook, emulator: EmulatorProcess, emulator_client: EmulatorClient, tmp_path: Path
) -> None:
    integration_id = emulator.integration_id
    path = _accounts_file(tmp_path)

    first = hook.upload_entities(integration_id, "ACCOUNT", "hook-emu-1", path)
    status = _wait_until_processed(hook, integration_id, "hook-emu-1")
    again = hook.upload_entities(integration_id, "ACCOUNT", "hook-emu-1", path)
    stored = hook.get_entities(integration_id, "ACCOUNT", ["acc-1", "acc-2", "acc-404"])

    assert first.already_accepted is False
    assert first.request_id
    assert status.status is RequestState.DONE
    assert status.total_success_count == 2
    assert again.already_accepted is True
    assert emulator_client.upload_counts().get("hook-emu-1") == 1
    assert stored["acc-1"] is not None
    assert stored["acc-1"]["name"] == "Acme"
    assert stored["acc-404"] is None


def test_record_errors_come_back_typed(hook: GongCrmHook, emulator: EmulatorProcess, tmp_path: Path) -> None:
    path = _accounts_file(tmp_path, b'{"objectId": "acc-9", "modifiedDate": "2024-03-01T10:00:00.123Z"}\n')

    hook.upload_entities(emulator.integration_id, "ACCOUNT", "hook-emu-bad", path)
    status = _wait_until_processed(hook, emulator.integration_id, "hook-emu-bad")

    assert status.status is RequestState.FAILED
    assert status.total_error_count == 1
    assert status.errors[0].line == 1


def test_upload_survives_500_and_a_connection_lost_after_the_store(
    hook: GongCrmHook, emulator: EmulatorProcess, emulator_client: EmulatorClient, tmp_path: Path
) -> None:
    path = _accounts_file(tmp_path)
    emulator_client.inject_fault("status", status=500, path="/v2/crm/entities", method="POST")

    after_500 = hook.upload_entities(emulator.integration_id, "ACCOUNT", "hook-emu-500", path)

    emulator_client.inject_fault("drop_after_store", path="/v2/crm/entities", method="POST")
    after_drop = hook.upload_entities(emulator.integration_id, "ACCOUNT", "hook-emu-drop", path)

    assert after_500.already_accepted is False
    assert after_drop.already_accepted is True  # the retry met Gong's 409: stored once
    counts = emulator_client.upload_counts()
    assert (counts.get("hook-emu-500"), counts.get("hook-emu-drop")) == (1, 1)


async def test_async_status_through_a_429_with_retry_after(
    gong_connection_env: str, emulator: EmulatorProcess, emulator_client: EmulatorClient, tmp_path: Path
) -> None:
    sync_hook = GongCrmHook(gong_connection_env, **FAST)
    sync_hook.upload_entities(emulator.integration_id, "ACCOUNT", "hook-emu-async", _accounts_file(tmp_path))
    _wait_until_processed(sync_hook, emulator.integration_id, "hook-emu-async")
    emulator_client.inject_fault("status", status=429, retry_after=1, path="/v2/crm/request-status")

    async with GongCrmAsyncHook(gong_connection_env, **FAST) as hook:
        status = await hook.get_request_status(emulator.integration_id, "hook-emu-async")

    assert status.status is RequestState.DONE
    statuses = [
        entry["status"]
        for entry in emulator_client.requests_log()
        if entry["path"] == "/v2/crm/request-status"
    ]
    assert statuses[-2:] == [429, 200]


def test_default_rate_limit_keeps_under_gongs_3_per_second(
    gong_connection_env: str, emulator: EmulatorProcess, emulator_client: EmulatorClient
) -> None:
    emulator_client.configure(rate_limit_per_second=3)
    hook = GongCrmHook(gong_connection_env, max_retries=0)  # default 3 calls/s; a 429 would raise

    for _ in range(7):
        hook.list_integrations()

    statuses = [
        entry["status"] for entry in emulator_client.requests_log() if entry["path"] == "/v2/crm/integrations"
    ]
    assert statuses == [200] * 7


@pytest.mark.slow  # streams 200 MB twice over loopback
def test_the_hook_and_the_emulator_agree_on_the_upload_limit(
    hook: GongCrmHook, emulator: EmulatorProcess, emulator_client: EmulatorClient, tmp_path: Path
) -> None:
    """Exactly MAX_UPLOAD_FILE_BYTES goes through the hook and the emulator accepts it; one byte
    more is refused by the hook before sending, and by the emulator when sent anyway."""
    import requests
    from requests_toolbelt import MultipartEncoder

    from gong_provider.exceptions import GongPayloadTooLargeError
    from gong_provider.limits import MAX_UPLOAD_FILE_BYTES

    at_limit, over = tmp_path / "at-limit.ldjson", tmp_path / "over.ldjson"
    for path, size in ((at_limit, MAX_UPLOAD_FILE_BYTES), (over, MAX_UPLOAD_FILE_BYTES + 1)):
        with path.open("wb") as handle:
            handle.truncate(size)  # sparse: no disk space used
    # processed as FAILED without reading it: the test is about the size, not the zeros
    emulator_client.inject_fault("fail_next_request", description="size test")

    accepted = hook.upload_entities(emulator.integration_id, "ACCOUNT", "at-limit", at_limit)
    with pytest.raises(GongPayloadTooLargeError):
        hook.upload_entities(emulator.integration_id, "ACCOUNT", "over-limit", over)
    with over.open("rb") as handle:
        body = MultipartEncoder({"dataFile": ("over.ldjson", handle, "application/x-ndjson")})
        refused = requests.post(
            f"{emulator.url}/v2/crm/entities",
            params={
                "integrationId": str(emulator.integration_id),
                "objectType": "ACCOUNT",
                "clientRequestId": "over-limit",
            },
            data=body,
            headers={"Content-Type": body.content_type},
            auth=emulator.basic_auth,
            timeout=120,
        )

    assert accepted.request_id
    assert not accepted.already_accepted
    assert refused.status_code == 400, refused.text
    assert "200 MB" in refused.text
    uploads = [
        (entry["clientRequestId"], entry["status"])
        for entry in emulator_client.requests_log()
        if entry["method"] == "POST" and entry["path"] == "/v2/crm/entities"
    ]
    assert uploads == [("at-limit", 201), ("over-limit", 400)]  # the hook sent nothing over the limit
