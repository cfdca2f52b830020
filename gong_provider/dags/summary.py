"""The summarize task of gong_crm_sync: one type's outcome and its Asset event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gong_provider.dags import settings
from gong_provider.dags.params import integration_id_from


def summarize_entity(
    object_type: str,
    *,
    params: Mapping[str, Any],
    stage_summary: Mapping[str, Any],
    uploads: Iterable[Mapping[str, Any]],
    statuses: Iterable[Mapping[str, Any] | None],
    later_generations: Iterable[Mapping[str, Any]] | None,
    outlet_events: Any,
) -> dict[str, Any]:
    """Per-type outcome (counts from Gong's request-status) and the Asset event of the uploaded type."""
    from airflow.sdk import Asset, AssetAlias

    from gong_provider.assets import gong_asset_uri

    later = pulled_list(later_generations)
    uploaded = [*pulled_list(uploads), *later]
    finished = [*(status for status in pulled_list(statuses) if status), *later]
    success = _total(finished, "total_success_count")
    errors = _total(finished, "total_error_count")
    uploaded_records = _total(uploaded, "records")
    request_ids = [str(u.get("client_request_id")) for u in uploaded]
    already = _total(uploaded, "already_accepted")  # a flag per upload, a count per generation
    iid = integration_id_from(params)
    uri = gong_asset_uri(iid, object_type)
    outlet_events[AssetAlias(settings.asset_alias_name(object_type))].add(
        Asset(uri),
        extra={
            "integration_id": str(iid),
            "object_type": object_type,
            "records": uploaded_records,
            "client_request_ids": request_ids,
        },
    )
    return {
        **dict(stage_summary),
        "uploads": len(request_ids),
        "already_accepted": already,
        "records_uploaded": uploaded_records,
        "gong_success": success,
        "gong_errors": errors,
        "asset": uri,
    }


def _total(rows: Iterable[Mapping[str, Any]], key: str) -> int:
    """Sum of ``key`` over XCom rows (a missing or null value counts 0; True counts 1)."""
    return sum(int(row.get(key) or 0) for row in rows)


def pulled_list(values: Iterable[Any] | None) -> list[Any]:
    """A mapped task's XComs as a list, read in one slice: iterating Airflow's lazy XCom sequence
    asks for one item past the end, which the Task SDK logs as ``[error] XCom not found`` on every
    successful run."""
    if values is None:
        return []
    if isinstance(values, Sequence):
        return list(values[:])
    return list(values)
