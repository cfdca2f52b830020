"""Shared pytest set-up: each fixture family lives in its own plugin module under tests/fixtures/.

The tests mirror the package (tests/hooks/ for gong_provider/hooks/, ...); code they share, which has
no tests of its own, lives in tests/support/. Every folder is a package, so pytest imports each test
module as ``tests.<folder>.<module>`` with the checkout on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.airflow_env",
    "tests.fixtures.emulator",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
]

E2E_DIR = Path(__file__).resolve().parent / "e2e"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e/ is end to end (``make test-latest`` runs ``-m "not e2e"``), so one
    added there without the marker is still left out; runs before ``-m`` deselects."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)
