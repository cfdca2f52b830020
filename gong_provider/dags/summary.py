"""The summarize task of gong_crm_sync: one type's outcome and its Asset event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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

    later = list(later_generations or [])
    uploaded = [*uploads, *later]
    totals = upload_totals(uploaded, [*(status for status in statuses if status), *later])
    request_ids = [str(u.get("client_request_id")) for u in uploaded]
    iid = integration_id_from(params)
    uri = gong_asset_uri(iid, object_type)
    outlet_events[AssetAlias(settings.asset_alias_name(object_type))].add(
        Asset(uri),
        extra={
            "integration_id": str(iid),
            "object_type": object_type,
            "records": totals["records_uploaded"],
            "client_request_ids": request_ids,
        },
    )
    return {
        **dict(stage_summary),
        "uploads": len(request_ids),
        **totals,
        "asset": uri,
    }


def upload_totals(uploads: Iterable[Mapping[str, Any]], finished: Iterable[Any]) -> dict[str, int]:
    """The report's upload columns: records sent, uploads Gong already had (409), and Gong's success
    and error counts over the final statuses (XCom rows, ``RequestStatus`` objects, or None: unknown)."""
    uploads = list(uploads)
    rows = [_as_row(status) for status in finished]
    return {
        "already_accepted": _total(uploads, "already_accepted"),  # a flag per upload, a count per generation
        "records_uploaded": _total(uploads, "records"),
        "gong_success": _total(rows, "total_success_count"),
        "gong_errors": _total(rows, "total_error_count"),
    }


def _as_row(status: Any) -> Mapping[str, Any]:
    """An XCom row as is; a ``RequestStatus`` as its dict; None (no final status) as nothing."""
    if status is None:
        return {}
    if isinstance(status, Mapping):
        return status
    result: Mapping[str, Any] = status.to_dict()
    return result


def _total(rows: Iterable[Mapping[str, Any]], key: str) -> int:
    """Sum of ``key`` over XCom rows (a missing or null value counts 0; True counts 1)."""
    return sum(int(row.get(key) or 0) for row in rows)
