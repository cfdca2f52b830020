"""docs/managed-airflow.md names every setting exactly as the code reads it, and names them all.

The code's settings are found in the code itself: every ``GONG_*`` environment variable named in
the provider's source (the emulator's own ``GONG_EMULATOR_*`` are a test tool's, not a deployment's),
and every connection extra ``config_from_connection`` reads. The docs' settings are every
``GONG_*`` word on the page, the extras table's first column and the extras of its JSON example.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "managed-airflow.md"
PACKAGE = ROOT / "gong_provider"
ENV_NAME = re.compile(r"\bGONG_[A-Z0-9_]*[A-Z0-9]\b")
GONG_POOL = re.search(r'^GONG_POOL = "(\w+)"', (PACKAGE / "dags" / "settings.py").read_text(), re.M)[1]  # type: ignore[index]
"""The pool every Gong task runs in (read from the source: importing the DAGs package loads Airflow)."""
EXTRA_READERS = {"_as_float", "_as_int", "_as_choice", "_as_bool"}
"""The connection module's typed readers: ``_as_x(extras, "name", ...)``."""


def code_env_vars() -> set[str]:
    """``GONG_*`` names in the provider's string constants (a prefix, ``GONG_EMULATOR_``, is not one)."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "emulator" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and ENV_NAME.fullmatch(node.value)
            ):
                names.add(node.value)
    return names


def code_extras() -> set[str]:
    """Extras the connection module reads: ``extra.get("x")`` / ``merged.get("x")`` and the typed readers."""
    tree = ast.parse((PACKAGE / "hooks" / "_connection.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2 - isinstance(node.func, ast.Attribute):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and isinstance(func.value, ast.Name):
            if func.value.id in ("extra", "merged") and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
        elif (
            isinstance(func, ast.Name) and func.id in EXTRA_READERS and isinstance(node.args[1], ast.Constant)
        ):
            names.add(str(node.args[1].value))
    return names


def page() -> str:
    return PAGE.read_text()


def docs_env_vars() -> set[str]:
    return set(ENV_NAME.findall(page()))


def docs_extras() -> set[str]:
    """The extras table's first column, plus the keys of every JSON example's ``extra``."""
    text = page()
    section = text[text.index("### The connection's extras") :]
    section = section[: section.index("\n## ")]
    names = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL):
        names |= set(json.loads(block).get("extra", {}))
    return names


def test_the_code_reads_a_known_set_of_settings() -> None:
    """The finders find what they should: a finder that found nothing would make the others vacuous."""
    assert {"GONG_STAGING_BASE", "GONG_STATE_BASE", "GONG_PROVIDER_BUDGET_URL"} <= code_env_vars()
    assert {"access_token", "calls_per_second", "budget_dir", "budget_url", "scheme"} <= code_extras()


def test_every_environment_variable_the_page_names_is_read_by_the_code() -> None:
    assert docs_env_vars() - code_env_vars() == set()


def test_every_environment_variable_the_code_reads_is_on_the_page() -> None:
    assert code_env_vars() - docs_env_vars() == set()


def test_every_extra_the_page_names_is_read_by_the_code() -> None:
    assert docs_extras() - code_extras() == set()


def test_every_extra_the_code_reads_is_on_the_page() -> None:
    assert code_extras() - docs_extras() == set()


def test_the_page_names_the_pool_the_dags_use() -> None:
    assert f"`{GONG_POOL}`" in page()
    assert set(re.findall(r"pools set (?:-- )?(\S+)", page())) == {GONG_POOL}


def test_the_page_is_in_the_docs_index() -> None:
    assert re.search(r"^managed-airflow$", (ROOT / "docs" / "index.md").read_text(), flags=re.MULTILINE)
