"""Estimator import paths: an allow-list of module prefixes, checked before anything is imported.

A candidate names its estimator by import path, and importing a module runs its top-level
code. So a path is first checked against the allow-list (scikit-learn's ``sklearn`` always,
plus ``training.allowed_modules``); only an allowed module is ever imported. When the
configuration loads, :func:`path_problem` finds the module's file through the import system's
finders without executing it (nor its parent packages) and looks for the class in the
module's source, so a typo is reported at once and the configuration stays fast to load; only
when the source cannot tell (a compiled module, a lazy ``__getattr__``, a star import) is the
allowed module imported to look.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import re
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Literal

ALWAYS_ALLOWED = ("sklearn",)
"""Module prefixes every configuration may use (scikit-learn)."""
MODULE_PREFIX = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

Found = Literal["found", "missing", "unknown"]


def allowed_prefixes(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """scikit-learn plus the declared prefixes, without repeats."""
    return tuple(dict.fromkeys((*ALWAYS_ALLOWED, *extra)))


def is_allowed(path: str, extra: Sequence[str] = ()) -> bool:
    """Whether the module of ``path`` is, or lies under, an allowed prefix (whole names only)."""
    module = path.rpartition(".")[0]
    return any(module == p or module.startswith(f"{p}.") for p in allowed_prefixes(extra))


def refusal(path: str, extra: Sequence[str] = ()) -> str:
    """Why ``path`` may not be imported, naming the allow-list and the way to extend it."""
    top = path.split(".", 1)[0]
    return (
        f"{path!r} is outside the allowed estimator modules ({', '.join(allowed_prefixes(extra))}), "
        f"so it was not imported; add its package to training.allowed_modules (e.g. [{top}]) "
        "if you trust it"
    )


def path_problem(path: str, extra: Sequence[str] = ()) -> str | None:
    """What is wrong with an estimator path, or None; nothing outside the allow-list is run.

    Args:
        path: ``package.module.Class``.
        extra: The declared module prefixes (``training.allowed_modules``).

    Returns:
        One sentence (without the configuration key) when the path is not allowed, its
        module is not installed or has no such class; None when it resolves.
    """
    if not is_allowed(path, extra):
        return refusal(path, extra)
    module_name, _, cls_name = path.rpartition(".")
    spec = _find_spec(module_name)
    if spec is None:
        return f"{path!r}: no module {module_name!r} is installed; check the spelling"
    found = _class_in_source(spec, cls_name) if module_name not in sys.modules else "unknown"
    if found == "unknown":  # the source cannot tell: import the (allowed) module and look
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            return f"{path!r}: module {module_name!r} cannot be imported ({exc})"
        found = "found" if isinstance(getattr(module, cls_name, None), type) else "missing"
    if found == "missing":
        return f"{path!r}: module {module_name!r} has no class {cls_name!r}; check the spelling"
    return None


def import_module(path: str, extra: Sequence[str] = ()) -> ModuleType:
    """Import the module of an allowed estimator path.

    Raises:
        PermissionError: The path is outside the allow-list (nothing was imported).
        ImportError: The module cannot be imported.
    """
    if not is_allowed(path, extra):
        raise PermissionError(refusal(path, extra))
    return importlib.import_module(path.rpartition(".")[0])


def _find_spec(name: str) -> importlib.machinery.ModuleSpec | None:
    """The module's spec from the import system's finders, executing no package on the way.

    ``importlib.util.find_spec`` imports the parent packages first; this asks the finders
    level by level with the parents' search locations instead.
    """
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded.__spec__ or importlib.machinery.ModuleSpec(name, None)
    parent, _, _ = name.rpartition(".")
    search: Iterable[str] | None = None
    if parent:
        parent_spec = _find_spec(parent)
        if parent_spec is None:
            return None
        module = sys.modules.get(parent)
        search = getattr(module, "__path__", None) if module else None
        if search is None:
            search = parent_spec.submodule_search_locations
        if search is None:
            return None  # the parent is a module, not a package
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, None if search is None else list(search), None)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


def _class_in_source(spec: importlib.machinery.ModuleSpec, name: str) -> Found:
    """Whether the module's own source binds ``name`` at top level (without running it)."""
    origin = spec.origin
    if not origin or not origin.endswith(".py"):
        return "unknown"  # compiled, built in, or a namespace package
    try:
        with open(origin, encoding="utf-8") as source:
            tree = ast.parse(source.read(), filename=origin)
    except (OSError, SyntaxError, ValueError):
        return "unknown"
    bound, dynamic = _top_level_names(tree.body)
    if name in bound:
        return "found"
    return "unknown" if dynamic else "missing"


def _top_level_names(body: list[ast.stmt]) -> tuple[set[str], bool]:
    """Names a module body binds, and whether it may bind others (star import, __getattr__)."""
    names: set[str] = set()
    dynamic = False
    for node in body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
            dynamic |= node.name == "__getattr__"
        elif isinstance(node, ast.Assign):
            names.update(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                dynamic |= alias.name == "*"
                names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        else:
            for block in _blocks(node):  # if / try / with at top level
                inner, more = _top_level_names(block)
                names |= inner
                dynamic |= more
    return names, dynamic


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    if isinstance(node, ast.If | ast.For | ast.While):
        return [node.body, node.orelse]
    if isinstance(node, ast.Try | ast.TryStar):
        return [node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)]
    if isinstance(node, ast.With):
        return [node.body]
    return []
