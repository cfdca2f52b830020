"""Old path of :mod:`gong_provider.operators.upload_files`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.operators.upload_files import (
    SOURCES_SUFFIX,
    FileFacts,
    UploadFile,
    file_facts,
    resolve_files,
    staged_file_for,
    upload_target,
)

__all__ = [
    "SOURCES_SUFFIX",
    "FileFacts",
    "UploadFile",
    "file_facts",
    "resolve_files",
    "staged_file_for",
    "upload_target",
]
