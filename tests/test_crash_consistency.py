"""An ingest killed at any write step leaves an index that readers see whole (the old version of each
document or the new one, never both) and that the next open and ingest bring back to exactly what a clean
ingest of the same files gives: same clause ids, no duplicates, no orphans, same statistics, same results.

Each case runs an ingest in a child process that SIGKILLs itself at one step; the children and this process
embed with a small deterministic hashing embedding, so a child needs no model and both sides agree."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding

from ingest.pipeline import ingest
from tests.conftest import ROOT, make_settings
from xiaoshen.index import ClauseIndex, CorpusStats
from xiaoshen.retrieve import search
from xiaoshen.text import keyword_tokens


class HashEmbedding(BaseEmbedding):
    """Bag of hashed keyword tokens, unit length: deterministic and instant, in any process."""

    delay: float = 0.0  # seconds per text, to make a writer slow on purpose

    def _vector(self, text: str) -> list[float]:
        import time

        time.sleep(self.delay)
        vector = np.zeros(64)
        for token in keyword_tokens(text):
            vector[int(hashlib.md5(token.encode()).hexdigest()[:8], 16) % 64] += 1.0
        norm = float(np.linalg.norm(vector))
        return (vector / norm).tolist() if norm else [0.125] * 64

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)


def open_index(index_dir: Path, **embedding: Any) -> ClauseIndex:
    return ClauseIndex(make_settings(index_dir), embedding=HashEmbedding(**embedding))


def policy(doc_id: str, title: str, clauses: list[str]) -> str:
    body = "\n\n".join(f"2.{n} {text}" for n, text in enumerate(clauses, 1))
    return (f'---\ndoc_id: {doc_id}\ntitle: {title}\nversion: "1.0"\neffective_date: 2025-01-01\n---\n\n'
            f"# {title}\n\n## 2 Rules\n\n{body}\n")


EDITED_BEFORE = ["An overdraft may not exceed USD 50,000 for any single customer.",
                 "Overdrafts are reviewed every 12 months by the credit officer.",
                 "The loan-to-value ratio (LTV) of a secured overdraft may not exceed 60%."]
EDITED_AFTER = ["An overdraft may not exceed USD 75,000 for any single customer.",
                "Overdrafts are reviewed every 6 months by the credit officer.",
                "The loan-to-value ratio (LTV) of a secured overdraft may not exceed 65%."]
NEW = [f"The debt service coverage ratio (DSCR) of a hotel loan of tier {n} must be at least 1.{n}0x." for n in
       range(1, 6)]
SAME = ["Guarantees from shareholders are required above USD 250,000 unsecured.",
        "A guarantor's net worth must be at least twice the guaranteed amount."]


def write_initial(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edited.md").write_text(policy("TST-EDIT", "Overdraft Rules", EDITED_BEFORE), encoding="utf-8")
    (folder / "same.md").write_text(policy("TST-SAME", "Guarantee Rules", SAME), encoding="utf-8")


def write_final(folder: Path) -> None:
    """The edit keeps every section, so the new version has the same clause ids as the old one."""
    write_initial(folder)
    (folder / "edited.md").write_text(policy("TST-EDIT", "Overdraft Rules", EDITED_AFTER), encoding="utf-8")
    (folder / "new.md").write_text(policy("TST-NEW", "Hotel Lending Rules", NEW), encoding="utf-8")


# The child: a clean ingest of the initial files, then the final files with a SIGKILL at one step.
CHILD = r"""
import os, signal, sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from chromadb.api.models.Collection import Collection

from ingest.pipeline import ingest
from tests.test_crash_consistency import open_index, write_final
from xiaoshen import index as index_module

step, index_dir, folder = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
index = open_index(index_dir)
ingest([folder], index=index)
index.keyword_index()  # a reader's cached keyword index for this build, as the app would have
write_final(folder)
clauses = index.settings.collection


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def after(name, when):
    real = getattr(Collection, name)

    def wrapped(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        if self.name == clauses and when(kwargs):
            die()
        return result

    setattr(Collection, name, wrapped)


if step == "after_upsert":
    after("upsert", lambda kwargs: True)
elif step == "mid_batch":
    index_module._WRITE_BATCH = 2  # the new document's five clauses take three upserts; die after the first
    after("upsert", lambda kwargs: kwargs["metadatas"][0]["source"].endswith("new.md"))
elif step == "after_delete":
    after("delete", lambda kwargs: True)
else:
    real_bump, bumps = index_module.ClauseIndex._bump_build, []

    def bump(self):
        if step == "before_bump":
            die()  # the edited document committed and its old records gone, the build id not yet bumped
        real_bump(self)
        bumps.append(1)
        if len(bumps) == 2:
            die()  # after the new document's bump: the session never ended

    index_module.ClauseIndex._bump_build = bump
ingest([folder], index=index)
sys.exit(3)  # the hook never fired
"""

QUERIES = ["maximum overdraft for a single customer", "how often are overdrafts reviewed",
           "minimum DSCR for a hotel loan", "shareholder guarantee above USD 250,000", "LTV of a secured overdraft"]


def snapshot(index: ClauseIndex) -> dict[str, Any]:
    """What a reader can tell about an index, independent of where its files live."""
    clauses = index.clauses()
    return {
        "clause_ids": sorted(c.clause_id for c in clauses),
        "texts": sorted((c.doc_id, c.section, c.text) for c in clauses),
        "statuses": sorted((c.doc_id, c.status) for c in clauses),
        "results": [[(h.clause.doc_id, h.clause.section) for h in search(q, index=index, settings=index.settings, k=4)]
                    for q in QUERIES],
        "stats": index.statistics(),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A clean ingest of the final files."""
    root = tmp_path_factory.mktemp("reference")
    write_final(root / "policies")
    index = open_index(root / "index")
    assert not ingest([root / "policies"], index=index).failed
    return snapshot(index)


@contextmanager
def holding_the_writer_lock(index_dir: Path) -> Iterator[None]:
    """As a live writer would: an open then cannot take the lock and must not repair anything."""
    with (index_dir / "xiaoshen_clauses.writer.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


STEPS = {
    # step: (version of the edited document a reader sees after the crash, is the new document there,
    #        outcome of the re-run per file)
    "after_upsert": ("before", False, {"edited.md": "updated", "new.md": "added", "same.md": "unchanged"}),
    "after_delete": ("after", False, {"edited.md": "unchanged", "new.md": "added", "same.md": "unchanged"}),
    "before_bump": ("after", False, {"edited.md": "unchanged", "new.md": "added", "same.md": "unchanged"}),
    "after_bump": ("after", True, {"edited.md": "unchanged", "new.md": "unchanged", "same.md": "unchanged"}),
    "mid_batch": ("after", False, {"edited.md": "unchanged", "new.md": "added", "same.md": "unchanged"}),
}


@pytest.mark.parametrize("step", sorted(STEPS))
def test_an_ingest_killed_at_any_write_step_is_repaired_to_a_clean_ingest(
    step: str, tmp_path: Path, reference: dict[str, Any]
) -> None:
    folder, index_dir = tmp_path / "policies", tmp_path / "index"
    write_initial(folder)
    child = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), step, str(index_dir), str(folder)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert child.returncode == -9, f"the child was to die at {step}: {child.returncode}\n{child.stderr[-3000:]}"
    seen_version, new_there, rerun = STEPS[step]

    with holding_the_writer_lock(index_dir):
        reader = open_index(index_dir)
        expected = EDITED_BEFORE if seen_version == "before" else EDITED_AFTER
        assert sorted(c.text for c in reader.clauses() if c.doc_id == "TST-EDIT") == sorted(expected), (
            "a reader sees one whole version of the edited document")
        keyword = reader.keyword_index()  # the cache of the build before the crash is not trusted blindly
        indexed = reader.fetch(keyword.record_ids)
        assert sorted(c.text for c in indexed.values() if c.doc_id == "TST-EDIT") == sorted(expected)
        assert len(keyword) == len(indexed) == len(set(keyword.clause_ids)) == len(reader.clauses()), (
            "no clause twice")
        found = search("minimum DSCR for a hotel loan", index=reader, settings=reader.settings, k=3)
        assert any(h.clause.doc_id == "TST-NEW" for h in found) == new_there
        assert all(c.doc_id != "TST-NEW" for c in reader.clauses()) != new_there

    healed = open_index(index_dir)  # the open finds the dead writer's mark and repairs
    assert healed.count() == len(healed.clauses()), "no uncommitted or superseded records after the open"
    report = ingest([folder], index=healed)
    assert {Path(o.source).name: o.status for o in report.outcomes} == rerun
    assert healed.verify().repaired == [], "nothing left to repair"
    assert healed.count() == len(healed.clauses())

    after = snapshot(open_index(index_dir))
    assert after == reference
    assert after["stats"] == CorpusStats.of(healed.clauses())
    assert len(after["clause_ids"]) == len(set(after["clause_ids"])) == len(EDITED_AFTER) + len(NEW) + len(SAME)


def test_a_file_whose_committed_clauses_are_incomplete_is_ingested_again(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    write_final(folder)
    index = open_index(tmp_path / "index")
    ingest([folder], index=index)
    lost = next(i for i, _, m in index.records(include_text=False) if m["doc_id"] == "TST-NEW")
    index.collection.delete(ids=[lost])  # a clause lost behind the index's back

    report = ingest([folder], index=index)
    assert {Path(o.source).name: o.status for o in report.outcomes}["new.md"] == "updated"
    assert any("new.md has 4 of its 5 clauses" in n for n in report.notices)
    assert sum(c.doc_id == "TST-NEW" for c in index.clauses()) == len(NEW)


def test_an_index_written_before_commit_records_is_adopted_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    write_final(folder)
    current = open_index(tmp_path / "current")
    ingest([folder], index=current)
    # The same clauses as an older release stored them: the clause id as record id, no write id, no commits.
    records = current.collection.get(include=["documents", "metadatas", "embeddings"])
    strip = ("clause_id", "write_id", "seq")
    legacy = open_index(tmp_path / "legacy")
    legacy.collection.upsert(ids=[m["clause_id"] for m in records["metadatas"]], documents=records["documents"],
                             embeddings=records["embeddings"],
                             metadatas=[{k: v for k, v in m.items() if k not in strip} for m in records["metadatas"]])
    legacy._bump_build()

    hits = search("minimum DSCR for a hotel loan", index=legacy, settings=legacy.settings, k=3)
    assert hits and hits[0].clause.doc_id == "TST-NEW", "readers see records no commit speaks for"
    report = ingest([folder], index=legacy)
    assert report.embedded_clauses == 0 and report.count("unchanged") == 3
    assert sum("adopted" in n for n in report.notices) == 3
    assert legacy.statistics() == current.statistics() == CorpusStats.of(legacy.clauses())
    assert sorted(c.clause_id for c in legacy.clauses()) == sorted(c.clause_id for c in current.clauses())
