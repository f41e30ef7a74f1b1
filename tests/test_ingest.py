"""Incremental ingestion: unchanged files cost nothing, changed files leave no stale clause, bad files are
reported one per line without stopping the rest."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from ingest.pipeline import EXIT_NOTHING_INGESTED, EXIT_OK, EXIT_SOME_FAILED, ingest
from tests.conftest import SAMPLE_POLICIES, make_settings
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import search

POLICY = """---
doc_id: TST-001
title: Test Overdraft Policy
version: "1.0"
effective_date: 2025-01-01
---

# Test Overdraft Policy

## 2 Limits

2.1 An overdraft may not exceed USD {limit} for any single customer.

2.2 Overdrafts are reviewed every {months} months.
"""


class CountingIndex(ClauseIndex):
    """The real index, counting how many clauses it was asked to embed."""

    embedded = 0

    def embed_clauses(self, clauses):  # type: ignore[no-untyped-def]
        self.embedded += len(clauses)
        return super().embed_clauses(clauses)


@pytest.fixture
def index(tmp_path: Path, embedding) -> CountingIndex:  # type: ignore[no-untyped-def]
    return CountingIndex(make_settings(tmp_path / "index"), embedding=embedding)


def write(folder: Path, name: str, **values: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(POLICY.format(**{"limit": "50,000", "months": 12, **values}), encoding="utf-8")
    return path


def texts(index: ClauseIndex) -> list[str]:
    return sorted(c.text for c in index.clauses())


def test_unchanged_files_cost_no_embedding_work(tmp_path: Path, index: CountingIndex) -> None:
    write(tmp_path / "p", "overdraft.md")
    first = ingest([tmp_path / "p"], index=index)
    assert first.count("added") == 1 and index.embedded == 2
    second = ingest([tmp_path / "p"], index=index)
    assert second.count("unchanged") == 1
    assert index.embedded == 2, "re-ingesting an unchanged file must not embed anything"


def test_new_ingest_rules_read_unchanged_files_again_once(tmp_path: Path, index: CountingIndex,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest import readers

    path = write(tmp_path / "p", "overdraft.md")
    ingest([path], index=index)
    before = texts(index)
    # An upgrade whose splitter cuts clauses differently: the index must not keep the old clauses.
    monkeypatch.setattr(readers, "INGEST_RULES", "next")
    report = ingest([path], index=index)
    assert report.count("updated") == 1 and texts(index) == before
    assert ingest([path], index=index).count("unchanged") == 1


def test_a_changed_file_replaces_all_of_its_clauses(tmp_path: Path, index: CountingIndex) -> None:
    path = write(tmp_path / "p", "overdraft.md")
    ingest([path], index=index)
    write(tmp_path / "p", "overdraft.md", limit="75,000", months=6)
    report = ingest([path], index=index)
    assert report.count("updated") == 1
    found = texts(index)
    assert any("USD 75,000" in t for t in found) and any("every 6 months" in t for t in found)
    assert not any("50,000" in t or "12 months" in t for t in found), "a stale clause survived"
    assert index.keyword_index().build_id == index.build_id
    keyword = index.keyword_index()
    assert all("50,000" not in c.text for c in index.fetch(keyword.record_ids).values())


def test_prune_removes_documents_whose_files_are_gone(tmp_path: Path, index: CountingIndex) -> None:
    folder = tmp_path / "p"
    gone = write(folder, "overdraft.md")
    write(folder, "other.md", limit="10,000").write_text(
        POLICY.replace("TST-001", "TST-002").format(limit="10,000", months=3), encoding="utf-8")
    ingest([folder], index=index)
    gone.unlink()
    report = ingest([folder], index=index, prune=True)
    assert report.count("removed") == 1
    assert {d.doc_id for d in index.documents()} == {"TST-002"}


def test_a_superseded_version_stays_searchable_but_the_current_one_ranks_first(
    tmp_path: Path, index: CountingIndex
) -> None:
    folder = tmp_path / "p"
    write(folder, "overdraft_v1.md", limit="50,000")
    (folder / "overdraft_v2.md").write_text(
        POLICY.replace('version: "1.0"', 'version: "2.0"').replace("2025-01-01", "2025-06-01")
        .format(limit="40,000", months=12), encoding="utf-8")
    ingest([folder], index=index)
    status = {d.version: d.status for d in index.documents()}
    assert status == {"1.0": "superseded", "2.0": "current"}
    hits = search("maximum overdraft for a single customer", index=index, settings=index.settings, k=4)
    versions = [h.clause.version for h in hits if h.clause.section == "2.1"]
    assert versions == ["2.0", "1.0"]


def _encrypted_pdf(path: Path) -> Path:
    writer = PdfWriter()
    writer.append(PdfReader(next(SAMPLE_POLICIES.glob("*.pdf"))), pages=[0])
    writer.encrypt("s3cret")
    buffer = io.BytesIO()
    writer.write(buffer)
    path.write_bytes(buffer.getvalue())
    return path


BAD_FILES = {
    "locked.pdf": ("encrypted PDF", _encrypted_pdf),
    "cut.pdf": ("truncated", lambda p: p.write_bytes(next(SAMPLE_POLICIES.glob("*.pdf")).read_bytes()[:4000])),
    "empty.md": ("empty file", lambda p: p.write_bytes(b"")),
    "fake.pdf": ("not a PDF", lambda p: p.write_text("just some text", encoding="utf-8")),
    "fake.docx": ("not a Word .docx file", lambda p: p.write_text("plain", encoding="utf-8")),
    "sheet.xlsx": ("unsupported file type", lambda p: p.write_bytes(b"PK\x03\x04rest")),
    "latin1.txt": ("undecodable text", lambda p: p.write_bytes("Caf\xe9 cr\xe8me limit\xe9e".encode("latin-1"))),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_gets_a_one_line_reason_and_the_good_file_is_still_ingested(
    tmp_path: Path, index: CountingIndex, name: str
) -> None:
    folder = tmp_path / "p"
    write(folder, "good.md")
    expected, make = BAD_FILES[name]
    make(folder / name)
    report = ingest([folder], index=index)
    [failure] = report.failed
    assert failure.source.endswith(name)
    assert expected in failure.reason and "\n" not in failure.reason
    assert report.count("added") == 1
    assert report.exit_code == EXIT_SOME_FAILED
    assert {c.source for c in index.clauses()} == {str((folder / "good.md").resolve())}


def test_exit_codes(tmp_path: Path, index: CountingIndex) -> None:
    ok = ingest([write(tmp_path / "ok", "good.md")], index=index)
    assert ok.exit_code == EXIT_OK
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "empty.md").write_bytes(b"")
    assert ingest([tmp_path / "bad"], index=index).exit_code == EXIT_NOTHING_INGESTED


def test_a_failed_update_keeps_the_previous_version_of_that_document(tmp_path: Path, index: CountingIndex) -> None:
    path = write(tmp_path / "p", "overdraft.md")
    ingest([path], index=index)
    path.write_bytes(b"\xff\xfe\x00")  # the file is now garbage
    report = ingest([path], index=index)
    assert report.failed
    assert any("50,000" in t for t in texts(index)), "the old clauses must stay until a good version arrives"


def test_a_version_coming_into_force_becomes_current_at_the_next_ingest_which_reads_only_its_document(
        tmp_path: Path, index: CountingIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "p"
    write(folder, "overdraft_v1.md")
    in_force = date.today() + timedelta(days=30)
    (folder / "overdraft_v2.md").write_text(
        POLICY.replace('version: "1.0"', 'version: "2.0"').replace("2025-01-01", in_force.isoformat())
        .format(limit="40,000", months=12), encoding="utf-8")
    (folder / "other.md").write_text(POLICY.replace("TST-001", "TST-002").format(limit="1", months=1),
                                     encoding="utf-8")
    ingest([folder], index=index)

    def statuses() -> dict[tuple[str, str], str]:
        return {(d.doc_id, d.version): d.status for d in index.documents()}

    # Announced, not yet in force: the version in force stays current.
    assert statuses() == {("TST-001", "1.0"): "current", ("TST-001", "2.0"): "superseded",
                          ("TST-002", "1.0"): "current"}

    class Later(date):
        @classmethod
        def today(cls) -> Later:
            return cls.fromordinal(in_force.toordinal() + 1)

    monkeypatch.setattr("xiaoshen.index.date", Later)
    monkeypatch.setattr("ingest.pipeline.date", Later)
    reads: list[object] = []
    real_records = ClauseIndex.records

    def records(self: ClauseIndex, where: object = None, *args: object, **kwargs: object) -> object:
        reads.append(where)
        return real_records(self, where, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ClauseIndex, "records", records)
    report = ingest([folder], index=index)
    assert report.count("unchanged") == 3
    assert statuses() == {("TST-001", "1.0"): "superseded", ("TST-001", "2.0"): "current",
                          ("TST-002", "1.0"): "current"}
    # The statuses were found due while verify read the store; the refresh read only that document.
    assert reads == [{"doc_id": {"$eq": "TST-001"}}]


def test_sample_policies_all_ingest_with_versions_and_statuses(sample_index: ClauseIndex) -> None:
    docs = {(d.doc_id, d.version): d for d in sample_index.documents()}
    assert len(docs) >= 9
    assert docs[("NCB-CRE-002", "2.0")].status == "superseded"
    assert docs[("NCB-CRE-002", "3.0")].status == "current"
    assert {d.language for d in docs.values()} == {"en", "zh"}
    assert {d.format for d in docs.values()} >= {"pdf", "docx", "md"}
    assert all(d.consistent for d in docs.values())




def test_a_second_file_claiming_the_same_version_is_refused(tmp_path: Path, index: CountingIndex) -> None:
    write(tmp_path / "a", "overdraft.md")
    write(tmp_path / "b", "overdraft-copy.md", limit="99,000")
    report = ingest([tmp_path / "a", tmp_path / "b"], index=index)
    [failure] = report.failed
    assert "TST-001 v1.0 is already ingested from" in failure.reason
    assert not any("99,000" in t for t in texts(index))


def test_a_metadata_sidecar_labels_a_file_and_editing_it_reingests(tmp_path: Path, index: CountingIndex) -> None:
    path = write(tmp_path / "p", "overdraft.md")
    sidecar = path.with_name(path.name + ".meta.yaml")
    sidecar.write_text("access: [risk]\ntitle: Restricted Overdraft Policy\n", encoding="utf-8")
    report = ingest([tmp_path / "p"], index=index)
    assert report.count("added") == 1 and not report.failed, "the sidecar itself is not a policy file"
    [doc] = index.documents()
    assert doc.access == ["risk"] and doc.title == "Restricted Overdraft Policy"

    sidecar.write_text("access: []\n", encoding="utf-8")
    assert ingest([tmp_path / "p"], index=index).count("updated") == 1
    assert index.documents()[0].access == []

    sidecar.write_text("acess: [risk]\n", encoding="utf-8")
    [failure] = ingest([tmp_path / "p"], index=index).failed
    assert "unknown keys" in failure.reason and "acess" in failure.reason
