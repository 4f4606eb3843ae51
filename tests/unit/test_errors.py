"""The errors module: every exception in one place, its drawn tree true, the CLI's exit codes."""

from __future__ import annotations

import ast
import builtins
import inspect
import json
import re
from pathlib import Path

import pytest
import typer

from challenger import errors, run_contract

SRC = Path(errors.__file__).resolve().parent

CLASSES: list[type[Exception]] = [
    c
    for _, c in inspect.getmembers(errors, inspect.isclass)
    if issubclass(c, BaseException) and c.__module__ == errors.__name__
]
USER_ERRORS = [c for c in CLASSES if issubclass(c, errors.ChallengerError)]


def _instance(cls: type[Exception]) -> Exception:
    """An instance with a message, whatever the class's constructor wants."""
    exc = cls.__new__(cls)
    exc.args = (f"{cls.__name__} happened",)
    return exc


def test_every_exception_is_a_user_error_or_a_documented_internal_signal() -> None:
    assert len(CLASSES) == 14
    for cls in CLASSES:
        internal = cls in errors.INTERNAL
        assert issubclass(cls, errors.ChallengerError) is not internal, cls.__name__
        if internal:
            assert (cls.__doc__ or "").startswith("Internal signal"), cls.__name__


def _drawn_parents(doc: str) -> dict[str, str]:
    """Child -> parent, read off the tree in the module docstring."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        m = re.match(r"^(\s*(?:[│├└─]\s*)*)([A-Z]\w+)\b", line)
        if not m or not ("├" in line or "└" in line or line.strip() == m.group(2)):
            continue
        depth, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_the_drawn_hierarchy_is_the_real_one() -> None:
    drawn = _drawn_parents(errors.__doc__ or "")
    assert set(drawn) == {c.__name__ for c in CLASSES}
    for cls in CLASSES:
        assert cls.__bases__[0].__name__ == drawn[cls.__name__], cls.__name__
        if ValueError in cls.__bases__:
            assert re.search(rf"{cls.__name__}\s+\+ ValueError", errors.__doc__ or "")


def test_no_exception_class_is_defined_outside_the_errors_module() -> None:
    exception_names = {c.__name__ for c in CLASSES} | {
        n
        for n in dir(builtins)
        if isinstance(getattr(builtins, n), type)
        and issubclass(getattr(builtins, n), BaseException)
    }
    strays = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & exception_names:
                    strays.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert strays == []


@pytest.mark.parametrize("cls", USER_ERRORS, ids=lambda c: c.__name__)
def test_user_errors_exit_2(
    cls: type[Exception], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run_contract, "_prepare_environment", lambda: None)

    def work() -> None:
        raise _instance(cls)

    with pytest.raises(typer.Exit) as exited:
        run_contract.run(True, work)
    assert exited.value.exit_code == 2
    assert json.loads(capsys.readouterr().out) == {
        "error": f"{cls.__name__} happened",
        "kind": cls.__name__,
    }


@pytest.mark.parametrize(
    "exc", [ValueError("plain"), RuntimeError("boom"), *map(_instance, errors.INTERNAL)]
)
def test_other_failures_exit_1(exc: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_contract, "_prepare_environment", lambda: None)

    def work() -> None:
        raise exc

    with pytest.raises(typer.Exit) as exited:
        run_contract.run(False, work)
    assert exited.value.exit_code == 1
