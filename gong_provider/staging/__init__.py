"""Staging: CRM exports and SQL queries into valid, Gong-ready LDJSON.

Public API: :func:`stage`, :func:`validate`,
:func:`load_manifest`, :func:`locate_lines`, :class:`SqlSource`, :class:`StagingManifest`,
:class:`StagedFile`, :class:`RecordLocation`, :class:`ValidationReport`, :class:`GongRejectLimitError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gong_provider.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from gong_provider.staging.errors import GongRejectLimitError, GongSourceError
    from gong_provider.staging.locate import RecordLocation, locate_lines
    from gong_provider.staging.manifest import StagedFile, StagingManifest, load_manifest
    from gong_provider.staging.pipeline import (
        DEFAULT_MAX_FILE_BYTES,
        REJECTS_NAME,
        Reject,
        StagingSource,
        ValidationReport,
        stage,
        validate,
    )
    from gong_provider.staging.readers import DEFAULT_MAX_LINE_BYTES
    from gong_provider.staging.sql import SqlSource

# Names are imported on first use (PEP 562), so that importing the manifest module, as the operators
# do when a DAG file is parsed, does not load the whole staging library. (No submodule shares a name
# with a function here: importing such a submodule would rebind the package attribute to it.)
_HOMES = {
    "GongRejectLimitError": "errors",
    "GongSourceError": "errors",
    "RecordLocation": "locate",
    "locate_lines": "locate",
    "StagedFile": "manifest",
    "StagingManifest": "manifest",
    "DEFAULT_MAX_LINE_BYTES": "readers",
    "SqlSource": "sql",
    "DEFAULT_MAX_FILE_BYTES": "pipeline",
    "REJECTS_NAME": "pipeline",
    "Reject": "pipeline",
    "StagingSource": "pipeline",
    "ValidationReport": "pipeline",
    "load_manifest": "manifest",
    "stage": "pipeline",
    "validate": "pipeline",
}


__getattr__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "REJECTS_NAME",
    "GongRejectLimitError",
    "GongSourceError",
    "RecordLocation",
    "Reject",
    "SqlSource",
    "StagedFile",
    "StagingManifest",
    "StagingSource",
    "ValidationReport",
    "load_manifest",
    "locate_lines",
    "stage",
    "validate",
]
