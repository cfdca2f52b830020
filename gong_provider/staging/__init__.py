"""Staging: CRM exports and SQL queries into valid, Gong-ready LDJSON.

Public API (see the README's "Staging" section): :func:`stage`, :func:`validate`,
:func:`load_manifest`, :func:`locate_lines`, :class:`SqlSource`, :class:`StagingManifest`,
:class:`StagedFile`, :class:`RecordLocation`, :class:`ValidationReport`, :class:`GongRejectLimitError`.
"""

from __future__ import annotations

from gong_provider.staging.errors import GongRejectLimitError, GongSourceError
from gong_provider.staging.locate import RecordLocation, locate_lines
from gong_provider.staging.manifest import StagedFile, StagingManifest
from gong_provider.staging.readers import DEFAULT_MAX_LINE_BYTES
from gong_provider.staging.sql import SqlSource
from gong_provider.staging.stage import (
    DEFAULT_MAX_FILE_BYTES,
    REJECTS_NAME,
    Reject,
    StagingSource,
    ValidationReport,
    load_manifest,
    stage,
    validate,
)

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
