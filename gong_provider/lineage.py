"""OpenLineage of an upload: from the sources a staging run read to a Gong CRM dataset.

The inputs are the sources the staging manifest records (the export files or object-storage URLs
behind the staged files: the manifest named as ``file``, or the one beside a staged file); a file
that no manifest describes is its own input. The output is the Gong dataset of the integration and
object type (:mod:`gong_provider.assets`). Imported only when OpenLineage asks, with its provider
installed. It reads manifests through staging and is given the uploaded paths by the operator, so it
imports nothing above it (the operator imports it, never the other way).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from gong_provider.assets import OPENLINEAGE_NAMESPACE, openlineage_name
from gong_provider.staging.location import local_path, location_exists
from gong_provider.staging.manifest import StagingManifest, load_manifest, manifest_beside

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


def _manifest_at(candidate: str) -> StagingManifest | None:
    """The manifest staging wrote at ``candidate``, when there is one."""
    try:
        return load_manifest(candidate) if location_exists(candidate) else None
    except (OSError, ValueError) as error:
        log.warning("Lineage: cannot read %s: %s", candidate, error)
        return None


def source_locations(paths: Sequence[str]) -> list[str]:
    """The sources behind the uploaded files, each once, in order (SQL sources left out)."""
    found: list[str] = []
    manifests: dict[str, StagingManifest | None] = {}  # per manifest: read each once
    for path in paths:
        candidate = manifest_beside(path)
        if candidate not in manifests:
            manifests[candidate] = _manifest_at(candidate)
        manifest = manifests[candidate]
        names = manifest.sources if manifest is not None else [path]
        found.extend(name for name in names if not name.startswith(SQL_SOURCE_PREFIX))
    return list(dict.fromkeys(found))


def upload_lineage(paths: Sequence[str], integration_id: int | str, object_type: str) -> Any:
    """``OperatorLineage`` of an upload of the staged files at ``paths`` (in upload order)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    if not paths:  # nothing was uploaded (allow_empty_file_list)
        return OperatorLineage()
    inputs = [Dataset(*location_dataset_id(location)) for location in source_locations(paths)]
    output = Dataset(namespace=OPENLINEAGE_NAMESPACE, name=openlineage_name(integration_id, object_type))
    return OperatorLineage(inputs=inputs, outputs=[output])
