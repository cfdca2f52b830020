"""The staging manifest: what a staging run wrote, read by the upload operator and the DAG report.

A manifest is a small JSON document beside the staged files. It lists every file with its object
type, generation (successive updates of one objectId go to successive generations, uploaded one after
another), record count, size and sha256, and the rejects. Each staged file has a sidecar
``<file>.sources.ldjson`` saying where its staged lines came from (as run-length entries), so that
Gong's line errors can be mapped back to the user's source rows.

The naming rules live here, one function each, for staging, change capture, the operators, lineage,
the DAGs and the CLI: :func:`manifest_path` (the manifest of a folder), :func:`is_manifest_path`,
:func:`manifest_beside` (the manifest next to a staged file), :func:`sidecar_path`,
:func:`load_manifest` and :func:`plan_token_beside` (the change-capture plan that staged a file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from gong_provider.staging.location import is_object_storage_path

if TYPE_CHECKING:
    from gong_provider.staging.outdir import OutputDir

MANIFEST_NAME = "manifest.json"
"""The manifest's file name in each type's folder; a path is a manifest when its name is this."""
MANIFEST_VERSION = 1
STAGED_SUFFIX = ".ldjson"
SIDECAR_SUFFIX = ".sources.ldjson"
"""A staged file ``<stem>.ldjson`` has its sidecar at ``<stem>.sources.ldjson``."""


def manifest_path(folder: str) -> str:
    """The manifest of a staging folder (``<out>/<OBJECT_TYPE>``, or its ``upload`` folder)."""
    return f"{folder.rstrip('/')}/{MANIFEST_NAME}"


def is_manifest_path(path: str) -> bool:
    """Whether ``path`` (a local path or a URL) names a manifest: by its file name, not its suffix,
    so that a user's other ``.json`` file is never read as one."""
    return path.rstrip("/").rsplit("/", 1)[-1] == MANIFEST_NAME


def manifest_beside(staged_path: str) -> str:
    """Where staging put the manifest describing ``staged_path``: in the same folder."""
    return manifest_path(staged_path.rpartition("/")[0])


def sidecar_path(staged_path: str) -> str:
    """The ``.sources.ldjson`` sidecar of a staged file (a path, a URL or a bare file name)."""
    stem = staged_path[: -len(STAGED_SUFFIX)] if staged_path.endswith(STAGED_SUFFIX) else staged_path
    return stem + SIDECAR_SUFFIX


@dataclass(frozen=True)
class StagedFile:
    """One LDJSON file written by :func:`stage`, as the manifest lists it."""

    path: str
    """Local path or ObjectStoragePath URL of the LDJSON file."""
    object_type: str
    generation: int
    """0 for first occurrences of each objectId; n for the (n+1)-th update of the same objectId."""
    part: int
    """Index of the size-split chunk within one generation."""
    records: int
    """Records (lines) in the file."""
    bytes: int
    """Size of the file."""
    sha256: str
    """Hex sha256 of the file's content."""
    sources_path: str | None = None
    """Sidecar LDJSON of run-length entries ``{"staged": a, "count": n, "source", "line", "record"}``:
    staged lines a..a+n-1 came from consecutive source lines/records; a one-record entry also has
    ``objectId``. Read it with ``locate_lines`` (which also reads the older one-entry-per-line form)."""


@dataclass
class StagingManifest:
    """What :func:`stage` wrote for one object type (``manifest.json``, written last as the commit marker).

    The staged files, the record counts, where the rejects are, and the sources read.
    """

    object_type: str
    files: list[StagedFile] = field(default_factory=list)
    records_read: int = 0
    records_staged: int = 0
    records_rejected: int = 0
    rejects_path: str | None = None
    sources: list[str] = field(default_factory=list)
    version: int = MANIFEST_VERSION
    plan_token: str | None = None
    """The change-capture plan that wrote this folder's files (``ChangePlan.run_token``, new at each
    planning attempt); None for plain staging. The upload folds it into each file's clientRequestId
    (``gong_provider.ids.PlanToken``): a cleared run's files go to Gong again."""

    @property
    def generations(self) -> list[list[StagedFile]]:
        """Files grouped by generation, in upload order."""
        by_generation: dict[int, list[StagedFile]] = {}
        for staged in sorted(self.files, key=lambda f: (f.generation, f.part)):
            by_generation.setdefault(staged.generation, []).append(staged)
        return [by_generation[g] for g in sorted(by_generation)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as in ``manifest.json`` and XCom."""
        return asdict(self)

    def to_json(self) -> str:
        """The text of ``manifest.json``."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def publish(self, folder: OutputDir, also_keep: Iterable[str] = ()) -> None:
        """Write ``manifest.json`` into ``folder`` last, as the commit marker, after removing what an
        earlier attempt left there that this manifest does not name (its files, their sidecars)."""
        keep = {MANIFEST_NAME, *also_keep} | {os.path.basename(f.path) for f in self.files}
        keep |= {os.path.basename(f.sources_path) for f in self.files if f.sources_path}
        for name in folder.names():
            if name not in keep:
                folder.remove(name)
        folder.write_text(MANIFEST_NAME, self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StagingManifest:
        """Inverse of :meth:`to_dict`."""
        files = [StagedFile(**item) for item in data.get("files", [])]
        rest = {k: v for k, v in data.items() if k != "files" and k in cls.__dataclass_fields__}
        return cls(files=files, **rest)

    @classmethod
    def from_json(cls, text: str) -> StagingManifest:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def plan_token_beside(staged_path: str) -> str | None:
    """The change-capture plan that wrote ``staged_path`` (a path or a URL), as the manifest of its
    folder records it; None when there is no manifest there, or one without a plan (plain staging,
    an earlier release), or a ``manifest.json`` that is not staging's. Other read errors raise: a
    file's id must not change between the tries of one task."""
    from gong_provider.staging.outdir import OutputDir  # lazy: the operators load this module at DAG parse

    try:
        text = OutputDir(staged_path.rpartition("/")[0] or ".").read_text(MANIFEST_NAME)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    token = data.get("plan_token") if isinstance(data, dict) else None
    return str(token) if token else None


def load_manifest(path: str | os.PathLike[str] | Any) -> StagingManifest:
    """Read a manifest: the ``manifest.json`` file itself, or the ``<OBJECT_TYPE>`` folder holding it
    (a local path, a URL or an ObjectStoragePath)."""
    from gong_provider.staging.outdir import OutputDir  # lazy: the operators load this module at DAG parse

    text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    if is_manifest_path(text):
        folder_text = text.rstrip("/").rpartition("/")[0]
        parent: Any = getattr(path, "parent", None) if is_object_storage_path(path) else None
        folder = OutputDir(parent if parent is not None else (folder_text or "."))
    else:
        folder = OutputDir(path)
    return StagingManifest.from_json(folder.read_text(MANIFEST_NAME))
