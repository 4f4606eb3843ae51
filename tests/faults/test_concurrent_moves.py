"""Two processes move ``champion`` at the same moment: one wins, the history stays whole.

Real processes on a real SQLite MLflow store, each going through the one promotion step
(``challenger.gate.promotion``) with the store's promotion lock.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from challenger.store.lock import promotion_lock
from challenger.store.registry import Registry

MODEL = "racy"

ROLLBACK = """
import sys
from challenger.errors import ChallengerError
from challenger.gate.promotion import rollback
from challenger.store.lock import promotion_lock
from challenger.store.lock import promotion_lock
from challenger.store.registry import Registry

uri = sys.argv[1]
registry = Registry(uri, "racy")
print("asked", flush=True)
try:
    print(rollback(registry, lambda: promotion_lock(uri, "racy", 60), None, "race", None))
except ChallengerError as exc:
    print("refused:", exc)
"""

PROMOTE = """
import sys
from challenger.gate.promotion import Move, settle
from challenger.store.lock import promotion_lock
from challenger.store.lock import promotion_lock
from challenger.store.registry import Registry

uri, version = sys.argv[1], int(sys.argv[2])
registry = Registry(uri, "racy")
# The decision was taken against v1; judged again against another champion it declines.
decision, done = settle(
    registry, lambda: promotion_lock(uri, "racy", 60), "promote", 1,
    move_of=lambda d: Move("promote", version, "race", None) if d == "promote" else None,
    rejudge=lambda current: f"declined against v{current.version}",
)
print("moved" if done.moved else decision)
"""


def _store(folder: Path, versions: int) -> tuple[str, Registry]:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    registry = Registry(uri, MODEL, create=True)
    for _ in range(versions):
        registry.register("file:///nonexistent/model", None, {}, "race")  # type: ignore[arg-type]
    return uri, registry


def _race(code: str, *args: list[str]) -> list[str]:
    procs = [
        subprocess.Popen([sys.executable, "-c", code, *a], stdout=subprocess.PIPE, text=True)
        for a in args
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    return outs


def _history_is_whole(registry: Registry) -> None:
    history = registry.history()
    assert [h["n"] for h in history] == list(range(1, len(history) + 1))
    assert all(h["status"] == "done" for h in history)
    champion = registry.champion()
    assert champion is not None and history[-1]["to"] == champion.version
    assert [v.version for v in registry.versions() if v.stage == "Production"] == [champion.version]


def test_two_rollbacks_at_once_move_champion_once(tmp_path: Path) -> None:
    uri, registry = _store(tmp_path, 2)
    registry.promote(1, None, reason="first")
    registry.promote(2, 1, reason="second")
    held = promotion_lock(uri, MODEL, 60)
    assert held is not None
    with held:  # both ask while v2 is champion, then wait for the lock
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", ROLLBACK, uri], stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "asked"
        time.sleep(1.0)
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert sorted(o.startswith("refused") for o in outs) == [False, True], outs
    champion = registry.champion()
    assert champion is not None and champion.version == 1
    _history_is_whole(registry)
    assert [h["kind"] for h in registry.history()] == ["promote", "promote", "rollback"]


def test_two_promotions_against_the_same_champion_promote_once(tmp_path: Path) -> None:
    uri, registry = _store(tmp_path, 3)
    registry.promote(1, None, reason="first")
    outs = _race(PROMOTE, [uri, "2"], [uri, "3"])
    assert sorted(o == "moved" for o in outs) == [False, True], outs
    winner = registry.champion()
    assert winner is not None and winner.version in (2, 3)
    assert f"declined against v{winner.version}" in outs
    _history_is_whole(registry)
    assert len(registry.history()) == 2
