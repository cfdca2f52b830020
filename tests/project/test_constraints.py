"""The committed constraints files: plain exact pins, one per Python, covering every requirement.

A dependency added to pyproject.toml without ``make constraints`` fails here, naming the package.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "update_constraints", ROOT / "scripts" / "update_constraints.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = load_script()
PYTHONS: tuple[str, ...] = SCRIPT.PYTHONS
FILES = [SCRIPT.constraints_file(p) for p in PYTHONS] + [
    SCRIPT.constraints_file(p, floor=True) for p in PYTHONS
]


def requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = SCRIPT.tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def test_a_test_file_and_a_floor_file_for_every_supported_python() -> None:
    assert set(PYTHONS) >= {"3.10", "3.11", "3.12", "3.13"}
    assert sorted((ROOT / "constraints").glob("*.txt")) == sorted(FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_only_exact_pins_no_urls_paths_or_ourselves(path: Path) -> None:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert lines
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", line), line
    names = [canonicalize_name(line.split("==")[0]) for line in lines]
    assert len(names) == len(set(names))
    assert "airflow-provider-gong" not in names


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("floor", [False, True], ids=["test", "floor"])
def test_every_requirement_is_pinned_within_its_range(python: str, floor: bool) -> None:
    path = SCRIPT.constraints_file(python, floor=floor)
    pins = SCRIPT.read_pins(path)
    environment = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux"}
    wanted = requirements(SCRIPT.FLOOR_EXTRAS if floor else SCRIPT.TEST_EXTRAS)
    if not floor:
        wanted += [Requirement(name) for name in SCRIPT.BOOTSTRAP]
    for requirement in wanted:
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {path.name}: run make constraints"
        assert requirement.specifier.contains(pins[name], prereleases=True), (path.name, name, pins[name])


@pytest.mark.parametrize("python", PYTHONS)
def test_the_floor_files_pin_the_lowest_airflow_pyproject_allows(python: str) -> None:
    floor = SCRIPT.airflow_floor()
    assert SCRIPT.read_pins(SCRIPT.constraints_file(python, floor=True))["apache-airflow"] == floor
    assert (
        SCRIPT.read_pins(SCRIPT.constraints_file(python))["apache-airflow"] != floor
    )  # latest is tested too


def test_make_install_uses_the_running_pythons_file() -> None:
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert running in PYTHONS, f"Python {running} has no constraints file"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-c $(CONSTRAINTS) -e" in makefile
