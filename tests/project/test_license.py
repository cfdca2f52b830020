"""The Apache-2.0 license that pyproject.toml declares is in the repository and in the built wheel."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import uv as find_uv

ROOT = Path(__file__).resolve().parents[2]
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
"""sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the standard text."""


def uv() -> str:
    found = find_uv()
    if found is None:
        pytest.skip("uv is not installed (make install puts it in .venv/bin)")
    return found


def test_the_license_file_is_the_standard_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    assert b"Apache License\n                           Version 2.0, January 2004" in text


def test_the_wheel_ships_the_license(tmp_path: Path) -> None:
    result = subprocess.run(
        [uv(), "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [wheel] = tmp_path.glob("airflow_provider_gong-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [license_name] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(license_name) == (ROOT / "LICENSE").read_bytes()
        [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
