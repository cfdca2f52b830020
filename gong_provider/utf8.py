"""Is this line UTF-8? Gong reads UTF-8 only, so staging and the emulator both ask.

Checked here, with the standard library, rather than read from a JSON library's error: msgspec 0.23
changed how it reports bad UTF-8 (a ``DecodeError`` worded differently, no longer a
``UnicodeDecodeError``), and what users are told must not change with a dependency. Airflow-free:
staging and the emulator import it.
"""

from __future__ import annotations


def invalid_utf8_offset(data: bytes) -> int | None:
    """The 0-based offset of the first byte that is not valid UTF-8, or None when all of it is."""
    if data.isascii():  # the common case, checked in C without decoding
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return None


def invalid_utf8_reason(data: bytes) -> str | None:
    """Why ``data`` (one line) is not UTF-8, naming the 1-based byte, or None when it is UTF-8."""
    offset = invalid_utf8_offset(data)
    return None if offset is None else f"not valid UTF-8 (byte {offset + 1} of the line)"
