"""One writer at a time per index: a second ingest waits for the first, saying so on stderr, and then finds
everything unchanged (it embeds nothing); with a timeout it fails with a clear error. Readers never wait."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from tests.conftest import ROOT
from tests.test_crash_consistency import HashEmbedding, write_final
from xiaoshen.errors import IndexStoreError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import search
from xiaoshen.settings import Settings, load_settings

# The CLI finds its keyword cache beside the index directory; the child writers use the same settings.
# The first writer embeds slowly (per text), so the second CLI process, several seconds to start, finds the lock held.
SLOW_WRITER = r"""
import json, sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from ingest.pipeline import ingest
from tests.test_crash_consistency import HashEmbedding
from xiaoshen.index import ClauseIndex
from xiaoshen.settings import Settings, load_settings

index = ClauseIndex(load_settings(index_dir=Path(sys.argv[2])), embedding=HashEmbedding(delay=0.7))
report = ingest([Path(sys.argv[3])], index=index, progress=lambda name: print("ingesting", name, flush=True))
print(json.dumps({"embedded": report.embedded_clauses, "added": report.count("added")}), flush=True)
"""

LOCK_HOLDER = r"""
import sys, time
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from xiaoshen.index import ClauseIndex
from xiaoshen.settings import Settings, load_settings

index = ClauseIndex(load_settings(index_dir=Path(sys.argv[2])))
with index.writer():
    print("locked", flush=True)
    time.sleep(120)
"""


@contextmanager
def child(script: str, *args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-c", script, str(ROOT), *args], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def wait_for(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line
    raise AssertionError(f"the child ended before printing {prefix!r}: {process.stderr.read() if process.stderr else ''}")


def test_a_second_writer_waits_for_the_first_and_then_finds_everything_unchanged(tmp_path: Path) -> None:
    folder, index_dir = tmp_path / "policies", tmp_path / "index"
    write_final(folder)
    # A sentence store of its own: in the session's shared one these texts' vectors may already be stored
    # (by another test), and the first writer would then finish before the second starts.
    own_store = {**os.environ, "XIAOSHEN_SENTENCE_STORE": str(tmp_path / "sentences.sqlite")}
    with child(SLOW_WRITER, str(index_dir), str(folder), env=own_store) as first:
        wait_for(first, "ingesting")  # the first writer holds the lock and is embedding
        second = subprocess.run([sys.executable, "-m", "xiaoshen.cli", "ingest", str(folder), "--index", str(index_dir)],
                                cwd=ROOT, capture_output=True, text=True, timeout=300,
                                env={**own_store, "COLUMNS": "200"})
        first_report = json.loads(wait_for(first, "{"))
        assert first.wait(timeout=60) == 0
    assert second.returncode == 0, second.stderr
    assert f"waiting for another writer (pid {first.pid})" in second.stderr
    assert "0 added, 0 updated, 3 unchanged" in second.stdout and "0 clauses embedded" in second.stdout
    assert first_report == {"embedded": 10, "added": 3}, "the first writer embedded every clause, once"


@contextmanager
def ingested_and_locked(tmp_path: Path) -> Iterator[tuple[Path, Settings, subprocess.Popen[str]]]:
    """An index holding the test policies, and another process holding its writer lock."""
    folder, index_dir = tmp_path / "policies", tmp_path / "index"
    write_final(folder)
    settings = load_settings(index_dir=index_dir)
    ingest([folder], index=ClauseIndex(settings, embedding=HashEmbedding()))
    with child(LOCK_HOLDER, str(index_dir)) as holder:
        wait_for(holder, "locked")
        yield folder, settings, holder


def test_a_writer_that_cannot_get_the_lock_in_time_fails_with_a_clear_error(tmp_path: Path) -> None:
    with ingested_and_locked(tmp_path) as (folder, settings, holder):
        notices: list[str] = []
        started = time.monotonic()
        with pytest.raises(IndexStoreError, match=rf"pid {holder.pid}.*writer lock.*0.5 s") as raised:
            ingest([folder], index=ClauseIndex(settings, embedding=HashEmbedding()), lock_timeout=0.5,
                   notice=notices.append)
        assert time.monotonic() - started < 10
        assert raised.value.hint and "\n" not in str(raised.value)
        assert notices == [f"waiting for another writer (pid {holder.pid}) to finish with this index; giving up in 0.5 s"]


def test_readers_never_wait_for_the_writer_lock(tmp_path: Path) -> None:
    with ingested_and_locked(tmp_path) as (_, settings, holder):
        started = time.monotonic()
        reader = ClauseIndex(settings, embedding=HashEmbedding())
        hits = search("minimum DSCR for a hotel loan", index=reader, settings=settings, k=3)
        assert hits and hits[0].clause.doc_id == "TST-NEW"
        assert len(reader.documents()) == 3
        assert time.monotonic() - started < 30 and holder.poll() is None, "read while the writer held the lock"


def test_the_lock_wait_is_a_setting_and_a_cli_option(tmp_path: Path) -> None:
    with ingested_and_locked(tmp_path) as (folder, settings, holder):
        configured = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"lock_timeout_s": 0.5})})
        with pytest.raises(IndexStoreError, match=r"for all of the 0.5 s"):
            ingest([folder], index=ClauseIndex(configured, embedding=HashEmbedding()), notice=lambda _: None)
        cli = subprocess.run([sys.executable, "-m", "xiaoshen.cli", "ingest", str(folder), "--index",
                              str(settings.index_dir), "--lock-timeout", "0.5"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "300"})
        assert holder.poll() is None, "the holder still has the lock"
    assert cli.returncode != 0
    assert f"pid {holder.pid}" in cli.stderr and "for all of the 0.5 s this one waited" in cli.stderr
