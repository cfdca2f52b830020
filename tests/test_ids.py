"""The default clientRequestId: deterministic, Gong-valid, different for every input that matters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gong_provider.ids import (
    MAX_CLIENT_REQUEST_ID_LENGTH,
    check_client_request_id,
    check_client_request_id_prefix,
    content_client_request_id,
    is_valid_client_request_id,
    legacy_client_request_id,
    make_client_request_id,
    plan_tokens_an_earlier_try_used,
)

BASE: dict[str, object] = {
    "position": (0, 0, 0),
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
    assert len(request_id) == MAX_CLIENT_REQUEST_ID_LENGTH == 50
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
        ("position", (0, 2, 0)),
        ("prefix", "nightly"),
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
        position=(map_index, 1, 2),
    )
    assert is_valid_client_request_id(request_id)
    assert len(request_id) <= 50


@pytest.mark.parametrize("bad", ["manual__2026-01-01T00:00:00+00:00", "", "a b", "x" * 51, "é"])
def test_check_refuses_what_gong_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="not valid for Gong"):
        check_client_request_id(bad)


def test_ids_of_earlier_releases_are_still_accepted_for_a_status_check() -> None:
    """Earlier releases sent up to 64 characters; Gong knows those ids, so they may still be asked."""
    old = "gong-business-user-" + "a" * 40
    assert len(old) == 59
    with pytest.raises(ValueError, match="1 to 50"):
        check_client_request_id(old)
    assert check_client_request_id(old, stored=True) == old
    with pytest.raises(ValueError):
        check_client_request_id("x" * 65, stored=True)


def test_a_given_prefix_leads_every_derived_id_and_stays_within_50() -> None:
    ids = {make_client_request_id(**{**BASE, "prefix": "x" * 33, "position": (0, g, 0)}) for g in range(5)}  # type: ignore[arg-type]
    assert len(ids) == 5
    assert all(i.startswith("x" * 33 + "-") and len(i) == 50 for i in ids)
    with pytest.raises(ValueError, match="1 to 33"):
        check_client_request_id_prefix("x" * 34)


def test_byte_identical_files_at_other_positions_get_other_ids() -> None:
    """A -> B -> A within one export stages g0 and g2 alike: their ids differ by position."""
    g0 = make_client_request_id(**{**BASE, "position": (0, 0, 0)})  # type: ignore[arg-type]
    g2 = make_client_request_id(**{**BASE, "position": (0, 2, 0)})  # type: ignore[arg-type]
    assert g0 != g2
    assert content_client_request_id(1, "CONTACT", "ab" * 32, (0, 0, 0)) != content_client_request_id(
        1, "CONTACT", "ab" * 32, (0, 2, 0)
    )


def test_the_legacy_id_is_what_the_earlier_release_derived() -> None:
    """Pinned: the 59-character run-scoped id release 0.x sent for BASE (its formula, frozen here)."""
    common = {k: v for k, v in BASE.items() if k in ("dag_id", "task_id", "run_id", "map_index")}
    legacy = legacy_client_request_id(
        given=None, number=1, count=1, scope="run", integration_id=1, object_type="BUSINESS_USER",
        content_sha256="ab" * 32, **common,  # type: ignore[arg-type]
    )  # fmt: skip
    import hashlib
    import json

    key = json.dumps([*common.values(), "BUSINESS_USER", "ab" * 32], separators=(",", ":"))
    assert legacy == "gong-business-user-" + hashlib.sha256(key.encode()).hexdigest()[:40]
    assert legacy_client_request_id(
        given="mine", number=2, count=3, scope="run", integration_id=1, object_type="CONTACT",
        content_sha256="", **common,  # type: ignore[arg-type]
    ) == "mine-2"  # fmt: skip


def test_a_content_scoped_id_depends_on_the_content_not_on_the_run() -> None:
    first = content_client_request_id(2271307570613351879, "BUSINESS_USER", "ab" * 32)
    assert first == content_client_request_id(2271307570613351879, "BUSINESS_USER", "ab" * 32)
    assert is_valid_client_request_id(first)
    assert first.startswith("business-user-")
    assert first != content_client_request_id(2271307570613351879, "BUSINESS_USER", "cd" * 32)
    assert first != content_client_request_id(2271307570613351878, "BUSINESS_USER", "ab" * 32)
    assert first != content_client_request_id(2271307570613351879, "CONTACT", "ab" * 32)


def test_the_plan_that_staged_a_file_is_part_of_its_id_and_no_plan_leaves_the_id_as_it_was() -> None:
    """Each change-capture planning attempt's files get ids of their own (a cleared run sends them
    again); files without a plan (plain staging, an earlier release's plan) keep the earlier formula."""
    import hashlib
    import json

    plain = make_client_request_id(**BASE)  # type: ignore[arg-type]
    key = [*(BASE[k] for k in ("dag_id", "task_id", "run_id", "map_index", "object_type", "content_sha256"))]
    formula = json.dumps([*key, [0, 0, 0]], separators=(",", ":"))
    assert plain == "gong-business-user-" + hashlib.sha256(formula.encode()).hexdigest()[:31]
    assert make_client_request_id(**BASE, plan_token=None) == plain  # type: ignore[arg-type]
    first = make_client_request_id(**BASE, plan_token="0123456789abcdef-aa11bb22")  # type: ignore[arg-type]
    again = make_client_request_id(**BASE, plan_token="0123456789abcdef-aa11bb22")  # type: ignore[arg-type]
    other = make_client_request_id(**BASE, plan_token="0123456789abcdef-cc33dd44")  # type: ignore[arg-type]
    assert first == again
    assert len({plain, first, other}) == 3
    assert all(
        is_valid_client_request_id(i) and len(i) == MAX_CLIENT_REQUEST_ID_LENGTH for i in (first, other)
    )
    content = content_client_request_id(1, "CONTACT", "ab" * 32, (0, 0, 0))
    assert content_client_request_id(1, "CONTACT", "ab" * 32, (0, 0, 0), plan_token=None) == content
    assert content_client_request_id(1, "CONTACT", "ab" * 32, (0, 0, 0), plan_token="t-1") != content


def test_a_retry_asks_for_a_planned_file_under_its_token_then_without_it() -> None:
    """A worker of the previous release ignores the plan token: a retry of a planned file also asks
    for the id the same key gives without it (the previous release's); a plain file has one id."""
    assert plan_tokens_an_earlier_try_used("0123456789abcdef-aa11bb22") == ["0123456789abcdef-aa11bb22", None]
    assert plan_tokens_an_earlier_try_used(None) == [None]
    ids = [
        make_client_request_id(**BASE, plan_token=token)  # type: ignore[arg-type]
        for token in plan_tokens_an_earlier_try_used("0123456789abcdef-aa11bb22")
    ]
    assert ids[1] == make_client_request_id(**BASE)  # type: ignore[arg-type]
    assert ids[0] != ids[1]
