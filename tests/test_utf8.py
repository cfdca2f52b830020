"""The one UTF-8 check, and the layers that use it staying Airflow-free."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gong_provider.emulator.rules import LineChecker
from gong_provider.staging.readers import parse_json_object
from gong_provider.utf8 import invalid_utf8_offset, invalid_utf8_reason

pytestmark = [pytest.mark.floor]  # the floor's msgspec reports bad UTF-8 differently


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"plain ascii", None),
        ("Müller, 東京, 🎉".encode(), None),
        (b"", None),
        (b"M\xfcller", 1),  # Latin-1
        (b"ab\xc3", 2),  # a two-byte sequence cut off at the end
        (b"\xc0\xaf", 0),  # overlong encoding of "/"
        (b"x\xed\xa0\x80", 1),  # an encoded surrogate
    ],
)
def test_invalid_utf8_offset(data: bytes, offset: int | None) -> None:
    assert invalid_utf8_offset(data) == offset


def test_the_reason_names_the_1_based_byte() -> None:
    assert invalid_utf8_reason(b'{"a": "M\xfcller"}') == "not valid UTF-8 (byte 9 of the line)"
    assert invalid_utf8_reason("Müller".encode()) is None


@pytest.mark.parametrize(
    "line",
    [
        b'{"objectId": "caf\xe9", "name": "x"}',
        b'{"objectId": "caf\xe9", "name": x}',  # also not JSON: the encoding is named first
    ],
)
def test_staging_and_the_emulator_name_bad_utf8_whatever_the_json_library_says(line: bytes) -> None:
    assert parse_json_object(line) == (None, "not valid UTF-8 (byte 18 of the line)")
    assert LineChecker("STAGE").check(line) == (None, False, ["The line is not valid UTF-8"])


def test_staging_and_the_emulator_import_no_airflow() -> None:
    code = (
        "import json, sys\n"
        "import gong_provider.staging.pipeline, gong_provider.staging.cli, gong_provider.emulator.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []
