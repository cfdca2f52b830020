"""What the upload operator's ``file`` names: paths, URLs, staged-file dicts or a staging manifest."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gong_provider.hooks._upload import ContentFacts, ContentTally
from gong_provider.ids import FilePosition
from gong_provider.staging.location import (
    is_object_storage_path,
    location_exists,
    location_text,
    open_location,
    resolve_location,
)
from gong_provider.staging.manifest import (
    StagedFile,
    StagingManifest,
    is_manifest_path,
    load_manifest,
    plan_token_beside,
    sidecar_path,
)

_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class UploadFile:
    """One file to upload; ``staged`` is known when it came from a manifest (or carries a sidecar).

    ``item`` is the index of what named it in a list ``file`` (0 otherwise); a manifest's files share
    their manifest's item. ``plan_token`` is the change-capture plan that staged it (its manifest's,
    or for a file named alone the manifest's beside it), part of its clientRequestId."""

    path: str
    generation: int
    staged: StagedFile | None = None
    item: int = 0
    from_manifest: bool = False
    plan_token: str | None = None

    @property
    def position(self) -> FilePosition:
        """(item, generation, part): unique for each file ``file`` names, part of its clientRequestId."""
        return (self.item, self.generation, self.staged.part if self.staged is not None else 0)

    @property
    def batch(self) -> tuple[int | None, int]:
        """Gong processes the files of one batch in any order; the next batch goes up only once the
        earlier files are DONE. A batch is one generation of one manifest (of loose files: one
        generation), so manifests go one after another and generations never interleave."""
        return (self.item if self.from_manifest else None, self.generation)


def upload_target(path: str) -> Any:
    """What the hook's ``upload_entities`` takes: a local path or an ObjectStoragePath."""
    return resolve_location(path)


def _from_manifest(manifest: StagingManifest) -> list[UploadFile]:
    return [
        UploadFile(
            path=staged.path,
            generation=staged.generation,
            staged=staged,
            from_manifest=True,
            plan_token=manifest.plan_token,
        )
        for group in manifest.generations
        for staged in group
    ]


class _PlanTokens:
    """The plan token of files named alone, read from the manifest beside each, once per folder."""

    def __init__(self) -> None:
        self.by_folder: dict[str, str | None] = {}

    def alone(self, path: str, generation: int, staged: StagedFile | None = None) -> UploadFile:
        folder = path.rpartition("/")[0]
        if folder not in self.by_folder:
            self.by_folder[folder] = plan_token_beside(path)
        return UploadFile(path=path, generation=generation, staged=staged, plan_token=self.by_folder[folder])


def _resolve_one(item: Any, tokens: _PlanTokens) -> list[UploadFile]:
    if isinstance(item, Mapping):
        if "files" in item:
            return _from_manifest(StagingManifest.from_dict(dict(item)))
        if "path" in item and "sha256" in item:
            staged = StagedFile(**{k: v for k, v in item.items() if k in StagedFile.__dataclass_fields__})
            return [tokens.alone(staged.path, staged.generation, staged)]
        raise ValueError(f"file: a dict must be a staging manifest or a staged file, got keys {sorted(item)}")
    if isinstance(item, StagingManifest):
        return _from_manifest(item)
    if isinstance(item, StagedFile):
        return [tokens.alone(item.path, item.generation, item)]
    if isinstance(item, (str, os.PathLike)) or is_object_storage_path(item):
        path = location_text(item)
        if not path:
            raise ValueError("file is empty: give a path, an ObjectStoragePath URL or a staging manifest")
        if is_manifest_path(path):
            return _from_manifest(load_manifest(path))
        return [tokens.alone(str(path), 0)]
    raise TypeError(f"file: unsupported value of type {type(item).__name__}")


def resolve_files(file: Any) -> tuple[list[UploadFile], bool]:
    """The files to upload in order, and whether several were named.

    The order is the list's, and within a manifest the manifest's (generation by generation):
    several manifests go manifest after manifest, never interleaved. The flag decides the XCom
    shape: one dict for a single path, a list for a list or a manifest.
    """
    tokens = _PlanTokens()
    if isinstance(file, Sequence) and not isinstance(file, (str, bytes)):
        files = [
            replace(upload, item=index)
            for index, item in enumerate(file)
            for upload in _resolve_one(item, tokens)
        ]
        return files, True
    files = _resolve_one(file, tokens)
    several = isinstance(file, (Mapping, StagingManifest)) and not isinstance(file, StagedFile)
    if isinstance(file, (str, os.PathLike)) and is_manifest_path(str(file)):
        several = True
    return files, several


FileFacts = ContentFacts


def file_facts(upload: UploadFile) -> ContentFacts:
    """sha256, line count and size: from the manifest when it has them, else read once, streamed.

    The upload checks the bytes it sends against these either way."""
    if upload.staged is not None:
        return ContentFacts(upload.staged.sha256, upload.staged.records, upload.staged.bytes)
    tally = ContentTally()
    with open_location(upload.path) as handle:
        while block := handle.read(_BLOCK):
            tally.add(block)
    return tally.facts()


def staged_file_for(path: str, object_type: str) -> StagedFile:
    """A StagedFile for a bare path, using its ``.sources.ldjson`` sidecar when staging left one."""
    sidecar = sidecar_path(path)
    try:
        sources = sidecar if location_exists(sidecar) else None
    except Exception:  # a storage backend that cannot tell: fall back to the file's own objectIds
        sources = None
    return StagedFile(
        path=path,
        object_type=object_type,
        generation=0,
        part=0,
        records=0,
        bytes=0,
        sha256="",
        sources_path=sources,
    )
