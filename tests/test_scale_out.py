"""Scale-out at small scale (docs/SCALING.md): batch workers against an index on a real `chroma run` server
draft the same recommendations as against the embedded index."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_chroma_server import chroma_url  # noqa: F401  (the module-scoped `chroma run` fixture)
from xiaoshen.batch import run_batch
from xiaoshen.index import ClauseIndex
from xiaoshen.settings import load_settings

APPLICATIONS = sorted((ROOT / "data" / "sample_applications").glob("APP-0[0-9][0-9]_*.json"))[:4]

pytestmark = pytest.mark.slow


def _recommendations(out: Path) -> dict[str, tuple[str, str, str]]:
    with (out / "summary.csv").open(encoding="utf-8") as fh:
        return {r["id"]: (r["recommendation"], r["approval_authority"], r["failed_checks"]) for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def applications(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("applications")
    for path in APPLICATIONS:
        shutil.copy(path, folder / path.name)
    return folder


def test_batch_on_a_chroma_server_matches_the_embedded_index(
    chroma_url: str,  # noqa: F811
    sample_index: ClauseIndex,
    embedding,  # type: ignore[no-untyped-def]
    applications: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Configured the way docs/SCALING.md tells a bank to: the environment variable, nothing else.
    monkeypatch.setenv("XIAOSHEN_CHROMA_URL", chroma_url)
    server_settings = load_settings(index_dir=tmp_path / "unused-local", cache_dir=tmp_path / "kw-cache")
    assert server_settings.chroma_url == chroma_url
    server = ClauseIndex(server_settings, embedding=embedding)
    # The same records as the embedded index (copied, not re-embedded, to keep the test quick), so any
    # difference in the notes comes from the store.
    records = sample_index.collection.get(include=["documents", "metadatas", "embeddings"])
    server.collection.upsert(ids=records["ids"], documents=records["documents"], metadatas=records["metadatas"],
                             embeddings=records["embeddings"])
    server._bump_build()
    assert server.count() == sample_index.count()
    assert not server_settings.index_dir.exists(), "server mode must not create a local store"

    embedded = run_batch(applications, tmp_path / "embedded", index=sample_index, settings=sample_index.settings,
                         workers=2)
    remote = run_batch(applications, tmp_path / "server", index=server, settings=server_settings, workers=2)

    assert not embedded.errors and not remote.errors, (embedded.errors, remote.errors)
    assert sorted(remote.written) == sorted(embedded.written) and len(remote.written) == len(APPLICATIONS)
    assert _recommendations(tmp_path / "server") == _recommendations(tmp_path / "embedded")

