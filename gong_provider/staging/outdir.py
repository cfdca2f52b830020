"""The output folder of a staging run: a local folder or an ObjectStoragePath (s3://, gs://, ...).

Atomicity: locally every file is written under a temporary name and renamed into place (an atomic
rename on one file system). On object storage an object only becomes visible once its upload is
complete, so files are written under their final names. In both cases ``manifest.json`` is written
last and is the commit marker: a run's previous manifest is deleted first, so a reader never sees a
manifest that points at files of two different runs.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import IO, Any

from gong_provider.staging.location import is_object_storage_path, resolve_location
from gong_provider.staging.location import open_location as open_location  # its home before


class OutputDir:
    def __init__(self, location: Any) -> None:
        self.remote: Any = None
        self.local: Path | None = None
        location = resolve_location(location)
        if is_object_storage_path(location):
            protocol = location.protocol
            if isinstance(protocol, (tuple, list)):
                protocol = protocol[0] if protocol else ""
            if protocol in ("file", "local", ""):
                self.local = Path(location.path)
            else:
                self.remote = location
        else:
            self.local = Path(os.fspath(location))

    def child(self, name: str) -> OutputDir:
        sub = OutputDir.__new__(OutputDir)
        sub.remote = self.remote / name if self.remote is not None else None
        sub.local = self.local / name if self.local is not None else None
        return sub

    def location(self, name: str) -> str:
        """How a file is named in the manifest: a local path, or the object storage URL."""
        if self.local is not None:
            return str(self.local / name)
        return str(self.remote / name)

    def mkdir(self) -> None:
        if self.local is not None:
            self.local.mkdir(parents=True, exist_ok=True)
        else:
            self.remote.mkdir(parents=True, exist_ok=True)

    def names(self) -> list[str]:
        """The folder's files; none when it does not exist yet (an object store has no folders: the
        listing of a prefix with no object under it raises NotADirectoryError). On object storage
        the store itself is asked: fsspec caches listings (s3fs per filesystem instance), and a file
        written since, by this process or another, must be seen."""
        try:
            if self.local is not None:
                return [p.name for p in self.local.iterdir() if p.is_file()]
            entries = self.remote.fs.ls(self.remote.path, detail=True, refresh=True)
        except (FileNotFoundError, NotADirectoryError):  # object storage: a folder with nothing in it
            return []
        files = [str(entry["name"]) for entry in entries if entry.get("type") == "file"]
        return [name.rstrip("/").rsplit("/", 1)[-1] for name in files]

    def remove(self, name: str) -> None:
        try:
            if self.local is not None:
                (self.local / name).unlink()
            else:
                (self.remote / name).unlink()
        except FileNotFoundError:
            pass

    def read_text(self, name: str) -> str:
        if self.local is not None:
            return (self.local / name).read_text(encoding="utf-8")
        with (self.remote / name).open("rb") as handle:
            return bytes(handle.read()).decode("utf-8")

    def open_read(self, name: str) -> IO[bytes]:
        if self.local is not None:
            return (self.local / name).open("rb")
        handle: IO[bytes] = (self.remote / name).open("rb")
        return handle

    def open_write(self, name: str) -> AtomicFile:
        return AtomicFile(self, name)

    def write_text(self, name: str, text: str) -> None:
        with self.open_write(name) as handle:
            handle.write(text.encode("utf-8"))


class AtomicFile:
    """A file that appears under its name only once closed without error."""

    def __init__(self, folder: OutputDir, name: str) -> None:
        self.folder = folder
        self.name = name
        self.temp_name = f".{name}.{uuid.uuid4().hex[:12]}.tmp" if folder.local is not None else name
        target = folder.local / self.temp_name if folder.local is not None else folder.remote / name
        self.handle: IO[bytes] = target.open("wb")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        self.handle.close()
        if self.folder.local is not None:
            os.replace(self.folder.local / self.temp_name, self.folder.local / self.name)

    def abort(self) -> None:
        self.handle.close()
        self.folder.remove(self.temp_name)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
