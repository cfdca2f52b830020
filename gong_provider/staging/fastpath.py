"""The JSON Lines fast path: records already in Gong's form are checked a block at a time, in C.

A block of complete lines is decoded at once by msgspec into a typed struct per object type (types,
mandatory fields, lengths, enums, dates checked by the decoder), then each column is checked with a
few whole-column string operations instead of per-value Python. A block that passes is written as
it is (the user's own bytes: already valid, so nothing to normalize). Anything unusual in a block
(a bad record, a value to normalize, CR, BOM, ``null``, ``""``, non-ASCII that is not UTF-8)
sends just that block through the per-record path, so results are the same either way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import IO, Annotated, Any, Literal

import msgspec

from gong_provider.staging.field_names import FieldNames
from gong_provider.staging.normalize import MAX_EMAIL_LENGTH, MAX_OBJECT_ID_LENGTH
from gong_provider.staging.readers import BLOCK_SIZE, BOM, HEAD_BYTES, TooLong
from gong_provider.staging.specs import DEAL_STATUSES, EntitySpec, Kind
from gong_provider.utf8 import invalid_utf8_offset

BLOCK_BYTES = BLOCK_SIZE
_NULL = re.compile(rb":\s*null\b")
_OBJECT_ID_ASCII = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-\n"
_VISIBLE_ASCII = bytes(range(0x21, 0x7F)) + b"\n"
_EMAIL_ASCII = bytes(c for c in _VISIBLE_ASCII if chr(c) not in '"\\,;:<>()[]')
_NOT_AT_OR_NEWLINE = bytes(c for c in range(256) if c not in b"@\n")
_NOT_EMAIL_SKELETON = bytes(c for c in range(256) if c not in b"@.\n")
_WHITESPACE = re.compile(r"[^\S\n]")
_DATETIME_LIST = msgspec.json.Decoder(list[Annotated[dt.datetime, msgspec.Meta(tz=True)]])
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
_KEYS = msgspec.json.Decoder(dict[str, msgspec.Raw])
"""Each record's keys only (values left raw): what the unknown-field check needs."""


def _field_type(kind: Kind) -> Any:
    return {
        Kind.OBJECT_ID: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_OBJECT_ID_LENGTH)],
        Kind.STRING: NonEmpty,
        Kind.DATETIME: Annotated[str, msgspec.Meta(min_length=20, max_length=25)],
        Kind.DATE: dt.date,
        Kind.BOOLEAN: bool,
        Kind.NUMBER: int | float,
        Kind.INTEGER: int,
        Kind.URL: NonEmpty,
        Kind.EMAIL: Annotated[str, msgspec.Meta(min_length=3, max_length=MAX_EMAIL_LENGTH)],
        Kind.DEAL_STATUS: Literal[DEAL_STATUSES],
        Kind.STRING_LIST: list[NonEmpty],
    }[kind]


@dataclass(frozen=True)
class FastBlock:
    """A block of valid, canonical records to write as is."""

    first_line: int
    first_record: int
    data: bytes
    object_ids: list[str]
    generations: list[int] | None
    """Generation of each record, or None when all are 0."""

    def lines(self) -> list[bytes]:
        return [line + b"\n" for line in self.data.split(b"\n")[:-1]]


class FastChecker:
    """Checks a block of JSON Lines against one entity spec; ``None`` means "take the slow path"."""

    def __init__(self, spec: EntitySpec, names: FieldNames | None = None) -> None:
        fields: list[Any] = []
        self.columns: dict[Kind, list[str]] = {}
        for name, field in spec.fields.items():
            if field.mandatory:
                fields.append((name, _field_type(field.kind)))
            else:
                fields.append((name, _field_type(field.kind), None))
            self.columns.setdefault(field.kind, []).append(name)
        fields.sort(key=len)  # required fields first, as a struct needs
        name = f"Fast{spec.object_type.value.title()}"
        # gc=False: the records are flat and short-lived, so the collector need not track them.
        strict = msgspec.defstruct(name, fields, kw_only=True, gc=False, forbid_unknown_fields=True)
        loose = msgspec.defstruct(name, fields, kw_only=True, gc=False)
        self.decoder = msgspec.json.Decoder(strict)
        self.loose_decoder = msgspec.json.Decoder(loose)
        self.deleted_exempt = [n for n, f in spec.fields.items() if f.mandatory_unless_deleted]
        self.names = names
        """Checks the keys of a block with unknown keys (once per key set); None: any key goes."""

    def check(
        self, block: bytes, *, first_block: bool, lines: int | None = None
    ) -> tuple[list[Any], list[str]] | None:
        """The decoded records of ``block`` and their objectIds if all are valid and canonical, else
        None.

        Only known fields (a record with none other decodes strictly) are decoded, and their decoder
        already refuses ``null``, ``""`` and ``objectType``; unknown (custom) fields are skipped by
        the decoder, so a block holding any is also scanned for those bytes.
        """
        if b"\r" in block or b"\x00" in block:
            return None
        if first_block and block.startswith(BOM):
            return None
        if invalid_utf8_offset(block) is not None:
            return None
        try:
            records: list[Any] = self.decoder.decode_lines(block)
        except msgspec.ValidationError:
            # Perhaps only unknown (custom) fields; the loose decoder tells, without msgspec's wording.
            records = self._decode_with_unknown_fields(block)
            if not records:
                return None
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        if (block.count(b"\n") if lines is None else lines) != len(records) or not records:
            return None  # blank lines: the per-record path numbers and skips them
        object_ids = self._columns_ok(records)
        if object_ids is None:
            return None
        for name in self.deleted_exempt:
            values = list(map(attrgetter(name), records))
            if None in values and any(
                v is None and r.isDeleted is not True for v, r in zip(values, records, strict=True)
            ):
                return None
        return records, object_ids

    def _decode_with_unknown_fields(self, block: bytes) -> list[Any]:
        if b'""' in block or b"objectType" in block or (b"null" in block and _NULL.search(block)):
            return []
        try:
            if self.names is not None:
                key_sets = {tuple(keys) for keys in _KEYS.decode_lines(block)}
                if self.names.rejects_any(key_sets):
                    return []  # the per-record path writes the rejects
            return list(self.loose_decoder.decode_lines(block))
        except (msgspec.DecodeError, UnicodeDecodeError, msgspec.ValidationError):
            return []

    def _columns_ok(self, records: list[Any]) -> list[str] | None:
        """The objectId column if every column passes its check, else None."""
        object_ids: list[str] = list(map(attrgetter("objectId"), records))
        for kind, names in self.columns.items():
            check = _CHECKS.get(kind)
            if check is None:
                continue  # types, enums, dates, lengths: already checked by the decoder
            for name in names:
                # objectId is mandatory and non-empty: its column has no gaps
                values = (
                    object_ids if name == "objectId" else list(filter(None, map(attrgetter(name), records)))
                )
                if values and not check(values):
                    return None
        return object_ids


def _joined(values: Sequence[str]) -> str | None:
    text = "\n".join(values)
    return text if text.count("\n") == len(values) - 1 else None


def _object_ids_ok(values: Sequence[str]) -> bool:
    text = _joined(values)
    return text is not None and _visible_ascii(text, _OBJECT_ID_ASCII)


def _datetimes_ok(values: Sequence[str]) -> bool:
    """Canonical ``YYYY-MM-DDTHH:MM:SSZ`` / ``...+HH:MM``: length, no fraction, then msgspec's parser."""
    text = _joined(values)
    if text is None or any(c in text for c in (".", ",", "t", "z", " ", "_")):
        return False
    if not set(map(len, values)) <= {20, 25}:
        return False
    try:
        _DATETIME_LIST.decode(('["' + '","'.join(values) + '"]').encode())
    except (msgspec.DecodeError, UnicodeEncodeError):
        return False
    return True  # RFC 3339 (checked by msgspec), no fraction, no space or lowercase: Gong's form


def _visible_ascii(text: str, allowed: bytes) -> bool:
    """Only ``allowed`` bytes (ASCII, no space): one C pass instead of a regex scan."""
    return text.isascii() and not text.encode("ascii").translate(None, allowed)


def _emails_ok(values: Sequence[str]) -> bool:
    text = _joined(values)
    if text is None or not text.isascii():
        return False  # non-ASCII addresses take the per-record path
    data = text.encode("ascii")
    if data.translate(None, _EMAIL_ASCII):
        return False
    if data.translate(None, _NOT_AT_OR_NEWLINE) != b"@\n" * (len(values) - 1) + b"@":
        return False  # exactly one "@" per value
    if data.startswith(b"@") or b"\n@" in data or data.endswith(b".") or b".\n" in data or b"@." in data:
        return False
    # Each value holds exactly one "@"; keep only "@", "." and newlines: a domain without a dot
    # shows as "@" right before a newline or at the end.
    skeleton = data.translate(None, _NOT_EMAIL_SKELETON)
    return b"@\n" not in skeleton and not skeleton.endswith(b"@")


def _urls_ok(values: Sequence[str]) -> bool:
    text = _joined(values)
    if text is None or not _visible_ascii(text, _VISIBLE_ASCII) or "@" in text:
        return False
    text = "\n" + text
    starts = text.count("\nhttps://") + text.count("\nhttp://")
    return starts == len(values) and "://\n" not in text + "\n" and ":///" not in text


def _string_lists_ok(values: Sequence[list[str]]) -> bool:
    return not any(_WHITESPACE.search(item) or "\n" in item for items in values for item in items)


_CHECKS: dict[Kind, Any] = {
    Kind.OBJECT_ID: _object_ids_ok,
    Kind.DATETIME: _datetimes_ok,
    Kind.EMAIL: _emails_ok,
    Kind.URL: _urls_ok,
    Kind.STRING_LIST: _string_lists_ok,
}


def iter_blocks(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes | TooLong, int]]:
    """``(first line number, block of complete lines ending with a newline, its line count)``, or a
    :class:`TooLong` head for a line over ``max_line_bytes`` (skipped without being held)."""
    line_no = 1
    pending = b""
    skipping = False
    target = max(min(BLOCK_BYTES, max_line_bytes), 1)
    while True:
        data = stream.read(target)
        if not data:
            break
        if skipping:
            end = data.find(b"\n")
            if end < 0:
                continue
            data = data[end + 1 :]
            skipping = False
            line_no += 1
        cut = data.rfind(b"\n") + 1
        if cut:
            if pending or cut < len(data):  # one copy at most: join takes a memoryview slice
                block = b"".join((pending, memoryview(data)[:cut]))
                pending = data[cut:]
            else:
                block = data
            count = block.count(b"\n")
            yield line_no, block, count
            line_no += count
        else:
            pending += data
        if len(pending) > max_line_bytes:
            yield line_no, TooLong(pending[:HEAD_BYTES]), 1
            pending = b""
            skipping = True
    if pending and not skipping:
        yield line_no, pending + b"\n", 1
