"""The MLflow registry and tracking store: the only module that talks to MLflow.

Aliases are the source of truth: ``champion`` serves production, ``challenger`` is the
candidate under evaluation and ``previous-champion`` is the rollback target. The legacy
stages are mirrored for users who browse by stage (champion → Production, challenger →
Staging, retired champion → Archived). A promotion is compare-and-set: it moves
``champion`` only if ``champion`` still points where the evaluation saw it.

A version's record (:mod:`challenger.store.record`) is one JSON artifact of its run plus a
handful of summary tags; :meth:`Registry.update_record` is the one way to change it. The
champion history is one readable tag per move (:mod:`challenger.store.history`).
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from challenger.config import Settings
from challenger.errors import ChampionMoved
from challenger.store import history as _history
from challenger.store.connection import connect, may_create, unavailable
from challenger.store.history import ABANDONED_MOVE, DONE, HISTORY, STARTED
from challenger.store.lock import record_lock
from challenger.store.record import (
    ABANDONED,
    NOTE,
    PENDING,
    SUMMARY_TAGS,
    VersionRecord,
    is_record_tag,
    record_artifact,
)

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"
__all__ = [
    "ABANDONED_MOVE", "CHALLENGER", "CHAMPION", "DONE", "HISTORY", "PREVIOUS", "STARTED",
    "Registry", "VersionInfo",
]  # fmt: skip


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version as challenger sees it."""

    name: str
    version: int
    run_id: str | None
    aliases: tuple[str, ...]
    stage: str
    tags: dict[str, str]
    description: str
    created_ms: int
    load: Callable[[], VersionRecord | None] | None = field(default=None, compare=False, repr=False)
    """Reads the complete record (the artifact); None: the tags are all there is."""

    @cached_property
    def record(self) -> VersionRecord:
        """What challenger wrote about this version, typed and complete.

        The record artifact of its run when there is one (read once, on first use), else its
        tags (a version registered before the artifact existed has every field there).
        """
        stored = self.load() if self.load is not None else None
        return stored if stored is not None else self.tagged

    @property
    def tagged(self) -> VersionRecord:
        """What the version's tags alone say (no artifact read): the summary fields."""
        return VersionRecord.from_tags(self.tags)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
            "stage": self.stage,
            "tags": dict(self.tags),
            "created_ms": self.created_ms,
        }


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    # Stage transitions are deprecated in MLflow 3 but still the way users browse by stage.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        yield


class Registry:
    """A connection to one MLflow store and one registered model."""

    def __init__(self, tracking_uri: str, model_name: str, *, create: bool = False) -> None:
        """Open the store read-write (a new one only with ``create``) and the registered model."""
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self._mlflow, self.client = connect(tracking_uri, create=create)
        try:
            self.ensure_model()
        except Exception as exc:
            raise unavailable(tracking_uri, exc) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        """Connect to the store and model named by the configuration.

        Only the project's embedded default store is created when missing.
        """
        return cls(settings.tracking_uri, settings.project.model_name, create=may_create(settings))

    # ---- set-up ---------------------------------------------------------------------------
    def ensure_model(self) -> None:
        """Create the registered model if it does not exist yet."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException:
            self.client.create_registered_model(
                self.model_name,
                description=(
                    "Managed by challenger: the `champion` alias serves production. Each "
                    "version's tags summarise it; its complete record is `record/v<N>.json` "
                    "among its run's artifacts. The `challenger.history.*` tags tell every "
                    "move of `champion`, one line each."
                ),
            )

    # ---- reading --------------------------------------------------------------------------
    def _info(self, mv: Any) -> VersionInfo:
        return VersionInfo(
            name=mv.name,
            version=int(mv.version),
            run_id=mv.run_id,
            aliases=tuple(getattr(mv, "aliases", ()) or ()),
            stage=mv.current_stage or "None",
            tags=dict(mv.tags or {}),
            description=mv.description or "",
            created_ms=int(mv.creation_timestamp or 0),
            load=self._reader(mv.run_id, int(mv.version)),
        )

    def _reader(self, run_id: str | None, version: int) -> Callable[[], VersionRecord | None]:
        def load() -> VersionRecord | None:
            return self.stored_record(run_id, version)

        return load

    def stored_record(self, run_id: str | None, version: int) -> VersionRecord | None:
        """A version's record artifact (None: no run, or a version without one)."""
        if not run_id:
            return None
        from mlflow.exceptions import MlflowException
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            # The run's own artifact repository, asked without a destination: a local store
            # hands back its file (no copy, none of MLflow's progress bars on the terminal).
            repo = get_artifact_repository(self.client.get_run(run_id).info.artifact_uri)
            local = repo.download_artifacts(record_artifact(version))
            data = json.loads(Path(local).read_text(encoding="utf-8"))
        except (MlflowException, OSError, ValueError):
            return None
        return VersionRecord.from_dict(data) if isinstance(data, dict) else None

    def version(self, version: int) -> VersionInfo:
        """One version (raises MlflowException when it does not exist)."""
        return self._info(self.client.get_model_version(self.model_name, str(version)))

    def alias(self, alias: str) -> VersionInfo | None:
        """The version an alias points at, or None."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None
        return self._info(mv)

    def aliases(self) -> dict[str, int]:
        """Every alias of the model and the version it points at, in one registry read
        ({} while the model does not exist). A refresh that only needs version numbers reads
        this instead of one ``alias`` call per name."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.model_name)
        except MlflowException:
            return {}
        return {str(name): int(v) for name, v in (model.aliases or {}).items()}

    def champion(self) -> VersionInfo | None:
        """The version serving production, or None before the first promotion."""
        return self.alias(CHAMPION)

    def versions(self) -> list[VersionInfo]:
        """Every version of the model, newest first."""
        found = self.client.search_model_versions(f"name='{self.model_name}'")
        infos = [
            self._info(self.client.get_model_version(self.model_name, mv.version)) for mv in found
        ]
        return sorted(infos, key=lambda v: v.version, reverse=True)

    def load_model(self, version: int) -> Any:
        """Load a registered version back from the registry as a scikit-learn model."""
        import mlflow.sklearn

        return mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")

    def input_columns(self, version: int) -> list[str] | None:
        """Column names of a version's input signature, if it has one."""
        from mlflow.models import get_model_info

        info = get_model_info(f"models:/{self.model_name}/{version}")
        if info.signature is None or info.signature.inputs is None:
            return None
        return [str(c) for c in info.signature.inputs.input_names()]

    def input_schema(self, version: int) -> list[tuple[str, str, bool]] | None:
        """A version's input signature as (column, MLflow type name, required), if it has one."""
        from mlflow.models import get_model_info
        from mlflow.types.schema import ColSpec

        info = get_model_info(f"models:/{self.model_name}/{version}")
        if info.signature is None or info.signature.inputs is None:
            return None
        specs = info.signature.inputs.inputs
        if not all(isinstance(s, ColSpec) and s.name for s in specs):
            return None  # a tensor signature: no named columns to validate against
        return [(str(s.name), str(s.type.name), bool(s.required)) for s in specs]

    def snapshot(self) -> dict[str, Any]:
        """Aliases and every version, for ``challenger status``."""
        versions = self.versions()
        aliases = {a: v.version for v in versions for a in v.aliases}
        return {
            "model_name": self.model_name,
            "tracking_uri": self.tracking_uri,
            "aliases": aliases,
            "champion": aliases.get(CHAMPION),
            "versions": [v.to_dict() for v in versions],
            "history": self.history(),
        }

    def model_size_mb(self, version: int) -> float | None:
        """Size on disk of a version's logged model (all files of its artifact folder)."""
        return self.artifact_size_mb(f"models:/{self.model_name}/{version}")

    def artifact_size_mb(self, artifact_uri: str) -> float | None:
        """Size on disk of all files under an artifact URI (a logged model's, say)."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self._mlflow.artifacts.download_artifacts(
                    artifact_uri=artifact_uri, dst_path=tmp
                )
            except Exception:
                return None
            total = sum(p.stat().st_size for p in Path(local).rglob("*") if p.is_file())
        return total / 1e6

    def history(self) -> list[dict[str, Any]]:
        """Every move of ``champion``, oldest first (registered-model tags, one line each)."""
        model = self.client.get_registered_model(self.model_name)
        return _history.entries((model.tags or {}).items())

    def _begin_move(
        self, kind: str, from_v: int | None, to_v: int, reason: str, run_id: str | None
    ) -> dict[str, Any]:
        """Write the history entry of a move *before* the move (status ``started``).

        A process killed between this and :meth:`_end_move` leaves an entry that
        :meth:`repair` completes (the alias moved) or marks abandoned (it did not): the
        history never has a gap and never claims a move that did not happen.
        """
        model = self.client.get_registered_model(self.model_name)
        numbers = [n for k in (model.tags or {}) if (n := _history.number(k)) is not None]
        n = max(numbers, default=0) + 1
        entry = {
            "n": n,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "kind": kind,
            "from": from_v,
            "to": to_v,
            "reason": reason,
            "run_id": run_id,
            "status": STARTED,
        }
        self._write_entry(entry)
        return entry

    def _write_entry(self, entry: Mapping[str, Any]) -> None:
        self.client.set_registered_model_tag(
            self.model_name, _history.key(int(entry["n"])), _history.line(entry)
        )

    def _end_move(self, entry: Mapping[str, Any], status: str, note: str | None = None) -> None:
        done = dict(entry) | {"status": status}
        if note:
            done["note"] = note
        self._write_entry(done)

    # ---- registry writes ------------------------------------------------------------------
    def register(
        self,
        model_uri: str,
        run_id: str,
        tags: Mapping[str, str],
        description: str,
        record: VersionRecord | None = None,
    ) -> VersionInfo:
        """Register a logged model as a new version (no alias yet) with its record.

        Args:
            model_uri: The logged model.
            run_id: The run that logged it (its record artifact goes there).
            tags: Other tags of the version; record fields given as tags
                (``VersionRecord.to_tags``) are taken as part of the record.
            description: The version's description (its model card).
            record: What is known about the version at registration.
        """
        fields_ = {k: str(v) for k, v in tags.items() if is_record_tag(k)}
        rec = VersionRecord.from_tags(fields_).updated(record or VersionRecord())
        own = {k: str(v) for k, v in tags.items() if not is_record_tag(k)}
        mv = self.client.create_model_version(
            self.model_name,
            source=model_uri,
            run_id=run_id,
            tags=own | _summary(rec, rec),
            description=description,
        )
        version = int(mv.version)
        if not self._write_record(run_id, version, rec):
            self._set_tags(version, rec.to_tags())
        return self.version(version)

    def update_record(
        self, version: int, change: VersionRecord, description: str | None = None
    ) -> VersionRecord:
        """Merge ``change`` into a version's record (its artifact and summary tags); returns it.

        The artifact is written before the tags, so a process killed in between leaves the
        complete record right and at most a summary tag behind. A version recorded the older
        way (every field a tag) moves to the artifact here; a version without a run keeps
        every field as a tag. Read, merge and write happen under :func:`record_lock`, so two
        processes updating one version's record keep both their fields.
        """
        with record_lock(self.tracking_uri, self.model_name) or nullcontext():
            return self._update_record(version, change, description)

    def _update_record(
        self, version: int, change: VersionRecord, description: str | None
    ) -> VersionRecord:
        info = self.version(version)
        merged = info.record.updated(change)
        if self._write_record(info.run_id, version, merged):
            tags = _summary(merged, change, had_note=NOTE in info.tags)
            self._set_tags(version, {k: v for k, v in tags.items() if info.tags.get(k) != v})
            for k in info.tags:
                if is_record_tag(k) and k not in SUMMARY_TAGS:
                    self.client.delete_model_version_tag(self.model_name, str(version), k)
        else:
            self._set_tags(version, merged.to_tags())
        if description is not None:
            self.client.update_model_version(self.model_name, str(version), description=description)
        return merged

    def _write_record(self, run_id: str | None, version: int, record: VersionRecord) -> bool:
        if not run_id:
            return False
        text = json.dumps(record.to_dict(), indent=2, ensure_ascii=False, default=str)
        self.client.log_text(run_id, text, record_artifact(version))
        return True

    def _set_tags(self, version: int, tags: Mapping[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_model_version_tag(self.model_name, str(version), k, str(v))

    def tag_version(
        self, version: int, tags: Mapping[str, str], description: str | None = None
    ) -> None:
        """Add tags (and optionally replace the description) of a version.

        Record fields among them (``VersionRecord.to_tags``) change the record
        (:meth:`update_record`) instead of becoming tags of their own.
        """
        change = {k: str(v) for k, v in tags.items() if is_record_tag(k)}
        self._set_tags(version, {k: v for k, v in tags.items() if not is_record_tag(k)})
        if change:
            self.update_record(version, VersionRecord.from_tags(change), description)
        elif description is not None:
            self.client.update_model_version(self.model_name, str(version), description=description)

    def _stage(self, version: int, stage: str) -> None:
        with _quiet_mlflow():
            self.client.transition_model_version_stage(self.model_name, str(version), stage)

    def mark_challenger(self, version: int) -> None:
        """Point ``challenger`` at a version and mirror it as Staging.

        A challenger left behind by a run that died before the gate decided is marked
        ABANDONED, so the record never shows a decision that was not taken.
        """
        stale = self.alias(CHALLENGER)
        champion = self.champion()
        if stale is not None and stale.version != version:
            if stale.tagged.gate_decision == PENDING:
                self.update_record(stale.version, VersionRecord(gate_decision=ABANDONED))
            if champion is None or champion.version != stale.version:
                self._stage(stale.version, "None")  # never demote the champion's own stage
        self.client.set_registered_model_alias(self.model_name, CHALLENGER, str(version))
        self._stage(version, "Staging")

    def retire_challenger(self, version: int) -> None:
        """Drop the ``challenger`` alias from a refused version; it never served, so stage None."""
        current = self.alias(CHALLENGER)
        if current is not None and current.version == version:
            self.client.delete_registered_model_alias(self.model_name, CHALLENGER)
        self._stage(version, "None")

    def promote(
        self,
        version: int,
        expected_champion: int | None,
        reason: str = "",
        run_id: str | None = None,
        kind: str = "promote",
    ) -> int | None:
        """Move ``champion`` to ``version`` if it still points at ``expected_champion``.

        The order keeps the registry consistent if the process dies midway: the rollback
        target is written first, then ``champion`` moves, then the stages are mirrored
        (``reconcile_stages`` repairs a missed mirror on the next run).

        Returns:
            The version that was champion before (None for the first champion).

        Raises:
            ChampionMoved: ``champion`` no longer points where the evaluation saw it.
        """
        current = self.champion()
        current_v = current.version if current else None
        if current_v != expected_champion:
            raise ChampionMoved(
                f"champion moved from v{expected_champion} to v{current_v} while v{version} was evaluated"
            )
        entry = self._begin_move(kind, current_v, version, reason, run_id)
        if current_v is not None:
            self.client.set_registered_model_alias(self.model_name, PREVIOUS, str(current_v))
        self.client.set_registered_model_alias(self.model_name, CHAMPION, str(version))
        self._drop_challenger_if(version)
        self.reconcile_stages()
        self._end_move(entry, DONE)
        return current_v

    def _drop_challenger_if(self, version: int) -> None:
        challenger = self.alias(CHALLENGER)
        if challenger is not None and challenger.version == version:
            self.client.delete_registered_model_alias(self.model_name, CHALLENGER)

    def repair(self, live_runs: Callable[[str], bool] | None = None) -> list[str]:
        """Finish or undo what an interrupted run left behind; returns what it changed.

        Run it under the promotion lock (no move is in flight then):

        * a history entry still ``started``: completed if ``champion`` points at its target
          (the rollback target and the challenger alias are put right), else marked
          ``abandoned`` (the alias never moved);
        * a ``challenger`` alias on the champion (a promotion killed before it dropped it)
          is removed;
        * a version still PENDING whose run is no longer alive (``live_runs`` says so, by
          run id) and that is not the current challenger is marked ABANDONED;
        * the stage mirror is put right (:meth:`reconcile_stages`).

        Args:
            live_runs: Tells whether a run id belongs to a run still in progress; None
                treats every PENDING version that is not the challenger as alive.
        """
        changed: list[str] = []
        champion = self.champion()
        now = champion.version if champion else None
        for entry in self.history():
            if entry.get("status") != STARTED:
                continue
            if entry.get("to") == now and now is not None:
                if entry.get("from") is not None:
                    self.client.set_registered_model_alias(
                        self.model_name, PREVIOUS, str(entry["from"])
                    )
                self._drop_challenger_if(now)
                self._end_move(entry, DONE, "completed after an interrupted run")
                changed.append(f"history #{entry['n']}: completed the move to v{now}")
            else:
                self._end_move(
                    entry, ABANDONED_MOVE, f"champion is v{now}: the move never happened"
                )
                changed.append(
                    f"history #{entry['n']}: the move to v{entry.get('to')} never happened"
                )
        if now is not None:
            challenger = self.alias(CHALLENGER)
            if challenger is not None and challenger.version == now:
                self.client.delete_registered_model_alias(self.model_name, CHALLENGER)
                changed.append(f"v{now}: challenger alias removed from the champion")
        if live_runs is not None:
            challenger = self.alias(CHALLENGER)
            for v in self.versions():
                if v.tagged.gate_decision != PENDING or (
                    challenger and v.version == challenger.version
                ):
                    continue
                if v.run_id and live_runs(v.run_id):
                    continue
                self.update_record(v.version, VersionRecord(gate_decision=ABANDONED))
                changed.append(f"v{v.version}: PENDING -> ABANDONED (its run is gone)")
        return changed + self.reconcile_stages()

    def rollback_target(self, to: int | None) -> tuple[VersionInfo, int]:
        """The champion to roll back and the version to restore (``previous-champion`` by default).

        Raises:
            ChallengerError: No champion, no rollback target, or the target is the champion.
        """
        from challenger.errors import ChallengerError

        current = self.champion()
        if current is None:
            raise ChallengerError(f"model {self.model_name!r} has no champion to roll back")
        if to is None:
            previous = self.alias(PREVIOUS)
            if previous is None:
                raise ChallengerError(
                    f"model {self.model_name!r} has no previous-champion; name a version with --to"
                )
            to = previous.version
        if to == current.version:
            raise ChallengerError(f"v{to} is already the champion of {self.model_name!r}")
        try:
            self.version(to)
        except Exception as exc:
            raise ChallengerError(f"model {self.model_name!r} has no version {to}") from exc
        return current, to

    def rollback(self, to: int | None, reason: str, run_id: str | None = None) -> tuple[int, int]:
        """Move ``champion`` back (to ``previous-champion`` unless ``to`` names a version).

        The same compare-and-set move as :meth:`promote`, recorded as a rollback.

        Returns:
            (the version that was champion, the version that is champion now).

        Raises:
            ChallengerError: No champion, no rollback target, or the target is the champion.
        """
        current, to = self.rollback_target(to)
        self.promote(to, current.version, reason=reason, run_id=run_id, kind="rollback")
        return current.version, to

    def reconcile_stages(self) -> list[str]:
        """Mirror stages from aliases; returns what it changed (empty when consistent)."""
        champion = self.champion()
        challenger = self.alias(CHALLENGER)
        changed: list[str] = []
        for v in self.versions():
            if champion is not None and v.version == champion.version:
                want = "Production"
            elif challenger is not None and v.version == challenger.version:
                want = "Staging"
            elif v.stage == "Production":
                want = "Archived"  # a retired champion
            elif v.stage == "Staging":
                want = "None"  # a challenger that was refused or abandoned
            else:
                continue
            if v.stage != want:
                self._stage(v.version, want)
                changed.append(f"v{v.version}: {v.stage} -> {want}")
        return changed


def _summary(
    record: VersionRecord, change: VersionRecord, had_note: bool = False
) -> dict[str, str]:
    """The summary tags of ``record`` after ``change``: the note is the change's own action.

    A change without one (or with only the online review's, when the version shows a note
    already) keeps the note the version has; a version without one (first write, or moved
    from the older form) gets the one its record states.
    """
    tags = record.summary_tags()
    note = change.note(online=not had_note) or (None if had_note else record.note())
    if note:
        tags[NOTE] = note
    return tags
