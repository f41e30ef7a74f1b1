"""The same ingestion and retrieval against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from tests.conftest import SAMPLE_POLICIES, make_settings
from tests.test_search import QUESTIONS, found_in_top3
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import search

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chromadb package installs the `chroma` command"
    port = _free_port()
    log = tmp_path_factory.mktemp("chroma-log") / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [chroma, "run", "--path", str(tmp_path_factory.mktemp("chroma-data")), "--host", "127.0.0.1",
             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"chroma run did not start: {log.read_text()[-2000:]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def server_index(chroma_url: str, tmp_path_factory: pytest.TempPathFactory, embedding) -> ClauseIndex:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("server") / "unused-local", chroma_url=chroma_url)
    index = ClauseIndex(settings, embedding=embedding)
    report = ingest([SAMPLE_POLICIES], index=index)
    assert not report.failed
    return index


def test_the_server_holds_the_sample_policies(server_index: ClauseIndex) -> None:
    assert not server_index.settings.index_dir.exists(), "server mode must not create a local store"
    assert {(d.doc_id, d.version, d.status) for d in server_index.documents()} >= {
        ("NCB-CRE-002", "2.0", "superseded"), ("NCB-CRE-002", "3.0", "current")}


def test_written_questions_against_the_server(server_index: ClauseIndex) -> None:
    hits = sum(found_in_top3(server_index, q) for q in QUESTIONS)
    assert hits >= 27


def test_reingest_against_the_server_is_incremental(server_index: ClauseIndex) -> None:
    report = ingest([SAMPLE_POLICIES], index=server_index)
    assert report.count("unchanged") == len(report.outcomes)
    assert report.embedded_clauses == 0
    assert search("haircut on inventory", index=server_index, settings=server_index.settings, k=1)[0].clause.doc_id \
        == "NCB-COL-005"
