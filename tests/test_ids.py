"""The default clientRequestId: deterministic, Gong-valid, different for every input that matters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gong_provider.ids import (
    check_client_request_id,
    content_client_request_id,
    is_valid_client_request_id,
    make_client_request_id,
    numbered_client_request_id,
)

BASE = {
    "dag_id": "gong_crm_sync",
    "task_id": "contact.upload",
    "run_id": "manual__2026-11-29T05:00:00.123456+00:00",
    "map_index": 2,
    "object_type": "BUSINESS_USER",
    "content_sha256": "ab" * 32,
}


def test_run_id_with_colon_plus_and_dot_gives_a_valid_id() -> None:
    request_id = make_client_request_id(**BASE)
    assert is_valid_client_request_id(request_id)
    assert len(request_id) <= 64
    assert request_id.startswith("gong-business-user-")


def test_same_inputs_same_id() -> None:
    assert make_client_request_id(**BASE) == make_client_request_id(**dict(BASE))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("dag_id", "other"),
        ("task_id", "other"),
        ("run_id", "scheduled__2026-11-29T05:00:00+00:00"),
        ("map_index", 3),
        ("object_type", "CONTACT"),
        ("content_sha256", "cd" * 32),
    ],
)
def test_every_input_changes_the_id(name: str, value: object) -> None:
    assert make_client_request_id(**{**BASE, name: value}) != make_client_request_id(**BASE)  # type: ignore[arg-type]


def test_unmapped_task_none_and_minus_one_agree() -> None:
    assert make_client_request_id(**{**BASE, "map_index": None}) == make_client_request_id(
        **{**BASE, "map_index": -1}
    )  # type: ignore[arg-type]


@given(
    dag_id=st.text(min_size=1, max_size=250),
    task_id=st.text(min_size=1, max_size=250),
    run_id=st.text(min_size=1, max_size=250),
    map_index=st.integers(min_value=-1, max_value=10**6),
    object_type=st.sampled_from(["BUSINESS_USER", "STAGE", "ACCOUNT", "CONTACT", "DEAL", "LEAD"]),
)
def test_any_input_gives_a_valid_id(
    dag_id: str, task_id: str, run_id: str, map_index: int, object_type: str
) -> None:
    request_id = make_client_request_id(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index,
        object_type=object_type,
        content_sha256="0" * 64,
    )
    assert is_valid_client_request_id(request_id)


@pytest.mark.parametrize("bad", ["manual__2026-01-01T00:00:00+00:00", "", "a b", "x" * 65, "é"])
def test_check_refuses_what_gong_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="not valid for Gong"):
        check_client_request_id(bad)


def test_numbered_ids_for_several_files_stay_valid() -> None:
    base = "x" * 64
    assert numbered_client_request_id(base, 1, 1) == base
    numbered = [numbered_client_request_id(base, n, 12) for n in range(1, 13)]
    assert len(set(numbered)) == 12
    assert all(is_valid_client_request_id(n) for n in numbered)


def test_a_content_scoped_id_depends_on_the_content_not_on_the_run() -> None:
    first = content_client_request_id(2271307570613351879, "BUSINESS_USER", "ab" * 32)
    assert first == content_client_request_id(2271307570613351879, "BUSINESS_USER", "ab" * 32)
    assert is_valid_client_request_id(first)
    assert first.startswith("business-user-")
    assert first != content_client_request_id(2271307570613351879, "BUSINESS_USER", "cd" * 32)
    assert first != content_client_request_id(2271307570613351878, "BUSINESS_USER", "ab" * 32)
    assert first != content_client_request_id(2271307570613351879, "CONTACT", "ab" * 32)
