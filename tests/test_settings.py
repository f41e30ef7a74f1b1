"""One settings object: environment, optional TOML file, typos rejected with a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from xiaoshen.errors import SettingsError
from xiaoshen.settings import load_settings


def test_environment_and_toml_file_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "xiaoshen.toml"
    config.write_text("[retrieval]\ntop_k = 11\n", encoding="utf-8")
    monkeypatch.setenv("XIAOSHEN_CONFIG", str(config))
    monkeypatch.setenv("XIAOSHEN_RETRIEVAL__RRF_K", "30")
    settings = load_settings()
    assert (settings.retrieval.top_k, settings.retrieval.rrf_k) == (11, 30)


def test_a_typo_is_an_error_naming_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "xiaoshen.toml"
    config.write_text("[retrieval]\ntopk = 11\n", encoding="utf-8")
    monkeypatch.setenv("XIAOSHEN_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"retrieval\.topk"):
        load_settings()


def test_fingerprint_changes_with_settings() -> None:
    assert load_settings().fingerprint() != load_settings(collection="other_clauses").fingerprint()
