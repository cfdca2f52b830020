"""Shared pytest set-up: each fixture family lives in its own plugin module under tests/fixtures/."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.airflow_env",
    "tests.fixtures.emulator",
    "tests.fixtures.postgres",
]
