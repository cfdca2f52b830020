"""The state of what Gong confirmed, per (integration id, object type), as immutable files.

Layout under ``<base>/<integration id>/<OBJECT_TYPE>/`` (a local folder or an ObjectStoragePath, opened
with staging's :class:`~gong_provider.staging.outdir.OutputDir`):

- ``HEAD.json``: the pointer, written last by a commit (a single-object write is atomic on object
  stores, a rename locally): the generation, the fingerprint, and each bucket file with its sha256;
- ``gen-<generation>-<token>-b<NN>.msgpack``: the entries of one hash bucket of one generation, never
  rewritten (a commit writes a new generation, then moves HEAD);
- ``claim-<generation>.json``: created exclusively before HEAD moves to that generation, so that of
  two runs committing on the same base only one can win;
- ``plan-<token>.json`` (+ ``plan-<token>-*.msgpack``): a run's in-flight marker, written before its
  upload and removed by its commit; a plan left behind by a run that died is recovered by the next
  run (every key it sent becomes pending).

An entry is ``objectId``, the 64-bit xxh3 digest of the staged line Gong confirmed, a flag (live,
tombstone: confirmed ``isDeleted``, pending: not confirmed, always sent again) and what a delete of
the type needs (STAGE's ``name``). Keys are spread over ``BUCKETS`` buckets by the low bits of the
objectId's xxh3, so a diff or a commit holds one bucket at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import xxhash

from gong_provider.changes.errors import GongStateConflictError, GongStateCorruptError
from gong_provider.ids import parse_integration_id
from gong_provider.models import CustomField, ObjectType
from gong_provider.staging.outdir import OutputDir
from gong_provider.staging.specs import spec_for

FORMAT_VERSION = 1
BUCKET_BITS = 6
BUCKETS = 1 << BUCKET_BITS
"""64 buckets: ~80,000 keys each at 5 million keys (a few MB while one is diffed or committed)."""
BUCKET_MASK = BUCKETS - 1
HEAD_NAME = "HEAD.json"
GENERATIONS_KEPT = 2
"""Generations kept after a commit (the current and the one before, for inspection)."""

LIVE = 0
"""Gong holds the record with this digest."""
TOMBSTONE = 1
"""Gong confirmed the source's own ``isDeleted: true`` record with this digest."""
PENDING = 2
"""Gong has not confirmed this key's last change (a FAILED line, a file never confirmed, a staging
reject, a run that died in flight): the next run sends it again, whatever its digest."""

hash64 = xxhash.xxh3_64_intdigest
"""Stable (unlike ``hash()``) 64-bit hash of bytes, in C; hot loops call it directly."""


def key_of(object_id: str) -> int:
    """The objectId's stable 64-bit key (its low bits choose the bucket)."""
    return hash64(object_id.encode())


def digest_of(line: bytes) -> int:
    """Digest of a staged line without its newline (64-bit xxh3: a missed change needs a collision)."""
    return hash64(line)


def delete_fields(object_type: ObjectType | str) -> tuple[str, ...]:
    """Fields a delete of the type must carry besides objectId, modifiedDate and isDeleted: the
    mandatory ones that a deleted record may not omit (STAGE's ``name``; BUSINESS_USER's email is
    mandatory only unless deleted)."""
    spec = spec_for(object_type)
    return tuple(
        name
        for name, field_spec in spec.fields.items()
        if field_spec.mandatory
        and not field_spec.mandatory_unless_deleted
        and name not in ("objectId", "modifiedDate")
    )


def state_fingerprint(
    object_type: ObjectType | str,
    *,
    mapping: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    custom_fields: Sequence[CustomField] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """What makes staged lines comparable across runs; a change makes the next run send everything."""
    document = {
        "format": FORMAT_VERSION,
        "object_type": str(ObjectType(str(object_type))),
        "mapping": dict(sorted((mapping or {}).items())),
        "timezone": timezone,
        "custom_fields": None
        if custom_fields is None
        else sorted((asdict(f) for f in custom_fields), key=lambda f: str(f["unique_name"])),
        "extra": dict(extra or {}),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


class _BucketFile(msgspec.Struct, array_like=True):
    ids: list[str]
    keys: bytes
    digests: bytes
    flags: bytes
    extras: list[Any]
    """One per id (a dict or None) for types whose deletes need fields, else empty."""


_BUCKET_DECODER = msgspec.msgpack.Decoder(_BucketFile)
_ENCODER = msgspec.msgpack.Encoder()


@dataclass
class Bucket:
    """The entries of one bucket, held as arrays (no Python object per digest or flag)."""

    ids: list[str] = field(default_factory=list)
    keys: array[int] = field(default_factory=lambda: array("Q"))
    """``key_of`` of each id, stored so that a diff does not hash the state's ids again."""
    digests: array[int] = field(default_factory=lambda: array("Q"))
    flags: bytearray = field(default_factory=bytearray)
    extras: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self) -> bytes:
        return _ENCODER.encode(
            _BucketFile(
                self.ids, self.keys.tobytes(), self.digests.tobytes(), bytes(self.flags), self.extras or []
            )
        )

    @classmethod
    def decode(cls, data: bytes, with_extras: bool) -> Bucket:
        raw = _BUCKET_DECODER.decode(data)
        keys, digests = array("Q"), array("Q")
        keys.frombytes(raw.keys)
        digests.frombytes(raw.digests)
        if not len(keys) == len(digests) == len(raw.flags) == len(raw.ids):
            raise ValueError("its columns differ in length")
        if with_extras and len(raw.extras) != len(raw.ids):
            raise ValueError("its delete fields differ in length from its ids")
        return cls(raw.ids, keys, digests, bytearray(raw.flags), raw.extras if with_extras else None)


@dataclass(frozen=True)
class BucketRef:
    name: str
    sha256: str
    entries: int


@dataclass
class StateHead:
    """The pointer: which bucket files make up the committed generation."""

    generation: int
    fingerprint: str
    buckets: dict[int, BucketRef]
    run_token: str
    committed_at: str
    live: int = 0
    tombstones: int = 0
    pending: int = 0
    rebuild_next: bool = False
    """Set when a run that was rebuilding the state died in flight: the next run rebuilds too."""
    report: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    @property
    def entries(self) -> int:
        return self.live + self.tombstones + self.pending

    @property
    def confirmed(self) -> int:
        """Keys a mirror delete may target (live or pending): the delete guard's denominator."""
        return self.live + self.pending

    def to_json(self) -> str:
        data = asdict(self)
        data["buckets"] = {str(b): asdict(ref) for b, ref in sorted(self.buckets.items())}
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StateHead:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {data.get('format')!r}, this version reads {FORMAT_VERSION}")
        buckets = {int(b): BucketRef(**ref) for b, ref in data.pop("buckets").items()}
        return cls(buckets=buckets, **data)


class StateStore:
    """Reads and writes the state of one (integration id, object type) under ``base``."""

    def __init__(self, base: Any, integration_id: int | str, object_type: ObjectType | str) -> None:
        self.object_type = ObjectType(str(object_type))
        self.integration_id = str(parse_integration_id(integration_id))
        self.folder = OutputDir(base).child(self.integration_id).child(self.object_type.value)
        self.delete_fields = delete_fields(self.object_type)
        self.label = self.folder.location("")

    # -- reading -----------------------------------------------------------------------------

    def read_head(self) -> StateHead | None:
        """The committed pointer; None when nothing was ever committed (a first run)."""
        try:
            text = self.folder.read_text(HEAD_NAME)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise GongStateCorruptError(self.folder.location(HEAD_NAME), str(error)) from None
        try:
            return StateHead.from_json(text)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise GongStateCorruptError(
                self.folder.location(HEAD_NAME), f"unreadable pointer ({error})"
            ) from None

    def load_bucket(self, head: StateHead | None, bucket: int) -> Bucket:
        """One bucket of ``head``'s generation, checked against the sha256 the pointer recorded."""
        with_extras = bool(self.delete_fields)
        ref = head.buckets.get(bucket) if head is not None else None
        if ref is None:
            return Bucket(extras=[] if with_extras else None)
        location = self.folder.location(ref.name)
        try:
            with self.folder.open_read(ref.name) as handle:
                data = handle.read()
        except FileNotFoundError:
            raise GongStateCorruptError(location, "the file is missing") from None
        except OSError as error:
            raise GongStateCorruptError(location, str(error)) from None
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise GongStateCorruptError(location, "its sha256 differs from the one HEAD.json recorded")
        try:
            loaded = Bucket.decode(data, with_extras)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as error:
            raise GongStateCorruptError(location, f"unreadable bucket ({error})") from None
        if len(loaded) != ref.entries:
            raise GongStateCorruptError(location, f"{len(loaded)} entries, HEAD.json says {ref.entries}")
        return loaded

    # -- writing -----------------------------------------------------------------------------

    def bucket_name(self, generation: int, token: str, bucket: int) -> str:
        return f"gen-{generation:08d}-{token}-b{bucket:02d}.msgpack"

    def write_bucket(self, generation: int, token: str, bucket: int, entries: Bucket) -> BucketRef:
        name = self.bucket_name(generation, token, bucket)
        data = entries.encode()
        self.write_blob(name, data)
        return BucketRef(name, hashlib.sha256(data).hexdigest(), len(entries))

    def claim(self, generation: int, token: str) -> None:
        """Reserve ``generation`` for this run, or fail if another run reserved it first."""
        name = f"claim-{generation:08d}.json"
        body = json.dumps({"run_token": token}).encode()
        if not _create_exclusive(self.folder, name, body):
            try:
                holder = json.loads(self.folder.read_text(name)).get("run_token")
            except (OSError, ValueError):
                holder = None
            if holder != token:
                raise GongStateConflictError(
                    f"{self.object_type.value}: another run (token {holder}) is committing state "
                    f"generation {generation} at {self.label}; two syncs of one integration and type must "
                    "not run at once"
                )

    def write_head(self, head: StateHead) -> None:
        self.folder.write_text(HEAD_NAME, head.to_json())

    def collect_garbage(self, head: StateHead) -> None:
        """Remove bucket files and claims of generations older than the ones kept."""
        oldest = head.generation - GENERATIONS_KEPT + 1
        shared = {ref.name for ref in head.buckets.values()}
        for name in self.folder.names():
            generation = _generation_of(name)
            if generation is not None and generation < oldest and name not in shared:
                self.folder.remove(name)

    def mkdir(self) -> None:
        self.folder.mkdir()

    # -- plans (in-flight markers) -----------------------------------------------------------

    def plan_tokens(self) -> list[str]:
        return sorted(
            name[len("plan-") : -len(".json")]
            for name in self.folder.names()
            if name.startswith("plan-") and name.endswith(".json")
        )

    def remove_plan(self, token: str) -> None:
        """The marker first, then its data (a half-removed plan is never mistaken for a whole one)."""
        self.folder.remove(f"plan-{token}.json")
        for name in self.folder.names():
            if name.startswith(f"plan-{token}-"):
                self.folder.remove(name)

    def write_blob(self, name: str, data: bytes) -> None:
        with self.folder.open_write(name) as handle:
            handle.write(data)

    def read_blob(self, name: str) -> bytes:
        try:
            with self.folder.open_read(name) as handle:
                return bytes(handle.read())
        except FileNotFoundError:
            raise GongStateCorruptError(self.folder.location(name), "the file is missing") from None


def _generation_of(name: str) -> int | None:
    for prefix in ("gen-", "claim-"):
        if name.startswith(prefix):
            digits = name[len(prefix) : len(prefix) + 8]
            return int(digits) if digits.isdigit() else None
    return None


def _create_exclusive(folder: OutputDir, name: str, data: bytes) -> bool:
    """Create ``name`` only if it does not exist. Locally O_EXCL makes this atomic; on object storage
    it is check-then-write, then read back: the loser of a race sees the winner's content."""
    if folder.local is not None:
        try:
            descriptor = os.open(folder.local / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return True
    if name in folder.names():
        return False
    with folder.open_write(name) as handle:
        handle.write(data)
    with folder.open_read(name) as handle:
        return bytes(handle.read()) == data
