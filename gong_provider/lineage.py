"""OpenLineage of an upload: from the sources a staging run read to a Gong CRM dataset.

The inputs are the sources the staging manifest records (the export files or object-storage URLs
behind the staged files: the manifest named as ``file``, or the one beside a staged file); a file
that no manifest describes is its own input. The output is the Gong dataset of the integration and
object type (:mod:`gong_provider.assets`). Imported only when OpenLineage asks, with its provider
installed.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

from gong_provider.assets import OPENLINEAGE_NAMESPACE, openlineage_name
from gong_provider.operators.upload_files import UploadFile, _load_manifest, resolve_files
from gong_provider.staging.location import local_path, location_exists
from gong_provider.staging.manifest import MANIFEST_NAME, StagingManifest

log = logging.getLogger(__name__)

SQL_SOURCE_PREFIX = "sql:"
"""How a staging manifest names a SQL source (``sql:<conn_id>``): no table to report."""


def location_dataset_id(location: str) -> tuple[str, str]:
    """OpenLineage's ``(namespace, name)`` of a file: ``file`` and its absolute path for a local file
    (also ``file://``), ``<scheme>://<bucket>`` and the key for object storage, as OpenLineage's
    naming conventions have it."""
    local = local_path(location)
    if local is not None:
        return "file", os.path.abspath(local)
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def _manifest_beside(path: str) -> StagingManifest | None:
    """The manifest staging wrote next to a staged file, when there is one."""
    folder, _, _ = path.rpartition("/")
    candidate = f"{folder}/{MANIFEST_NAME}"
    try:
        return _load_manifest(candidate) if location_exists(candidate) else None
    except (OSError, ValueError) as error:
        log.warning("Lineage: cannot read %s: %s", candidate, error)
        return None


def source_locations(files: list[UploadFile]) -> list[str]:
    """The sources behind the uploaded files, each once, in order (SQL sources left out)."""
    found: list[str] = []
    manifests: dict[str, StagingManifest | None] = {}  # per folder: read each manifest once
    for upload in files:
        folder = upload.path.rpartition("/")[0]
        if folder not in manifests:
            manifests[folder] = _manifest_beside(upload.path)
        manifest = manifests[folder]
        names = manifest.sources if manifest is not None else [upload.path]
        found.extend(name for name in names if not name.startswith(SQL_SOURCE_PREFIX))
    return list(dict.fromkeys(found))


def upload_lineage(file: Any, integration_id: int | str, object_type: str) -> Any:
    """``OperatorLineage`` of an upload of ``file`` (as the operator's ``file`` argument takes it)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    files = resolve_files(file)[0] if file else []
    if not files:  # nothing was uploaded (allow_empty_file_list)
        return OperatorLineage()
    inputs = [Dataset(*location_dataset_id(location)) for location in source_locations(files)]
    output = Dataset(namespace=OPENLINEAGE_NAMESPACE, name=openlineage_name(integration_id, object_type))
    return OperatorLineage(inputs=inputs, outputs=[output])
