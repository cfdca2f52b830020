"""The ``dataFile`` of an upload: a streamed, size-checked, re-openable source.

requests alone builds a whole multipart body in memory; requests-toolbelt's ``MultipartEncoder``
reads the file in small blocks while sending, so memory stays flat whatever the file size. Each
attempt of a (retried) upload opens the source afresh (a path or ObjectStoragePath is reopened, a
caller's file object is rewound to where it was), so a retry sends the same bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from requests_toolbelt import MultipartEncoder

from gong_provider.exceptions import GongPayloadTooLargeError
from gong_provider.models import MAX_UPLOAD_BYTES
from gong_provider.staging.location import is_object_storage_path

DATA_FILE_PART = "dataFile"
UPLOAD_BLOCK_BYTES = 1024 * 1024
_NDJSON_SUFFIXES = (".ldjson", ".ndjson", ".jsonl", ".json")


def content_type_for(filename: str) -> str:
    """LDJSON files as ``application/x-ndjson``; anything else as opaque bytes."""
    return (
        "application/x-ndjson" if filename.lower().endswith(_NDJSON_SUFFIXES) else "application/octet-stream"
    )


class _SizedReader:
    """A file view with a known remaining length, which ``MultipartEncoder`` reads in blocks.

    Wrapping every source the same way makes remote (fsspec) files work too: they have no usable
    ``fileno`` from which the encoder could learn their size.
    """

    def __init__(self, fileobj: IO[bytes], size: int) -> None:
        self._fileobj = fileobj
        self._remaining = size

    @property
    def len(self) -> int:
        return self._remaining

    def read(self, length: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if length is None or length < 0 or length > self._remaining:
            length = self._remaining
        chunk = self._fileobj.read(length)
        self._remaining -= len(chunk)
        return chunk


@dataclass
class UploadSource:
    """What to send as ``dataFile``; ``open()`` yields the file positioned at its first byte."""

    filename: str
    size: int
    content_type: str
    _path: str | None = None
    _storage_path: Any = None
    _fileobj: IO[bytes] | None = None
    _start: int = 0

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if self._fileobj is not None:
            self._fileobj.seek(self._start)
            yield self._fileobj  # the caller's object: rewound, never closed here
            return
        if self._storage_path is not None:
            handle: IO[bytes] = self._storage_path.open("rb")
        else:
            assert self._path is not None
            handle = open(self._path, "rb")  # noqa: SIM115 - closed below, after the request
        try:
            yield handle
        finally:
            handle.close()

    def encoder(self, fileobj: IO[bytes]) -> MultipartEncoder:
        """A fresh streaming multipart body around an opened file (one per attempt)."""
        reader = _SizedReader(fileobj, self.size)
        return _BlockEncoder(fields={DATA_FILE_PART: (self.filename, reader, self.content_type)})


class _BlockEncoder(MultipartEncoder):  # type: ignore[misc]
    """A ``MultipartEncoder`` read in 1 MiB blocks.

    urllib3 asks a streamed body for 16 KiB at a time; each ``read`` of the encoder costs Python
    work of its own, so small blocks halve the throughput of a 200 MB upload. Memory stays bounded
    by the block size.
    """

    def read(self, size: int = -1) -> bytes:
        return bytes(super().read(-1 if size is None or size < 0 else max(size, UPLOAD_BLOCK_BYTES)))


def _storage_size(path: Any) -> int:
    stat = path.stat()
    size = getattr(stat, "st_size", None)
    if size is None and isinstance(stat, dict):
        size = stat.get("size")
    if size is None:
        size = path.size()
    return int(size)


def upload_source(data_file: object, *, fallback_name: str) -> UploadSource:
    """Describe ``data_file`` (path, ObjectStoragePath or seekable binary file) and check its size."""
    if is_object_storage_path(data_file):
        name = str(getattr(data_file, "name", "") or fallback_name)
        source = UploadSource(
            filename=name,
            size=_storage_size(data_file),
            content_type=content_type_for(name),
            _storage_path=data_file,
        )
    elif isinstance(data_file, (str, os.PathLike)):
        path = os.fspath(data_file)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        name = os.path.basename(path) or fallback_name
        source = UploadSource(
            filename=name, size=os.stat(path).st_size, content_type=content_type_for(name), _path=path
        )
    elif hasattr(data_file, "read"):
        fileobj: IO[bytes] = data_file  # type: ignore[assignment]
        if isinstance(fileobj, io.TextIOBase):
            raise TypeError("data_file must be opened in binary mode ('rb'), not text mode")
        if not (hasattr(fileobj, "seekable") and fileobj.seekable()):
            raise TypeError("data_file must be seekable, so that its size is known and a retry can resend it")
        start = fileobj.tell()
        size = fileobj.seek(0, os.SEEK_END) - start
        fileobj.seek(start)
        raw_name = getattr(fileobj, "name", None)
        name = os.path.basename(raw_name) if isinstance(raw_name, str) and raw_name else fallback_name
        source = UploadSource(
            filename=name, size=size, content_type=content_type_for(name), _fileobj=fileobj, _start=start
        )
    else:
        raise TypeError(
            "data_file must be a local path, an ObjectStoragePath or a binary file object, "
            f"not {type(data_file).__name__}"
        )
    if source.size > MAX_UPLOAD_BYTES:
        raise GongPayloadTooLargeError(
            f"{source.filename} is {source.size} bytes; Gong accepts at most {MAX_UPLOAD_BYTES} bytes "
            "(200 MB) per upload, so it was not sent. Stage it into smaller files"
        )
    return source
