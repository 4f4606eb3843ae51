"""Every third-party module the code imports is declared in pyproject.toml.

A module that only arrives as someone else's dependency (starlette through fastapi,
threadpoolctl through scikit-learn) works until that package drops it; declared, the
resolver keeps it and ``constraints.txt`` pins it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CODE = sorted(
    p for folder in ("src/challenger", "flows", "bench") for p in (REPO / folder).rglob("*.py")
)
FIRST_PARTY = {"challenger", "flows"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported(path: Path) -> set[str]:
    tops = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            tops |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops - set(sys.stdlib_module_names) - FIRST_PARTY - {"__future__"}


def test_imports_are_declared_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]}
    providers = packages_distributions()
    missing = {}
    for path in CODE:
        for module in _imported(path):
            dists = {d.lower().replace("_", "-") for d in providers.get(module, [module])}
            if not dists & declared:
                missing.setdefault(module, []).append(path.relative_to(REPO).as_posix())
    assert not missing, f"imported but not in [project.dependencies]: {missing}"
