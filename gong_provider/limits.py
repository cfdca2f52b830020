"""Gong's size limits, each in one place for the hook, staging and the emulator (which is Gong, and
refuses what Gong refuses): the emulator may import this module and ``utf8`` only."""

from __future__ import annotations

MAX_UPLOAD_FILE_BYTES = 200_000_000
"""The largest ``dataFile`` Gong takes, in bytes. Gong documents "files up to 200MB in size": read as
200,000,000 bytes, the smaller of the two readings (200 MiB would be 209,715,200), so that a file the
hook sends is within the limit whichever one Gong means. The hook refuses one byte more before
sending; the emulator answers it with 400."""

MAX_OBJECT_IDS_PER_GET = 100
"""``GET /v2/crm/entities`` takes at most 100 ids per call: the hook sends them 100 at a time, and the
emulator answers for the first 100 of a longer list."""
