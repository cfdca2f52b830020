"""Fault injection, rate limits and the exactly-once counters of the emulator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
import requests

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.emulator.ratelimit import RateLimiter, busiest_window
from tests.fixtures.emulator import GongApi, ldjson

STAGE = ldjson({"objectId": "s1", "name": "Stage"})


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_fault_for_the_next_n_matching_calls(
    gong_api: GongApi, emulator_client: EmulatorClient, status: int
) -> None:
    emulator_client.inject_fault("status", status=status, count=2, path="/v2/crm/entities", method="POST")
    assert gong_api.call("GET", "integrations").status_code == 200  # does not match
    first = gong_api.upload("STAGE", "f1", STAGE)
    second = gong_api.upload("STAGE", "f1", STAGE)
    assert [first.status_code, second.status_code] == [status, status]
    assert first.json()["errors"]
    assert emulator_client.upload_counts() == {}  # nothing stored on an injected error
    assert emulator_client.faults() == []
    assert gong_api.upload("STAGE", "f1", STAGE).status_code == 201
    assert emulator_client.upload_counts() == {"f1": 1}


def test_injected_error_on_a_big_upload_is_answered_not_reset(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    """The emulator reads the whole body before answering, so a streaming client gets the status."""
    emulator_client.inject_fault("status", status=503, path="/v2/crm/entities")
    body = ldjson(*({"objectId": f"s{index}", "name": "x" * 200} for index in range(40_000)))  # ~10 MB
    assert gong_api.upload("STAGE", "big-503", body).status_code == 503


def test_429_fault_carries_an_integer_retry_after(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    emulator_client.inject_fault("status", status=429, retry_after=7, path="/v2/crm/request-status")
    emulator_client.inject_fault("status", status=429, path="/v2/crm/integrations")
    assert gong_api.upload("STAGE", "r1", STAGE).status_code == 201
    limited = gong_api.status("r1")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert gong_api.call("GET", "integrations").headers["Retry-After"] == "1"
    assert gong_api.status("r1").status_code == 200


def test_drop_after_store(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    emulator_client.inject_fault("drop_after_store", path="/v2/crm/entities", method="POST")
    with pytest.raises(requests.ConnectionError):
        gong_api.upload("STAGE", "dropped", STAGE)
    assert emulator_client.upload_counts() == {"dropped": 1}  # Gong has it although the client saw an error
    retry = gong_api.upload("STAGE", "dropped", STAGE)
    assert retry.status_code == 409
    assert gong_api.wait("dropped")["status"] == "DONE"
    assert emulator_client.record_counts("STAGE") == {"s1": 1}
    log = [entry for entry in emulator_client.requests_log() if entry["clientRequestId"] == "dropped"]
    assert [(entry["status"], entry["dropped"]) for entry in log[:2]] == [(201, True), (409, False)]


def test_delay_fault_delays_the_answer(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    emulator_client.inject_fault("delay", seconds=3, path="/v2/crm/entities")
    with pytest.raises(requests.ReadTimeout):
        gong_api.call(
            "POST",
            "entities",
            params={
                "integrationId": gong_api.integration_id,
                "objectType": "STAGE",
                "clientRequestId": "slow",
            },
            files={"dataFile": ("s.ldjson", STAGE)},
            timeout=(5, 0.5),
        )
    # the upload itself was accepted: a retry learns it through 409
    assert gong_api.upload("STAGE", "slow", STAGE).status_code == 409


def test_faults_are_listed_and_cleared(emulator_client: EmulatorClient) -> None:
    emulator_client.inject_fault("status", status=500, count=3)
    emulator_client.inject_fault("delay", seconds=0.1)
    assert [fault["kind"] for fault in emulator_client.faults()] == ["status", "delay"]
    emulator_client.clear_faults()
    assert emulator_client.faults() == []


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "explode"},
        {"kind": "status"},
        {"kind": "status", "status": 200},
        {"kind": "delay"},
        {"kind": "status", "status": 500, "count": 0},
    ],
)
def test_bad_faults_are_refused(emulator_client: EmulatorClient, fault: dict[str, object]) -> None:
    kind = str(fault.pop("kind"))
    with pytest.raises(RuntimeError, match="400"):
        emulator_client.inject_fault(kind, **fault)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- rate limits


def test_rate_limit_per_second_answers_429(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    emulator_client.configure(rate_limit_per_second=3)
    statuses = [gong_api.call("GET", "integrations") for _ in range(10)]
    limited = [response for response in statuses if response.status_code == 429]
    assert [response.status_code for response in statuses[:3]] == [200, 200, 200]
    assert limited
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].json()["errors"] == ["API request limit exceeded"]


def test_rate_limit_is_per_company_and_ignores_refused_calls(
    emulator: EmulatorProcess, gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    """Gong counts per company: the access key and the OAuth token spend one budget."""
    emulator_client.configure(rate_limit_per_day=3)
    for _ in range(5):
        assert requests.get(f"{emulator.url}/v2/crm/integrations", timeout=10).status_code == 401
    assert [gong_api.call("GET", "integrations").status_code for _ in range(2)] == [200, 200]
    bearer = {"Authorization": f"Bearer {emulator.token}"}
    statuses = [
        requests.get(f"{emulator.url}/v2/crm/integrations", headers=bearer, timeout=10).status_code
        for _ in range(2)
    ]
    assert statuses == [200, 429]
    assert gong_api.call("GET", "integrations").status_code == 429
    log = emulator_client.rate_log()
    assert (len(log["counted"]), len(log["refused"])) == (3, 2)
    assert emulator_client.health()["status"] == "ok"  # /_emulator is never limited


def test_daily_limit_retry_after_points_to_utc_midnight(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    emulator_client.configure(rate_limit_per_day=1)
    assert gong_api.call("GET", "integrations").status_code == 200
    limited = gong_api.call("GET", "integrations")
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    now = datetime.now(timezone.utc)
    seconds_to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    assert abs(retry_after - seconds_to_midnight) <= 5


def test_rate_limiter_windows() -> None:
    limiter = RateLimiter(per_second=3, per_day=5)
    assert [limiter.acquire(now) for now in (100.0, 100.1, 100.2)] == [None, None, None]
    assert limiter.acquire(100.3) == 1
    assert limiter.acquire(100.999) == 1  # 100.0 is still inside (99.999, 100.999]
    assert limiter.acquire(101.0) is None  # 100.0 left the window: [100.0, 101.0) held 3 calls
    assert limiter.acquire(101.1) is None  # (100.1, 101.1] holds 100.2 and 101.0
    day_end = datetime(1970, 1, 2, tzinfo=timezone.utc).timestamp()
    assert limiter.acquire(102.0) == int(day_end - 102.0)  # 5 calls spent today
    assert limiter.acquire(day_end + 1) is None  # a new UTC day
    assert busiest_window(limiter.log()["counted"]) == 3
    assert limiter.log()["refused"] == [100.3, 100.999, 102.0]


def test_busiest_window_counts_half_open_seconds() -> None:
    assert busiest_window([]) == 0
    assert busiest_window([5.0, 1.0, 1.5, 2.0]) == 2  # [1.0, 2.0) holds 1.0 and 1.5 only
    assert busiest_window([1.0, 1.2, 1.4, 1.99]) == 4
    assert busiest_window([1.0, 1.2, 1.4, 1.99], seconds=0.5) == 3


def test_unlimited_when_zero() -> None:
    limiter = RateLimiter(per_second=0, per_day=0)
    assert all(limiter.acquire(100.0) is None for _ in range(1000))


def test_restore_config_goes_back_to_start_up_settings(emulator_client: EmulatorClient) -> None:
    before = emulator_client.config()
    emulator_client.configure(processing_delay=9, rate_limit_per_second=1)
    assert emulator_client.config()["processing_delay"] == 9
    emulator_client.restore_config()
    assert emulator_client.config() == before
    with pytest.raises(RuntimeError):
        emulator_client.configure(processing_delay=-1)
    with pytest.raises(RuntimeError):
        emulator_client.configure(unknown=1)


# ----------------------------------------------------------------------------- exactly-once counters


def test_counters_prove_exactly_once(gong_api: GongApi, emulator_client: EmulatorClient) -> None:
    users = [
        {
            "objectId": f"u{index}",
            "modifiedDate": "2024-01-01T00:00:00Z",
            "emailAddress": f"u{index}@acme.com",
        }
        for index in range(3)
    ]
    assert gong_api.upload_and_wait("BUSINESS_USER", "users-1", ldjson(*users))["status"] == "DONE"
    assert gong_api.upload("BUSINESS_USER", "users-1", ldjson(*users)).status_code == 409
    assert gong_api.upload_and_wait("BUSINESS_USER", "users-2", ldjson(users[0]))["status"] == "DONE"
    assert emulator_client.upload_counts() == {"users-1": 1, "users-2": 1}
    assert emulator_client.record_counts("BUSINESS_USER") == {"u0": 2, "u1": 1, "u2": 1}
    assert emulator_client.record_counts("BUSINESS_USER", integration_id=1) == {}
    emulator_client.reset()
    assert emulator_client.upload_counts() == {}
    assert emulator_client.record_counts("BUSINESS_USER") == {}
    assert emulator_client.requests_log() == []


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_uploads_with_one_client_request_id_store_it_once(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    body = ldjson(*({"objectId": f"s{index}", "name": "x" * 100} for index in range(20_000)))
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(lambda _: gong_api.upload("STAGE", "race", body).status_code, range(4)))
    assert statuses == [201, 409, 409, 409]
    assert emulator_client.upload_counts() == {"race": 1}
    assert gong_api.wait("race")["totalSuccessCount"] == 20_000
    assert set(emulator_client.record_counts("STAGE").values()) == {1}


def test_reset_while_processing_leaves_a_clean_state(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    body = ldjson(*({"objectId": f"s{index}", "name": "S"} for index in range(30_000)))
    assert gong_api.upload("STAGE", "busy", body).status_code == 201
    emulator_client.reset()
    assert emulator_client.entities("STAGE") == {}
    assert emulator_client.requests() == []
    assert gong_api.upload_and_wait("STAGE", "after-reset", STAGE)["status"] == "DONE"
    assert emulator_client.record_counts("STAGE") == {"s1": 1}


def test_requests_are_processed_in_acceptance_order(
    gong_api: GongApi, emulator_client: EmulatorClient
) -> None:
    """An upload accepted before an integration delete is applied first, then deleted with it."""
    emulator_client.configure(processing_delay=0.5)
    assert gong_api.upload("STAGE", "first", STAGE).status_code == 201
    params = {"integrationId": gong_api.integration_id, "clientRequestId": "remove"}
    assert gong_api.call("DELETE", "integrations", params=params).status_code == 201
    assert gong_api.wait("remove")["status"] == "DONE"
    assert gong_api.wait("first")["status"] == "DONE"
    assert emulator_client.record_counts("STAGE") == {}
    finished = {request["clientRequestId"]: request["finishedAt"] for request in emulator_client.requests()}
    assert finished["first"] <= finished["remove"]
