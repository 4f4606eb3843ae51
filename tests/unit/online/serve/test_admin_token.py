"""An admin token shorter than 16 characters (an empty one above all) is refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from challenger.config import load_config
from challenger.errors import ConfigError


@pytest.mark.parametrize(
    ("token", "says"), [("", "is empty"), ("   ", "is empty"), ("abc-secret", "only 10")]
)
def test_a_weak_admin_token_refuses_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str, says: str
) -> None:
    path = tmp_path / "challenger.yaml"
    path.write_text("serving: {port: 8081}\n")
    monkeypatch.setenv("CHALLENGER_SERVING__ADMIN_TOKEN", token)
    with pytest.raises(ConfigError, match=f"serving.admin_token.*{says}") as exc:
        load_config(path)
    assert "unset it to keep the admin endpoints off" in str(exc.value)
    assert "abc-secret" not in str(exc.value), "the message never shows the token"


def test_a_strong_token_or_none_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "challenger.yaml"
    path.write_text("serving: {port: 8081}\n")
    monkeypatch.setenv("CHALLENGER_SERVING__ADMIN_TOKEN", "x" * 16)
    assert load_config(path).serving.admin_token is not None
    monkeypatch.delenv("CHALLENGER_SERVING__ADMIN_TOKEN")
    assert load_config(path).serving.admin_token is None
