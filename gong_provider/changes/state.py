"""The state of what Gong confirmed, per (integration id, object type), as immutable files.

:class:`StateStore` owns the whole layout under ``<base>/<integration id>/<OBJECT_TYPE>/`` (a local
folder or an ObjectStoragePath, opened with staging's :class:`~gong_provider.staging.outdir.OutputDir`);
nothing else names a file there. docs/state.md draws the states and what a crash leaves.

- ``HEAD.json``: the pointer, written last by a commit (a single-object write is atomic on object
  stores, a rename locally): the generation, the fingerprint, each bucket file with its sha256, and
  the tokens of the plans committed lately (so that a commit or a recovery is idempotent);
- ``gen-<generation>-<token>-b<NN>.msgpack``: the entries of one hash bucket of one generation, never
  rewritten (a commit writes a new generation, then moves HEAD);
- ``claim-<generation>.json``: created exclusively before a commit writes that generation; a claim of
  a commit that died before HEAD is stale and skipped;
- ``lease-<n>.json``: who may plan, upload and commit on the state, until when: taken exclusively
  before the upload, checked at the commit, released after it;
- ``plan-<token>.json`` (+ ``plan-<token>-*.msgpack``): a run's in-flight marker, written before its
  upload and removed by its commit; a plan left behind is recovered by the next run (every key it
  sent becomes pending) unless HEAD says it was committed.

Every write and delete goes through :meth:`StateStore.write_file`, :meth:`StateStore.create_file`
and :meth:`StateStore.remove_file` (the crash tests wrap them).

An entry is ``objectId``, the 64-bit xxh3 digest of the canonical staged line Gong confirmed, a flag
(live, tombstone: confirmed ``isDeleted``, pending: not confirmed, always sent again) and what a
delete of the type needs (STAGE's ``name``). Keys are spread over ``BUCKETS`` buckets by the low bits
of the objectId's xxh3, so a diff or a commit holds one bucket at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import repeat
from typing import Any

import msgspec
import xxhash

from gong_provider.changes.errors import GongStateConflictError, GongStateCorruptError
from gong_provider.ids import IntegrationId
from gong_provider.models import CustomField, ObjectType
from gong_provider.staging.outdir import OutputDir
from gong_provider.staging.specs import spec_for

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
"""2: digests of canonical lines (whitespace-free), committed plan tokens in HEAD."""
READABLE_FORMATS = (1, 2)
"""A format-1 state is read; its fingerprint (which holds the format) differs, so the next run rebuilds
it, keeping its keys as delete candidates."""
BUCKET_BITS = 6
BUCKETS = 1 << BUCKET_BITS
"""64 buckets: ~80,000 keys each at 5 million keys (a few MB while one is diffed or committed)."""
BUCKET_MASK = BUCKETS - 1
HEAD_NAME = "HEAD.json"
GENERATIONS_KEPT = 2
"""Generations kept after a commit (the current and the one before, for inspection)."""
COMMITTED_TOKENS_KEPT = 64
"""Plan tokens HEAD remembers as committed: a marker a crash left behind is recognized as done."""
DEFAULT_LEASE_SECONDS = 12 * 3600
"""How long a run holds the state (plan, upload, commit) before another run may take it over: longer
than an upload takes, shorter than a day, so a daily run heals a crashed one."""

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


_STRUCTURE = b' \t\r\n,:{}[]"'
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in _STRUCTURE)
_SPACED = (b"\t", b"\r", b"\n ", b" \n", b"{ ", b"[ ", b", ", b": ", b" }", b" ]", b" ,", b" :")
"""Outside strings, JSON whitespace always sits next to a structural character (or at an end)."""
_format = msgspec.json.format


def maybe_spaced(data: bytes) -> bool:
    """Whether ``data`` (a line or a block) may hold whitespace outside strings (a false positive is
    harmless: :func:`canonical_line` of a compact line is the line). The search runs on the
    structural characters and whitespace alone (deleting the rest keeps such whitespace beside its
    neighbour), about a tenth of the bytes: a two-byte search of the block would cost more than
    hashing it."""
    skeleton = data.translate(None, _NOT_STRUCTURE)
    return skeleton[:1] == b" " or skeleton[-1:] == b" " or any(p in skeleton for p in _SPACED)


def canonical_line(line: bytes) -> bytes:
    """A staged line (without its newline) with no whitespace outside strings: staging copies a
    valid block's lines as the source wrote them and re-encodes compactly a line it normalized, so
    the same record must digest the same either way."""
    return _format(line, indent=-1) if maybe_spaced(line) else line


def digest_of(line: bytes) -> int:
    """Digest of a staged line without its newline: of its own canonical content only (64-bit xxh3:
    a missed change needs a collision)."""
    return hash64(canonical_line(line))


def utcnow() -> datetime:
    """The wall clock (one home, so the tests can move it)."""
    return datetime.now(timezone.utc)


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
    committed_tokens: list[str] = field(default_factory=list)
    """Plan tokens committed lately (this one's last): their markers are done, not in flight."""
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
        if data.get("format") not in READABLE_FORMATS:
            raise ValueError(f"format {data.get('format')!r}, this version reads {READABLE_FORMATS}")
        buckets = {int(b): BucketRef(**ref) for b, ref in data.pop("buckets").items()}
        return cls(buckets=buckets, **data)


@dataclass(frozen=True)
class Lease:
    """Who holds the state (a run's plan token and run key) until when; ``token`` None: free."""

    number: int
    token: str | None
    run_key: str | None
    expires_at: str

    def expired(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.expires_at) <= now


class StateStore:
    """Reads and writes the state of one (integration id, object type) under ``base``."""

    def __init__(self, base: Any, integration_id: IntegrationId, object_type: ObjectType | str) -> None:
        self.object_type = ObjectType(str(object_type))
        self.integration_id = integration_id
        self.folder = OutputDir(base).child(str(integration_id)).child(self.object_type.value)
        self.delete_fields = delete_fields(self.object_type)
        self.label = self.folder.location("")

    # -- the layout ----------------------------------------------------------------------------

    @staticmethod
    def bucket_name(generation: int, token: str, bucket: int) -> str:
        return f"gen-{generation:08d}-{token}-b{bucket:02d}.msgpack"

    @staticmethod
    def claim_name(generation: int) -> str:
        return f"claim-{generation:08d}.json"

    @staticmethod
    def lease_name(number: int) -> str:
        return f"lease-{number:08d}.json"

    @staticmethod
    def plan_name(token: str) -> str:
        return f"plan-{token}.json"

    @staticmethod
    def plan_sent_name(token: str, bucket: int) -> str:
        return f"plan-{token}-s{bucket:02d}.msgpack"

    @staticmethod
    def plan_rejects_name(token: str) -> str:
        return f"plan-{token}-rejects.msgpack"

    def location(self, name: str) -> str:
        return self.folder.location(name)

    def names(self) -> list[str]:
        """The folder's files; none when it does not exist yet (an object store has no folders: a
        listing of a missing prefix may raise NotADirectoryError)."""
        return self.folder.names()  # asks the store itself: a marker or a lease written since is seen

    # -- the only writes -------------------------------------------------------------------------

    def write_file(self, name: str, data: bytes) -> None:
        """Write (or replace) ``name`` whole: it appears only once complete."""
        if self.folder.local is not None:
            self.folder.mkdir()
        with self.folder.open_write(name) as handle:
            handle.write(data)

    def create_file(self, name: str, data: bytes) -> bool:
        """Create ``name`` only if it does not exist, atomically: ``O_EXCL`` locally, the store's
        conditional write (fsspec ``xb``: ``If-None-Match: *`` on S3) on object storage. False when
        it exists."""
        if self.folder.local is not None:
            self.folder.mkdir()
            try:
                descriptor = os.open(self.folder.local / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            return True
        try:
            with (self.folder.remote / name).open("xb") as handle:
                handle.write(data)
        except FileExistsError:
            return False
        return True

    def remove_file(self, name: str) -> None:
        self.folder.remove(name)

    def read_file(self, name: str) -> bytes:
        try:
            with self.folder.open_read(name) as handle:
                return bytes(handle.read())
        except FileNotFoundError:
            raise GongStateCorruptError(self.location(name), "the file is missing") from None

    # -- reading -----------------------------------------------------------------------------

    def read_head(self) -> StateHead | None:
        """The committed pointer; None when nothing was ever committed (a first run)."""
        try:
            text = self.folder.read_text(HEAD_NAME)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise GongStateCorruptError(self.location(HEAD_NAME), str(error)) from None
        try:
            return StateHead.from_json(text)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise GongStateCorruptError(self.location(HEAD_NAME), f"unreadable pointer ({error})") from None

    def load_bucket(self, head: StateHead | None, bucket: int) -> Bucket:
        """One bucket of ``head``'s generation, checked against the sha256 the pointer recorded."""
        with_extras = bool(self.delete_fields)
        ref = head.buckets.get(bucket) if head is not None else None
        if ref is None:
            return Bucket(extras=[] if with_extras else None)
        location = self.location(ref.name)
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

    # -- a commit's writes -----------------------------------------------------------------------

    def write_bucket(self, generation: int, token: str, bucket: int, entries: Bucket) -> BucketRef:
        name = self.bucket_name(generation, token, bucket)
        data = entries.encode()
        self.write_file(name, data)
        return BucketRef(name, hashlib.sha256(data).hexdigest(), len(entries))

    def claim(self, head: StateHead | None, token: str) -> int:
        """Reserve the generation after ``head`` for ``token`` (its own claim again on a retry). A
        claim by another token that HEAD never reached is stale (its commit died before HEAD; only
        the lease holder commits, and this run checked it holds the lease): it is skipped, logged."""
        generation = (head.generation if head is not None else self._highest_generation()) + 1
        body = json.dumps({"run_token": token}).encode()
        while not self.create_file(self.claim_name(generation), body):
            holder = self._claim_holder(generation)
            if holder == token:
                return generation
            log.warning(
                "%s: generation %s at %s was claimed by a commit (token %s) that never moved HEAD (it "
                "died or lost its lease): its claim is stale and skipped",
                self.object_type.value,
                generation,
                self.label,
                holder,
            )
            generation += 1
        return generation

    def _claim_holder(self, generation: int) -> str | None:
        try:
            holder = json.loads(self.read_file(self.claim_name(generation))).get("run_token")
        except (GongStateCorruptError, OSError, ValueError, AttributeError):
            return None
        return str(holder) if holder is not None else None

    def _highest_generation(self) -> int:
        found = [g for g in map(_generation_of, self.names()) if g is not None]
        return max(found, default=0)

    def write_head(self, head: StateHead) -> None:
        self.write_file(HEAD_NAME, head.to_json().encode())

    def collect_garbage(self) -> None:
        """Remove bucket files, claims and leases of old generations, never a file the current HEAD
        (read again here, whoever wrote it) references."""
        head = self.read_head()
        if head is None:
            return
        oldest = head.generation - GENERATIONS_KEPT + 1
        referenced = {ref.name for ref in head.buckets.values()}
        names = self.names()
        leases = sorted(n for n in map(_lease_number, names) if n is not None)
        for name in names:
            generation = _generation_of(name)
            if generation is not None and generation < oldest and name not in referenced:
                self.remove_file(name)
            number = _lease_number(name)
            if number is not None and number < leases[-1] - 1:  # leases: not empty when number is set
                self.remove_file(name)

    # -- the lease -----------------------------------------------------------------------------

    def current_lease(self) -> Lease | None:
        numbers = [n for n in map(_lease_number, self.names()) if n is not None]
        if not numbers:
            return None
        number = max(numbers)
        try:
            data = json.loads(self.read_file(self.lease_name(number)))
            return Lease(number, data.get("token"), data.get("run_key"), str(data["expires_at"]))
        except (GongStateCorruptError, ValueError, KeyError, AttributeError):
            raise GongStateCorruptError(self.location(self.lease_name(number)), "unreadable lease") from None

    def acquire_lease(self, token: str, run_key: str, seconds: float) -> None:
        """Hold the state for ``seconds``: free, expired, or held by an earlier attempt of the same run
        (a retry or a clear) it is taken; held by another live run it raises
        :class:`GongStateConflictError` (two runs on one state never overlap)."""
        now = utcnow()
        current = self.current_lease()
        if current is not None and current.token is not None and current.token != token:
            if current.run_key == run_key:
                log.warning(
                    "%s: taking over the state from an earlier attempt of run %s (token %s)",
                    self.object_type.value,
                    run_key,
                    current.token,
                )
            elif current.expired(now):
                log.warning(
                    "%s: the lease of run %s (token %s) on %s expired at %s without a commit: taken over; "
                    "what that run sent becomes pending",
                    self.object_type.value,
                    current.run_key,
                    current.token,
                    self.label,
                    current.expires_at,
                )
            else:
                raise GongStateConflictError(
                    f"{self.object_type.value}: run {current.run_key} holds the state at {self.label} until "
                    f"{current.expires_at}; two syncs of one integration and type must not run at once. "
                    "Retry after that run commits (or after its lease expires, if it died)"
                )
        number = current.number + 1 if current is not None else 1
        body = {
            "token": token,
            "run_key": run_key,
            "expires_at": (now + timedelta(seconds=seconds)).isoformat(),
        }
        if not self.create_file(self.lease_name(number), json.dumps(body).encode()):
            raise GongStateConflictError(
                f"{self.object_type.value}: another run took the state at {self.label} at the same moment; "
                "retry later"
            )

    def holds_lease(self, token: str) -> bool:
        current = self.current_lease()
        return current is not None and current.token == token

    def release_lease(self, token: str) -> None:
        """Free the state, if ``token`` still holds it."""
        current = self.current_lease()
        if current is None or current.token != token:
            return
        body = {"token": None, "run_key": None, "expires_at": utcnow().isoformat(), "released_by": token}
        self.create_file(self.lease_name(current.number + 1), json.dumps(body).encode())

    # -- plans (in-flight markers) -----------------------------------------------------------

    def plan_tokens(self) -> list[str]:
        return sorted(
            name[len("plan-") : -len(".json")]
            for name in self.names()
            if name.startswith("plan-") and name.endswith(".json")
        )

    def remove_plan(self, token: str) -> None:
        """The marker first, then its data (a half-removed plan is never mistaken for a whole one)."""
        self.remove_file(self.plan_name(token))
        for name in self.names():
            if name.startswith(f"plan-{token}-"):
                self.remove_file(name)


def _generation_of(name: str) -> int | None:
    for prefix in ("gen-", "claim-"):
        if name.startswith(prefix):
            digits = name[len(prefix) : len(prefix) + 8]
            return int(digits) if digits.isdigit() else None
    return None


def _lease_number(name: str) -> int | None:
    if name.startswith("lease-") and name.endswith(".json"):
        digits = name[len("lease-") : -len(".json")]
        return int(digits) if digits.isdigit() else None
    return None


def iter_state(store: StateStore) -> Iterator[tuple[str, int, int, Any]]:
    """Every entry of the committed state: ``(objectId, digest, flag, delete fields)``."""
    head = store.read_head()
    for bucket in range(BUCKETS):
        entries = store.load_bucket(head, bucket)
        extras = entries.extras if entries.extras is not None else repeat(None)
        yield from zip(entries.ids, entries.digests, entries.flags, extras, strict=False)
