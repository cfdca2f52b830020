"""The LocalExecutor Airflow that several end-to-end modules share (tests/support/local_stack.py)."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.support.local_stack import SharedLocalAirflow

SHARED = pytest.StashKey[SharedLocalAirflow]()


@pytest.fixture(scope="session")
def local_airflow(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedLocalAirflow]:
    """The shared stack's keeper: a module's fixture calls ``.get()`` for the running stack."""
    shared = SharedLocalAirflow(tmp_path_factory.mktemp("local-airflow"))
    request.config.stash[SHARED] = shared
    try:
        yield shared
    finally:
        shared.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Once the test's own fixtures are torn down: stop the shared stack if the next test does not use
    it (it would otherwise idle, taking CPU, through the rest of the session)."""
    try:
        yield
    finally:
        shared = item.config.stash.get(SHARED, None)
        if shared is not None and (nextitem is None or "local_airflow" not in nextitem.fixturenames):
            shared.stop()
