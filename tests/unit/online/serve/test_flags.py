"""The flags file: defaults, validation with named keys, live reload, atomic updates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from challenger.errors import ConfigError
from challenger.online.serve.flags import Flags, FlagsFile, load_flags

REPO = Path(__file__).resolve().parents[4]


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    flags = load_flags(tmp_path / "none.yaml")
    assert flags == Flags()
    assert not flags.operational.kill_switch and flags.release.shadow and flags.release.challenger
    assert flags.experiment_on("anything")


def test_shipped_example_is_valid_and_harmless() -> None:
    path = REPO / "flags.yaml"
    assert path.is_file()
    assert load_flags(path) == Flags(), "the example documents the defaults"


def test_unknown_flag_and_bad_value_are_named(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("operational:\n  kill_swich: true\n")
    with pytest.raises(ConfigError, match=r"operational\.kill_swich: unknown flag"):
        load_flags(path)
    path.write_text("permission:\n  users: {alice: v3}\n")
    with pytest.raises(ConfigError, match=r"permission\.users\.alice"):
        load_flags(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_flags(path)


def test_reload_picks_up_changes_and_keeps_last_good_flags(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    live = FlagsFile(path)
    assert not live.refresh()
    path.write_text("operational: {kill_switch: true}\n")
    assert live.refresh() and live.current.operational.kill_switch
    path.write_text("operational: {kill_switch: maybe}\n")
    os.utime(path, ns=(1, 1))  # a different stamp even within the same clock tick
    assert not live.refresh()
    assert live.current.operational.kill_switch, "a bad file never takes effect"
    assert live.error is not None and "kill_switch" in live.error
    path.write_text("operational: {kill_switch: false}\n")
    assert live.refresh() and live.error is None
    assert not live.current.operational.kill_switch


def test_update_merges_validates_and_writes_atomically(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("experiments: {exp-a: false}\n")
    live = FlagsFile(path)
    flags = live.update({"operational": {"kill_switch": True}})
    assert flags.operational.kill_switch and not flags.experiment_on("exp-a")
    assert load_flags(path) == flags
    with pytest.raises(ConfigError, match="unknown flag"):
        live.update({"release": {"everything": True}})
    assert load_flags(path) == flags, "a refused update leaves the file as it was"
