"""The ``dataFile`` of an upload: a streamed, size-checked, verified, re-openable source.

The bytes are counted and hashed as they stream (no second pass): with the staged file's expected
size, line count and sha256, a size mismatch is refused before sending, and a content mismatch is
found when the last block is read, before it is sent, so Gong never gets a complete file to process.

requests alone builds a whole multipart body in memory; requests-toolbelt's ``MultipartEncoder``
reads the file in small blocks while sending, so memory stays flat whatever the file size. Each
attempt of a (retried) upload opens the source afresh (a path or ObjectStoragePath is reopened, a
caller's file object is rewound to where it was), so a retry sends the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from requests_toolbelt import MultipartEncoder

from gong_provider.exceptions import GongContentMismatchError, GongPayloadTooLargeError
from gong_provider.limits import MAX_UPLOAD_FILE_BYTES
from gong_provider.staging.location import is_object_storage_path

DATA_FILE_PART = "dataFile"
UPLOAD_BLOCK_BYTES = 1024 * 1024
_NDJSON_SUFFIXES = (".ldjson", ".ndjson", ".jsonl", ".json")


def content_type_for(filename: str) -> str:
    """LDJSON files as ``application/x-ndjson``; anything else as opaque bytes."""
    return (
        "application/x-ndjson" if filename.lower().endswith(_NDJSON_SUFFIXES) else "application/octet-stream"
    )


@dataclass(frozen=True)
class ContentFacts:
    """Size, record (line) count and sha256 of a file's bytes: what staging recorded, or what was read."""

    sha256: str
    records: int
    bytes: int


class ContentTally:
    """Counts and hashes bytes as they pass, block by block: the one rule of "how many records"."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._size = 0
        self._newlines = 0
        self._last = b"\n"

    def add(self, block: bytes) -> None:
        if block:
            self._digest.update(block)
            self._size += len(block)
            self._newlines += block.count(b"\n")
            self._last = block[-1:]

    def facts(self) -> ContentFacts:
        """A last line without its newline counts as a record too."""
        unterminated = 1 if self._size and self._last != b"\n" else 0
        return ContentFacts(self._digest.hexdigest(), self._newlines + unterminated, self._size)


def mismatch(name: str, expected: ContentFacts, read: ContentFacts) -> str | None:
    """What differs between the staged facts and the bytes read, or None."""
    differences = [
        f"{what} {getattr(read, what)} where staging recorded {getattr(expected, what)}"
        for what in ("bytes", "records", "sha256")
        if getattr(read, what) != getattr(expected, what)
    ]
    if not differences:
        return None
    return f"{name}: the bytes read for the upload differ from the staged file ({'; '.join(differences)})"


class _SizedReader:
    """A file view with a known remaining length, which ``MultipartEncoder`` reads in blocks.

    Wrapping every source the same way makes remote (fsspec) files work too: they have no usable
    ``fileno`` from which the encoder could learn their size. With ``expected`` facts, the blocks are
    tallied as they pass and the last one is withheld (raising) when the content differs.
    """

    def __init__(
        self, fileobj: IO[bytes], size: int, *, name: str = "", expected: ContentFacts | None = None
    ) -> None:
        self._fileobj = fileobj
        self._remaining = size
        self._name = name
        self._expected = expected
        self._tally = ContentTally()

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
        if self._expected is not None:
            self._tally.add(chunk)
            if self._remaining <= 0 or not chunk:
                problem = mismatch(self._name, self._expected, self._tally.facts())
                if problem:
                    raise GongContentMismatchError(problem + "; not sent")
        return chunk


@dataclass
class UploadSource:
    """What to send as ``dataFile``; ``open()`` yields the file positioned at its first byte."""

    filename: str
    size: int
    content_type: str
    expected: ContentFacts | None = None
    """The staged file's facts, checked against the bytes as they stream."""
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
        reader = _SizedReader(fileobj, self.size, name=self.filename, expected=self.expected)
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


def upload_source(
    data_file: object, *, fallback_name: str, expected: ContentFacts | None = None
) -> UploadSource:
    """Describe ``data_file`` (path, ObjectStoragePath or seekable binary file) and check its size
    (against ``expected`` too, before anything is sent)."""
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
    source.expected = expected
    if expected is not None and source.size != expected.bytes:
        raise GongContentMismatchError(
            f"{source.filename}: {source.size} bytes where staging recorded {expected.bytes}; not sent"
        )
    if source.size > MAX_UPLOAD_FILE_BYTES:
        raise GongPayloadTooLargeError(
            f"{source.filename} is {source.size} bytes; Gong accepts at most {MAX_UPLOAD_FILE_BYTES} bytes "
            "(200 MB) per upload, so it was not sent. Stage it into smaller files"
        )
    return source
