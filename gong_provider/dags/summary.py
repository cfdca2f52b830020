"""The summarize task of gong_crm_sync: one type's outcome and its Asset event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from typing import Any

from gong_provider.dags import settings
from gong_provider.dags.params import integration_id_from
from gong_provider.models import RequestStatus
from gong_provider.rows import UploadRow, WaitRow, stage_summary_row, upload_rows, wait_rows


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
    stage_summary: object,
    uploads: Iterable[Mapping[str, Any]],
    statuses: Iterable[Mapping[str, Any] | None],
    later_generations: Iterable[Mapping[str, Any]] | None,
    outlet_events: Any,
) -> dict[str, Any]:
    """Per-type outcome (counts from Gong's request-status) and the Asset event of the uploaded type."""
    from airflow.sdk import Asset, AssetAlias

    from gong_provider.assets import gong_asset_uri

    staged = stage_summary_row(stage_summary, source=f"{object_type.lower()}.stage")
    later = upload_rows(pulled_list(later_generations), source="later_generations")
    uploaded = [*upload_rows(pulled_list(uploads), source="upload"), *later]
    totals = upload_totals(uploaded, [*wait_rows(pulled_list(statuses), source="wait"), *later])
    request_ids = [str(u["client_request_id"]) for u in uploaded]
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
        **staged,
        "uploads": len(request_ids),
        **totals,
        "asset": uri,
    }


def upload_totals(
    uploads: Iterable[UploadRow], finished: Iterable[UploadRow | WaitRow | RequestStatus | None]
) -> dict[str, int]:
    """The report's upload columns: records sent, uploads Gong already had (409), and Gong's success
    and error counts over the final statuses (XCom rows, ``RequestStatus`` objects, or None: unknown)."""
    uploads = list(uploads)
    counts = [_gong_counts(status) for status in finished]
    return {
        "already_accepted": sum(int(upload["already_accepted"]) for upload in uploads),
        "records_uploaded": sum(int(upload["records"] or 0) for upload in uploads),
        "gong_success": sum(success for success, _ in counts),
        "gong_errors": sum(errors for _, errors in counts),
    }


def _gong_counts(status: UploadRow | WaitRow | RequestStatus | None) -> tuple[int, int]:
    """Gong's (success, error) counts in a final status; (0, 0) when there is none."""
    if status is None:
        return 0, 0
    if isinstance(status, RequestStatus):
        return status.total_success_count, status.total_error_count
    return int(status.get("total_success_count") or 0), int(status.get("total_error_count") or 0)


def pulled_list(values: Iterable[Any] | None) -> list[Any]:
    """A mapped task's XComs as a list, read in one slice: iterating Airflow's lazy XCom sequence
    asks for one item past the end, which the Task SDK logs as ``[error] XCom not found`` on every
    successful run."""
    if values is None:
        return []
    if isinstance(values, Sequence):
        return list(values[:])
    return list(values)
