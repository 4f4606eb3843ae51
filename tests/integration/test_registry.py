"""The registry module against real sqlite stores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from challenger.config import load_config

if TYPE_CHECKING:
    from challenger.store.registry import Registry
    from challenger.store.tracking import Tracking

pytestmark = pytest.mark.integration


def test_connecting_to_a_store_does_not_redirect_the_next_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from challenger.store.registry import Registry

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "challenger.yaml").write_text("{}\n")
    Registry.from_settings(load_config(first / "challenger.yaml"))
    assert load_config(second / "challenger.yaml").tracking_uri.endswith("/b/mlflow/mlflow.db")


def _stores(tmp_path: Path) -> tuple[Registry, Tracking]:
    from challenger.store.registry import Registry
    from challenger.store.tracking import Tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = Tracking(uri, "records", (tmp_path / "artifacts").as_uri(), create=True)
    return Registry(uri, "recorded"), tracking


_MODEL = "file:///nonexistent/model"  # registration does not read the model


def test_a_version_shows_a_handful_of_tags_and_keeps_its_whole_record_in_one_artifact(
    tmp_path: Path,
) -> None:
    from challenger.store.record import NOTE, SUMMARY_TAGS, Delta, VersionRecord, record_artifact
    from challenger.store.snapshot import read_snapshot

    registry, tracking = _stores(tmp_path)
    at_registration = VersionRecord(
        trigger="manual", trigger_reasons=("manual retrain, no monitor evidence",),
        data_fingerprint="0123456789abcdef", cv_strategy="kfold(k=5)", candidate="lr",
        cv_scores={"roc_auc": "0.8100 ± 0.0100"}, training_batches=("day-001", "day-002"),
        train_rows=700, holdout_rows=300, gate_decision="PENDING", training_seconds=1.5,
        peak_memory_mb=20.0, model_size_mb=0.3, train_fingerprint_rows=699,
    )  # fmt: skip
    decided = VersionRecord(
        gate_decision="PROMOTE", gate_action="promote", gate_reason="clears the bound " * 40,
        holdout={"roc_auc": 0.83, "log_loss": 0.4}, compared_with="none", holdout_seen_champion=0,
    )  # fmt: skip
    with tracking.start_run("retrain-manual") as run_id:
        v = registry.register(_MODEL, run_id, {}, "card", record=at_registration).version
    registry.update_record(v, decided)
    info = registry.version(v)
    assert set(info.tags) <= set(SUMMARY_TAGS) and len(info.tags) <= 8, info.tags
    assert info.tags["challenger.gate_decision"] == "PROMOTE"
    assert info.tags["challenger.vs_champion"] == "roc_auc 0.8300, no champion to compare with"
    assert info.record == at_registration.updated(decided)  # complete, from the artifact
    stored = tracking.load_dict(run_id, record_artifact(v))
    assert stored is not None and stored["training_batches"] == ["day-001", "day-002"]

    # the writers that still pass field tags (the online review, a forced promotion) land there too
    registry.tag_version(
        v, VersionRecord(online={"strategy": "shadow", "action": "promote"}).to_tags()
    )
    info = registry.version(v)
    assert info.record.online == {"strategy": "shadow", "action": "promote"}
    assert (
        info.tags[NOTE] == "online shadow: promote" and "challenger.online_action" not in info.tags
    )
    registry.update_record(v, VersionRecord(holdout_excluded=3))
    assert registry.version(v).tags[NOTE] == "online shadow: promote"  # kept: no new action

    # a version recorded the older way (every field a tag) reads completely, and moves on update
    old = VersionRecord(
        trigger="data_change", candidate="lr", gate_decision="REJECT", training_batches=("d1",),
        holdout={"roc_auc": 0.8}, compared_with="v1",
        delta=Delta("roc_auc", -0.03, -0.05, -0.01, "challenger worse"),
    )  # fmt: skip
    with tracking.start_run("retrain-data_change") as old_run:
        mv = registry.client.create_model_version(
            "recorded", source=_MODEL, run_id=old_run, tags=old.to_tags()
        )
    legacy = int(mv.version)
    assert registry.version(legacy).record == old
    registry.update_record(legacy, VersionRecord(rolled_back="bad on live traffic"))
    moved = registry.version(legacy)
    assert set(moved.tags) <= set(SUMMARY_TAGS), moved.tags
    assert moved.tags[NOTE] == "rolled back: bad on live traffic"
    assert moved.record == old.updated(VersionRecord(rolled_back="bad on live traffic"))

    # without a run there is nothing to attach an artifact to: every field stays a tag
    runless = int(registry.client.create_model_version("recorded", source=_MODEL).version)
    registry.update_record(runless, VersionRecord(gate_decision="ABANDONED", trigger="manual"))
    assert registry.version(runless).record == VersionRecord(
        gate_decision="ABANDONED", trigger="manual"
    )

    # status reads the same tags and history straight from SQLite
    assert read_snapshot(registry.tracking_uri, "recorded") == registry.snapshot()


def test_the_champion_history_is_one_readable_line_per_move(tmp_path: Path) -> None:
    import json

    from challenger.store.history import key
    from challenger.store.snapshot import read_snapshot

    registry, tracking = _stores(tmp_path)
    with tracking.start_run("log") as run_id:
        versions = [registry.register(_MODEL, run_id, {}, "x").version for _ in range(2)]
    one, two = versions
    registry.promote(one, None, reason="gate PROMOTE, roc_auc 0.8300: first", run_id=run_id)
    registry.promote(two, one, reason="gate PROMOTE, roc_auc +0.0200: better", run_id=run_id)
    registry.rollback(None, "partner fraud model misbehaves")
    tags = registry.client.get_registered_model("recorded").tags
    lines = [tags[key(n)] for n in (1, 2, 3)]
    assert lines[0].endswith(
        f"UTC promote v{one} (first champion): gate PROMOTE, roc_auc 0.8300: first · run {run_id}"
    )
    assert f"UTC promote v{two} (was v{one}): gate PROMOTE, roc_auc +0.0200: better" in lines[1]
    assert lines[2].endswith(f"UTC rollback v{one} (was v{two}): partner fraud model misbehaves")
    for text in lines:
        with pytest.raises(ValueError):
            json.loads(text)  # readable, not a JSON blob
    history = registry.history()
    assert [(h["n"], h["kind"], h["from"], h["to"], h["status"]) for h in history] == [
        (1, "promote", None, one, "done"),
        (2, "promote", one, two, "done"),
        (3, "rollback", two, one, "done"),
    ]
    assert history[0]["run_id"] == run_id and history[2]["run_id"] is None
    assert history[2]["reason"] == "partner fraud model misbehaves"
    # an entry an older challenger wrote as JSON still reads, in order
    registry.client.set_registered_model_tag(
        "recorded", key(4), json.dumps({"n": 4, "at": "2026-01-01T00:00:00+00:00", "kind": "promote",
                                        "from": one, "to": two, "reason": "old", "run_id": None,
                                        "status": "done"})
    )  # fmt: skip
    assert registry.history()[-1]["reason"] == "old"
    snapshot = read_snapshot(registry.tracking_uri, "recorded")
    assert snapshot is not None and snapshot["history"] == registry.history()


def test_aliases_name_every_alias_in_one_read_and_follow_each_move(tmp_path: Path) -> None:
    registry, tracking = _stores(tmp_path)
    assert registry.aliases() == {}  # no registered model yet
    with tracking.start_run("log") as run_id:
        one, two = (registry.register(_MODEL, run_id, {}, "x").version for _ in range(2))
    assert registry.aliases() == {}
    registry.promote(one, None)
    registry.mark_challenger(two)
    assert registry.aliases() == {"champion": one, "challenger": two}
    registry.promote(two, one)
    moved = registry.aliases()
    assert moved["champion"] == two and moved["previous-champion"] == one
    assert moved == {a: registry.alias(a).version for a in moved}  # type: ignore[union-attr]


def _update_in_rounds(
    uri: str, version: int, field_name: str, rounds: int, go: Any, done: Any
) -> None:
    """One process's updates of one record field, one per round, all writers starting a round
    together (run in its own interpreter)."""
    from challenger.store.record import VersionRecord
    from challenger.store.registry import Registry

    registry = Registry(uri, "recorded")
    for r in range(rounds):
        go.wait(timeout=60)
        value: float | str = float(r) if field_name == "model_size_mb" else f"round {r}"
        registry.update_record(version, VersionRecord(**{field_name: value}))
        done.wait(timeout=60)


def test_two_processes_updating_one_record_keep_each_others_fields(tmp_path: Path) -> None:
    """The record is read, merged and written under the record lock. Two processes update
    different fields of one version at the same moment, round after round; after every round
    the record holds both (without the lock, a writer that read before the other wrote put
    the other's field back: one of six rounds lost an update in a run without it)."""
    import multiprocessing

    registry, tracking = _stores(tmp_path)
    with tracking.start_run("retrain-race") as run_id:
        v = registry.register(_MODEL, run_id, {}, "card").version
    ctx = multiprocessing.get_context("spawn")
    go, done = ctx.Barrier(3), ctx.Barrier(3)
    rounds = 6
    writers = [
        ctx.Process(
            target=_update_in_rounds, args=(registry.tracking_uri, v, name, rounds, go, done)
        )
        for name in ("model_size_mb", "gate_override")
    ]
    for w in writers:
        w.start()
    try:
        lost = []
        for r in range(rounds):
            go.wait(timeout=120)  # the first round also waits for both interpreters to start
            done.wait(timeout=60)
            record = registry.version(v).record
            if (record.model_size_mb, record.gate_override) != (float(r), f"round {r}"):
                lost.append((r, record.model_size_mb, record.gate_override))
        assert not lost, f"updates lost in rounds {lost}"
    finally:
        for w in writers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
    assert all(w.exitcode == 0 for w in writers)
