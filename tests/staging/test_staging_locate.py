"""locate_lines over run-length sidecars: fast blocks, a mixed file, and sidecars of the older format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gong_provider.staging import fastpath, locate_lines, stage
from gong_provider.staging.manifest import StagedFile


def _contact(n: int, **extra: object) -> dict[str, object]:
    return {"objectId": f"003X{n}", "modifiedDate": "2026-03-01T10:00:00Z", "firstName": "Ann", **extra}


def test_lines_inside_runs_and_after_a_normalized_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastpath, "BLOCK_BYTES", 300)  # several blocks, so several run entries
    rows = [_contact(n) for n in range(1, 31)]
    rows[12]["modifiedDate"] = "2026-03-01 10:00:00"  # normalized: that block takes the per-record path
    source = tmp_path / "contacts.jsonl"
    source.write_text("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows))
    (staged,) = stage(str(source), object_type="CONTACT", out_dir=tmp_path / "out").files
    assert staged.sources_path is not None
    entries = [json.loads(line) for line in Path(staged.sources_path).read_text().splitlines()]
    assert any(entry["count"] > 1 for entry in entries)
    assert sum(entry["count"] for entry in entries) == 30
    located = locate_lines(staged, range(1, 32))
    assert sorted(located) == list(range(1, 31))
    for number in range(1, 31):
        assert (located[number].object_id, located[number].source_line, located[number].record) == (
            f"003X{number}",
            number,
            number,
        )
        assert located[number].source == str(source)


def test_sidecars_of_the_per_line_format_are_still_read(tmp_path: Path) -> None:
    data = tmp_path / "contact-g0-p0.ldjson"
    data.write_text("".join(json.dumps(_contact(n)) + "\n" for n in (1, 2)))
    sidecar = tmp_path / "contact-g0-p0.sources.ldjson"
    sidecar.write_text(
        json.dumps({"source": "a.csv", "line": 7, "record": 6, "objectId": "003X1"})
        + "\n"
        + json.dumps({"source": "sql:db", "line": None, "record": 9, "objectId": "003X2"})
        + "\n"
    )
    staged = StagedFile(str(data), "CONTACT", 0, 0, 2, 0, "", str(sidecar))
    located = locate_lines(staged, [2, 1])
    assert (located[1].object_id, located[1].source, located[1].source_line) == ("003X1", "a.csv", 7)
    assert (located[2].object_id, located[2].source, located[2].source_line) == ("003X2", "sql:db", 9)


def test_public_names_stay_what_they_are_whatever_was_imported_first() -> None:
    """The package exports lazily; a submodule named like an export would shadow it once imported."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, types\n"
        "import gong_provider.staging as staging\n"
        "for info in pkgutil.iter_modules(staging.__path__):\n"
        "    importlib.import_module(f'gong_provider.staging.{info.name}')\n"
        "for name in staging.__all__:\n"
        "    value = getattr(staging, name)\n"
        "    assert not isinstance(value, types.ModuleType), name\n"
        "from gong_provider.staging import stage, validate\n"
        "assert stage.__name__ == 'stage' and validate.__name__ == 'validate'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
