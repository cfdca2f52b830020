"""The staging manifest: what a staging run wrote, read by the upload operator and the DAG report.

A manifest is a small JSON document beside the staged files. It lists every file with its object
type, generation (successive updates of one objectId go to successive generations, uploaded one after
another), record count, size and sha256, and the rejects. Each staged file has a sidecar
``<file>.sources.ldjson`` saying where its staged lines came from (as run-length entries), so that
Gong's line errors can be mapped back to the user's source rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gong_provider.staging.outdir import OutputDir

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


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
