"""Feature flags: a YAML file the serving app re-reads while it runs.

Four kinds of toggle (see ``flags.yaml`` at the repository root):

* operational: ``kill_switch`` sends every request to the champion at once and stops the
  shadow traffic, without a restart;
* release: ``shadow`` (mirror traffic to the shadow models) and ``challenger`` (may the
  challenger answer real users at all);
* experiment: one on/off toggle per A/B or canary experiment name (missing means on);
* permission: the segments allowed to see the challenger (e.g. internal users first) and
  users pinned to an arm (QA).

A file that fails to parse or validate never takes effect: the last good flags stay and the
error is reported by ``/health``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from challenger.errors import ConfigError


class _Flags(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OperationalFlags(_Flags):
    """Operational toggles."""

    kill_switch: bool = False


class ReleaseFlags(_Flags):
    """Release toggles."""

    shadow: bool = True
    challenger: bool = True


class PermissionFlags(_Flags):
    """Who may see the challenger."""

    segments: tuple[str, ...] = Field(
        (), description="Only requests from these segments may get the challenger; () = anyone."
    )
    users: dict[str, Literal["champion", "challenger"]] = Field(default_factory=dict)


class Flags(_Flags):
    """Every flag, with the values that apply when the file does not set them."""

    operational: OperationalFlags = OperationalFlags()
    release: ReleaseFlags = ReleaseFlags()
    experiments: dict[str, bool] = Field(default_factory=dict)
    permission: PermissionFlags = PermissionFlags()

    def experiment_on(self, name: str) -> bool:
        """Whether an experiment runs (experiments not listed are on)."""
        return self.experiments.get(name, True)


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_flags(data: Any, source: str) -> Flags:
    """Validate a flags document.

    Raises:
        ConfigError: The document is not a mapping or has an unknown key or a bad value.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"flags file {source} must be a mapping, not {type(data).__name__}")
    try:
        return Flags.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = "unknown flag" if err["type"] == "extra_forbidden" else err["msg"]
            parts.append(f"{loc}: {msg}")
        raise ConfigError(f"invalid flags in {source}: " + "; ".join(parts)) from exc


def load_flags(path: Path) -> Flags:
    """Read a flags file; a missing file means the defaults.

    Raises:
        ConfigError: The file is not YAML or not valid flags.
    """
    if not path.exists():
        return Flags()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"flags file {path} is not valid YAML: {exc}") from exc
    return parse_flags(data, str(path))


class FlagsFile:
    """The flags file as the app sees it: re-read when it changes, updated atomically.

    Args:
        path: The YAML file (need not exist: the defaults apply until it does).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self.error: str | None = None
        self.current = load_flags(path)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def refresh(self) -> bool:
        """Re-read the file if it changed; returns True when the flags changed.

        A bad file keeps the last good flags and sets ``error``.
        """
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        with self._lock:
            try:
                new = load_flags(self.path)
            except ConfigError as exc:
                self.error = str(exc)
                self._stamp = stamp
                return False
            self.error = None
            self._stamp = stamp
            changed = new != self.current
            self.current = new
            return changed

    def update(self, patch: dict[str, Any]) -> Flags:
        """Merge a partial document into the file and apply it at once.

        Raises:
            ConfigError: The merged flags are invalid (the file is left as it was).
        """
        with self._lock:
            raw: dict[str, Any] = {}
            if self.path.exists():
                try:
                    loaded = yaml.safe_load(self.path.read_text(encoding="utf-8"))
                except yaml.YAMLError:
                    loaded = None
                raw = loaded if isinstance(loaded, dict) else {}
            merged = _merge(raw, patch)
            flags = parse_flags(merged, "the update")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(
                "# Feature flags of `challenger serve`; written by PATCH /admin/flags.\n"
                + yaml.safe_dump(flags.model_dump(mode="json"), sort_keys=False),
                encoding="utf-8",
            )
            tmp.replace(self.path)
            self.current = flags
            self.error = None
            self._stamp = self._file_stamp()
            return flags
