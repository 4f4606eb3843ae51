"""kill -9 at each step of a move of ``champion``: the next run's recovery leaves the registry whole.

A child process moves ``champion`` on a real SQLite MLflow store and kills itself (SIGKILL)
at a chosen step; the parent then runs the recovery every flow runs at start and checks the
invariants: exactly one champion, stages mirrored from aliases, a history with no gap and no
claim of a move that did not happen, no challenger alias on the champion, no PENDING version
of a dead run, and a free promotion lock.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from challenger.gate.promotion import recover
from challenger.store.lock import promotion_lock
from challenger.store.record import PENDING, VersionRecord
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking

MODEL = "crashy"

CHILD = """
import os, signal, sys
from challenger.store.lock import promotion_lock
from challenger.store.registry import Registry

uri, step = sys.argv[1], sys.argv[2]
registry = Registry(uri, "crashy")
original = getattr(Registry, step)

def die(self, *args, **kwargs):
    if step == "_end_move":
        os.kill(os.getpid(), signal.SIGKILL)  # the alias moved; the history is not finished
    result = original(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # right after this step
    return result

setattr(Registry, step, die)
with promotion_lock(uri, "crashy", timeout=5):
    registry.promote(2, 1, reason="crash test", kind="promote")
"""


def _store(folder: Path) -> tuple[str, Registry, Tracking]:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    registry = Registry(uri, MODEL, create=True)
    tracking = Tracking(uri, "crash-tests", (folder / "artifacts").as_uri())
    for _ in range(2):
        registry.register("file:///nonexistent/model", None, {}, "crash test")  # type: ignore[arg-type]
    registry.promote(1, None, reason="first champion")
    registry.mark_challenger(2)
    return uri, registry, tracking


def _lock(uri: str) -> contextlib.AbstractContextManager[object]:
    held = promotion_lock(uri, MODEL, timeout=5)
    assert held is not None
    return held


def _invariants(registry: Registry) -> None:
    champions = [v for v in registry.versions() if "champion" in v.aliases]
    assert len(champions) == 1
    champion = champions[0]
    assert champion.stage == "Production"
    assert "challenger" not in champion.aliases
    assert [v.version for v in registry.versions() if v.stage == "Production"] == [champion.version]
    history = registry.history()
    assert [h["n"] for h in history] == list(range(1, len(history) + 1)), "a gap in the history"
    assert all(h.get("status") in ("done", "abandoned") for h in history)
    done = [h for h in history if h["status"] == "done"]
    assert done[-1]["to"] == champion.version, "the history's last move is not the champion"


@pytest.mark.parametrize(
    ("step", "moved"),
    [
        ("_begin_move", False),  # the intent is written; no alias moved yet
        ("_end_move", True),  # champion moved; the history entry was not completed
        ("reconcile_stages", True),  # champion moved and stages mirrored; history open
    ],
)
def test_a_kill_mid_move_is_recovered(tmp_path: Path, step: str, moved: bool) -> None:
    uri, registry, tracking = _store(tmp_path)
    child = subprocess.run([sys.executable, "-c", CHILD, uri, step], timeout=120)
    assert child.returncode == -9, "the child was meant to die by SIGKILL"

    changed = recover(registry, tracking, lambda: _lock(uri))

    assert changed, "recovery found nothing to repair"
    _invariants(registry)
    champion = registry.champion()
    assert champion is not None and champion.version == (2 if moved else 1)
    if moved:
        previous = registry.alias("previous-champion")
        assert previous is not None and previous.version == 1
    assert recover(registry, tracking, lambda: _lock(uri)) == []  # nothing left to do


def test_a_version_left_pending_by_a_killed_run_is_abandoned(tmp_path: Path) -> None:
    uri, registry, tracking = _store(tmp_path)
    code = (
        "import os, signal, sys\n"
        "from challenger.store.registry import Registry\n"
        "from challenger.store.tracking import Tracking\n"
        "t = Tracking(sys.argv[1], 'crash-tests', sys.argv[2])\n"
        "r = Registry(sys.argv[1], 'crashy')\n"
        "with t.start_run('retrain-manual') as run_id:\n"
        "    r.register('file:///nonexistent/model', run_id, {'challenger.gate_decision': 'PENDING'}, 'x')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    artifacts = (tmp_path / "artifacts").as_uri()
    child = subprocess.run([sys.executable, "-c", code, uri, artifacts], timeout=120)
    assert child.returncode == -9
    orphan = registry.versions()[0]
    assert orphan.record.gate_decision == PENDING
    assert tracking.client.get_run(orphan.run_id).info.status == "RUNNING"

    changed = recover(registry, tracking, lambda: _lock(uri))

    assert any("KILLED" in c for c in changed) and any("ABANDONED" in c for c in changed)
    assert registry.version(orphan.version).record == VersionRecord.from_tags(
        registry.version(orphan.version).tags
    )
    assert registry.version(orphan.version).record.gate_decision == "ABANDONED"
    assert tracking.client.get_run(orphan.run_id).info.status == "KILLED"
    _invariants(registry)
