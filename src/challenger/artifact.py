"""A Prefect artifact described as data: the library says what to show, the flows publish it.

``challenger`` never imports Prefect; a step that has something to show in the Prefect UI
returns :class:`Artifact` values, and ``flows.common.publish_artifacts`` creates them (a
table, a markdown note or a link, under a key that groups them across runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Artifact:
    """One artifact: exactly one of ``table``, ``markdown`` or ``link``."""

    key: str
    description: str
    table: list[dict[str, Any]] | None = None
    markdown: str | None = None
    link: str | None = None
    link_text: str | None = None

    def __post_init__(self) -> None:
        kinds = [x for x in (self.table, self.markdown, self.link) if x is not None]
        if len(kinds) != 1:
            raise ValueError(f"artifact {self.key!r} needs exactly one of table, markdown, link")
