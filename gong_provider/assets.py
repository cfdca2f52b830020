"""The ``gong`` asset URI scheme: ``gong://crm/<integration id>/<OBJECT_TYPE>``, one Asset per Gong
CRM integration and object type (what the sync DAG's summarize tasks emit, what the upload operator
reports to OpenLineage as its output).

Registered in the provider info (``asset-uris``), so Airflow validates and normalizes every
``gong://`` Asset with :func:`sanitize_uri`, builds one with :func:`create_asset`, and OpenLineage
translates one with :func:`convert_asset_to_openlineage`. Airflow is imported only by the last two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult

from gong_provider.ids import parse_integration_id
from gong_provider.models import ObjectType

if TYPE_CHECKING:
    import airflow.sdk

SCHEME = "gong"
_AUTHORITY = "crm"
OPENLINEAGE_NAMESPACE = f"{SCHEME}://{_AUTHORITY}"
"""The OpenLineage namespace of every Gong CRM dataset; a dataset's name is ``<id>/<TYPE>``."""
_FORMAT = f"{SCHEME}://{_AUTHORITY}/<integration id>/<OBJECT_TYPE>"


def _object_type(value: str) -> str:
    """Gong's object type for a URI segment; any letter case is accepted and normalized."""
    try:
        return ObjectType(value.upper()).value
    except ValueError:
        allowed = ", ".join(member.value for member in ObjectType)
        raise ValueError(f"{value!r} is not a Gong object type ({allowed})") from None


def gong_asset_uri(integration_id: int | str, object_type: ObjectType | str) -> str:
    """The Asset URI of one integration's records of one type, e.g. ``gong://crm/2271307570613351879/DEAL``."""
    return f"{SCHEME}://{_AUTHORITY}/{parse_integration_id(integration_id)}/{_object_type(str(object_type))}"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's normalizer of ``gong://`` Asset URIs: refuses anything but
    ``gong://crm/<integration id>/<OBJECT_TYPE>`` (no user info, port, query or fragment), and writes
    the id without leading zeros and the type in Gong's upper case."""
    if uri.netloc != _AUTHORITY:
        raise ValueError(f"A Gong asset URI is {_FORMAT}; {uri.netloc!r} is not 'crm'")
    if uri.query or uri.fragment:
        raise ValueError(f"A Gong asset URI is {_FORMAT}, without a query or fragment")
    segments = uri.path.strip("/").split("/")
    if len(segments) != 2:
        raise ValueError(f"A Gong asset URI is {_FORMAT}; the path {uri.path!r} is not <id>/<TYPE>")
    raw_id, raw_type = segments
    try:
        integration_id = parse_integration_id(raw_id)
    except ValueError as error:
        raise ValueError(f"A Gong asset URI is {_FORMAT}: {error}") from None
    return uri._replace(scheme=SCHEME, path=f"/{integration_id}/{_object_type(raw_type)}")


def create_asset(
    *, integration_id: int | str, object_type: ObjectType | str, extra: dict[str, Any] | None = None
) -> airflow.sdk.Asset:
    """The Asset of one integration's records of one type (Airflow's asset factory for ``gong``)."""
    from airflow.sdk import Asset

    return Asset(uri=gong_asset_uri(integration_id, object_type), extra=extra or {})


def openlineage_name(integration_id: int | str, object_type: ObjectType | str) -> str:
    """The dataset name in :data:`OPENLINEAGE_NAMESPACE` (the asset URI's path)."""
    return gong_asset_uri(integration_id, object_type).removeprefix(OPENLINEAGE_NAMESPACE + "/")


def convert_asset_to_openlineage(asset: airflow.sdk.Asset, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of a ``gong://`` Asset: the same one the upload operator reports."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    integration_id, object_type = asset.uri.removeprefix(OPENLINEAGE_NAMESPACE + "/").split("/")
    return Dataset(namespace=OPENLINEAGE_NAMESPACE, name=openlineage_name(integration_id, object_type))
