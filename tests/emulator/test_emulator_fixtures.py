"""The shared emulator fixtures work as other tests expect."""

from __future__ import annotations

import json
import os

import requests

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess


def test_emulator_fixture_serves_the_api(emulator: EmulatorProcess, emulator_client: EmulatorClient) -> None:
    response = requests.get(f"{emulator.url}/v2/crm/integrations", auth=emulator.basic_auth, timeout=10)
    assert response.status_code == 200
    assert (
        response.json()["integrations"][0]["integrationId"] == emulator.integration_id == 2271307570613351879
    )
    assert emulator_client.config()["rate_limit_per_second"] >= 1000
    assert emulator_client.config()["processing_delay"] == 0


def test_gong_connection_env(emulator: EmulatorProcess, gong_connection_env: str) -> None:
    assert gong_connection_env == "gong_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_GONG_DEFAULT"])
    assert conn == {
        "conn_type": "gong",
        "host": emulator.url,
        "login": "emulator-access-key",
        "password": "emulator-access-key-secret",
    }
