"""The package's layers: no module imports from a layer above its own (read from the source with ``ast``).

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import is still a
dependency. A new module must be given a layer here; the emulator stands apart from all of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gong_provider"

LAYERS: dict[str, int] = {
    # 0: Gong's own rules and the package's vocabulary; only airflow_compat imports Airflow
    "gong_provider": 0,
    "gong_provider.models": 0,
    "gong_provider.limits": 0,
    "gong_provider.exceptions": 0,
    "gong_provider.ids": 0,
    "gong_provider.utf8": 0,
    "gong_provider.rows": 0,
    "gong_provider.airflow_compat": 0,
    # 1, 2: the Airflow-free libraries
    "gong_provider.staging": 1,
    "gong_provider.changes": 2,
    # 3: talking to Gong, and naming what it holds (assets; lineage reads manifests through staging)
    "gong_provider.hooks": 3,
    "gong_provider.assets": 3,
    "gong_provider.lineage": 3,
    # 4: waiting for Gong, the contract between the trigger and the worker
    "gong_provider.waiting": 4,
    # 5: the trigger
    "gong_provider.triggers": 5,
    # 6: the tasks
    "gong_provider.operators": 6,
    "gong_provider.sensors": 6,
    # 7: what users run
    "gong_provider.dags": 7,
    "gong_provider.cli": 7,
}
EMULATOR = "gong_provider.emulator"
EMULATOR_MAY_IMPORT = {"gong_provider", "gong_provider.utf8", "gong_provider.limits"}
"""The emulator is Gong, not the provider: it shares only the Airflow-free UTF-8 check and Gong's
upload size limit."""
AIRFLOW_FREE = {
    "gong_provider.models",
    "gong_provider.limits",
    "gong_provider.ids",
    "gong_provider.utf8",
    "gong_provider.exceptions",
    "gong_provider.rows",
}
AIRFLOW_FREE_PACKAGES = ("gong_provider.staging", "gong_provider.changes", EMULATOR)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str, *, top_level_only: bool = False) -> set[str]:
    """The absolute names of the modules ``module`` imports (``from a import b``: ``a.b`` when that
    is a module). ``top_level_only``: only what runs on import (not in a function or TYPE_CHECKING)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes: list[ast.stmt] = (
        tree.body if top_level_only else [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    )
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: relative import; the layer rule reads absolute ones"
            assert node.module is not None
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


def _unit(module: str) -> str | None:
    """The entry of ``LAYERS`` that ``module`` belongs to: its own, else its closest package's."""
    name = module
    while name:
        if name in LAYERS:
            return name
        name = name.rpartition(".")[0]
    return None


def _layer(module: str) -> int | None:
    """The layer of ``module``: its own entry, else its closest package's."""
    unit = _unit(module)
    return None if unit is None else LAYERS[unit]


PROVIDER_MODULES = sorted(m for m in MODULES if not (m == EMULATOR or m.startswith(EMULATOR + ".")))
EMULATOR_MODULES = sorted(set(MODULES) - set(PROVIDER_MODULES))


def test_every_module_has_a_layer() -> None:
    assert [m for m in PROVIDER_MODULES if _layer(m) is None] == []


@pytest.mark.parametrize("module", PROVIDER_MODULES)
def test_no_module_imports_from_a_layer_above_its_own(module: str) -> None:
    own = _layer(module)
    assert own is not None
    above = {
        imported: _layer(imported)
        for imported in _imports(module)
        if imported.split(".")[0] == "gong_provider" and (_layer(imported) or 0) > own
    }
    emulator = {i for i in _imports(module) if i == EMULATOR or i.startswith(EMULATOR + ".")}
    assert above == {}, f"{module} (layer {own}) imports from above"
    assert module == "gong_provider.cli" or emulator == set(), f"{module} imports the emulator"


def _unit_imports() -> dict[str, set[str]]:
    """Which other entries of ``LAYERS`` each entry imports from (the emulator left out)."""
    graph: dict[str, set[str]] = {}
    for module in PROVIDER_MODULES:
        unit = _unit(module)
        assert unit is not None
        for imported in _imports(module):
            target = _unit(imported) if imported.split(".")[0] == "gong_provider" else None
            if target is not None and target != unit:
                graph.setdefault(unit, set()).add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle found by a depth-first walk, as the path that closes it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                found.append([*path[path.index(target) :], target])
            elif target not in done:
                walk(target, [*path, target])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            walk(start, [start])
    return found


def test_no_two_parts_import_each_other() -> None:
    """Within one layer too, the arrows go one way: the upload operator imports lineage, and lineage
    (which reads manifests through staging) never imports the operators back."""
    assert _cycles(_unit_imports()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", EMULATOR_MODULES)
def test_the_emulator_imports_no_airflow_and_no_provider_task_code(module: str) -> None:
    imported = _imports(module)
    assert {i for i in imported if i.split(".")[0] == "airflow"} == set()
    provider = {i for i in imported if i.split(".")[0] == "gong_provider" and not i.startswith(EMULATOR)}
    assert provider <= EMULATOR_MAY_IMPORT


@pytest.mark.parametrize(
    "module", sorted(m for m in PROVIDER_MODULES if m in AIRFLOW_FREE or m.startswith(AIRFLOW_FREE_PACKAGES))
)
def test_airflow_free_modules_import_airflow_only_lazily(module: str) -> None:
    on_import = _imports(module, top_level_only=True)
    assert {i for i in on_import if i.split(".")[0] == "airflow" or i.endswith("airflow_compat")} == set()
