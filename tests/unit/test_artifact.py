"""An artifact described as data holds exactly one kind of content."""

from __future__ import annotations

import pytest

from challenger.artifact import Artifact


def test_exactly_one_kind_of_content() -> None:
    assert Artifact("k", "d", markdown="# hi").markdown == "# hi"
    with pytest.raises(ValueError, match="exactly one"):
        Artifact("k", "d")
    with pytest.raises(ValueError, match="exactly one"):
        Artifact("k", "d", markdown="x", link="http://127.0.0.1")
