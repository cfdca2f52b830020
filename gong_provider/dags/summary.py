"""The summarize task of gong_crm_sync: one type's outcome and its Asset event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from typing import Any

from gong_provider.dags import settings
from gong_provider.dags.params import integration_id_from


def summarize_outlets(object_type: str, integration_id: str | int | None) -> list[Any]:
    """The summarize task's outlets: the type's AssetAlias, which every run's event goes through, and,
    when the DAG's integration id is known at parse time, the Asset of that id too. Declaring it makes
    Airflow create the Asset when it parses the DAG, so the first event finds it (otherwise Airflow
    logs that the asset does not exist and creates it, inactive). :func:`alias_only` removes it again
    when the task runs, so each run still emits exactly one event, through the alias."""
    from airflow.sdk import Asset, AssetAlias

    from gong_provider.assets import gong_asset_uri

    outlets: list[Any] = [AssetAlias(settings.asset_alias_name(object_type))]
    if integration_id is not None:
        with suppress(ValueError):  # not an id: the run's Param check names it
            outlets.append(Asset(gong_asset_uri(integration_id, object_type)))
    return outlets


def alias_only(outlets: list[Any]) -> None:
    """Drop the Assets declared at parse time from the running task's outlets (in place): Airflow
    emits an event for every declared Asset of a successful task, so keeping them would add an event
    without counts beside the alias's, or one for the DAG's default id on a run for another id."""
    from airflow.sdk import Asset

    outlets[:] = [outlet for outlet in outlets if not isinstance(outlet, Asset)]


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
    totals = upload_totals(uploaded, [*(status for status in pulled_list(statuses) if status), *later])
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


def pulled_list(values: Iterable[Any] | None) -> list[Any]:
    """A mapped task's XComs as a list, read in one slice: iterating Airflow's lazy XCom sequence
    asks for one item past the end, which the Task SDK logs as ``[error] XCom not found`` on every
    successful run."""
    if values is None:
        return []
    if isinstance(values, Sequence):
        return list(values[:])
    return list(values)
