"""Bounded input: a file over one of the ingest.* bounds is refused by name with the bound and what was
measured, nothing of it enters the index, and the rest of the run goes on (issue 11, part 3)."""

from __future__ import annotations

import contextlib
import io
import struct
import zipfile
from pathlib import Path

import pytest

from ingest import limits, readers
from ingest.clauses import split_clauses
from ingest.limits import LimitExceeded, bounded_lines
from ingest.pipeline import EXIT_SOME_FAILED, ingest
from ingest.readers import read_document
from tests.conftest import make_settings
from tests.test_ingest import CountingIndex, write
from xiaoshen.audit import AuditLog, record_ingest
from xiaoshen.errors import DocumentError
from xiaoshen.settings import IngestSettings

_PARAGRAPH = b"<w:p><w:r><w:t>Short paragraph of policy text.</w:t></w:r></w:p>"


def docx_of_paragraphs(count: int) -> bytes:
    """A real DOCX (python-docx's template) whose body is `count` short paragraphs: small on disk,
    `count` × 66 bytes unzipped."""
    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "word/document.xml":
                body = body.replace(b"<w:body>", b"<w:body>" + _PARAGRAPH * count, 1)
            target.writestr(info.filename, body, compresslevel=9)
    return bomb.getvalue()


def test_a_docx_zip_bomb_is_refused_from_its_zip_directory_before_anything_is_unzipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "policy.docx"
    path.write_bytes(docx_of_paragraphs(850_000))  # 53 MB unzipped, real default limits
    assert path.stat().st_size < 1_000_000

    def never(*args: object) -> None:
        raise AssertionError("the DOCX was opened although its declared size is over the limit")

    monkeypatch.setattr("docx.Document", never)
    with pytest.raises(LimitExceeded) as caught:
        read_document(path)
    assert str(caught.value) == (f"{path}: expands to 53 MB, over the 50 MB limit (ingest.max_decompressed_mb)")
    assert caught.value.setting == "max_decompressed_mb"


def test_a_part_that_unzips_far_beyond_its_packed_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ratio.docx"
    path.write_bytes(docx_of_paragraphs(20_000))  # 1.3 MB from a few KB: under the size limit, not the ratio
    with pytest.raises(LimitExceeded) as caught:
        read_document(path)
    assert caught.value.setting == "max_compression_ratio"
    assert "part word/document.xml unzips to" in str(caught.value) and "over the 100x limit" in str(caught.value)
    # Under a looser ratio bound the same file passes the check.
    limits.check_packed(str(path), "docx", path.read_bytes(), IngestSettings(max_compression_ratio=10_000))


def test_a_part_that_inflates_past_its_declared_size_is_not_unpacked(tmp_path: Path) -> None:
    """A forged zip directory declaring a small size cannot get more than that size unzipped."""
    data = bytearray(docx_of_paragraphs(20_000))
    declared = 10_000
    for signature, size_at in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        start = 0
        while (at := data.find(signature, start)) != -1:
            name_len = struct.unpack_from("<H", data, at + (28 if signature == b"PK\x01\x02" else 26))[0]
            name_at = at + (46 if signature == b"PK\x01\x02" else 30)
            if bytes(data[name_at:name_at + name_len]) == b"word/document.xml":
                struct.pack_into("<I", data, at + size_at, declared)
            start = at + 4
    path = tmp_path / "forged.docx"
    path.write_bytes(bytes(data))
    with pytest.raises(DocumentError, match="damaged or truncated Word file"):
        read_document(path, IngestSettings(max_decompressed_mb=1))


def test_over_long_lines_are_cut_at_sentence_ends_keeping_every_character_and_its_offset() -> None:
    sentence = "The borrower shall repay the loan on time. "
    line = sentence * 300  # 12,900 characters
    text = "# Title\n" + line + "\nlast"
    pieces = list(bounded_lines(text, 5000))
    assert next(p for _, p in pieces) == "# Title" and pieces[-1] == (len(text) - 4, "last")
    body = pieces[1:-1]
    assert len(body) == 3 and all(len(p) <= 5000 for _, p in body)
    assert all(p.endswith(". ") for _, p in body[:-1]), "cut after a sentence end"
    assert all(text[start:start + len(p)] == p for start, p in pieces)
    assert "".join(p for _, p in body) == line
    # No sentence end, no space: cut anyway.
    assert [len(p) for _, p in bounded_lines("x" * 12_000, 5000)] == [5000, 5000, 2000]


@pytest.mark.parametrize("name, text", [
    ("one-line.md", "# Policy\n\n" + "The borrower shall repay the loan on time and in full. " * 4000),
    ("flowed.txt", "Policy\n\n" + "words on a visual line without a stop\n" * 6000),
])
def test_no_giant_line_reaches_the_sentence_splitter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     name: str, text: str) -> None:
    """A one-line Markdown file, or a flowed text file whose lines rejoin into one paragraph, reaches the
    sentence splitter as lines of at most max_line_chars (one 20 MB line made it run for minutes)."""
    from llama_index.core.node_parser import SentenceSplitter

    longest: list[int] = []
    real = SentenceSplitter.split_text

    def spy(self: SentenceSplitter, chunk: str) -> list[str]:
        longest.append(max(len(line) for line in chunk.split("\n")))
        return real(self, chunk)

    monkeypatch.setattr(SentenceSplitter, "split_text", spy)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    settings = IngestSettings()
    clauses = split_clauses(read_document(path), settings)
    assert longest and max(longest) <= settings.max_line_chars
    assert sum(c.text.count("repay") + c.text.count("visual") for c in clauses) >= text.count("repay") + text.count(
        "visual"), "nothing is dropped"


@pytest.fixture
def limited_index(tmp_path: Path, embedding) -> CountingIndex:  # type: ignore[no-untyped-def]
    lowered = {"max_decompressed_mb": 1, "max_chars": 100_000, "max_clauses": 20, "parse_budget_s": 5}
    return CountingIndex(make_settings(tmp_path / "index", ingest=lowered), embedding=embedding)


def test_hostile_files_are_refused_by_name_and_the_good_file_in_the_same_run_is_ingested(
        tmp_path: Path, limited_index: CountingIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "p"
    write(folder, "a-good.md")
    (folder / "b-expands.docx").write_bytes(docx_of_paragraphs(20_000))  # 2 MB unzipped
    (folder / "c-one-line.md").write_text("# Policy\n\n" + "The borrower shall repay. " * 12_000, encoding="utf-8")
    (folder / "d-many-clauses.md").write_text(
        "# Policy\n\n" + "\n\n".join(f"1.{i} Clause {i} of the policy applies to every loan." for i in range(1, 41)),
        encoding="utf-8")
    (folder / "e-slow.html").write_text("<p>never finishes</p>", encoding="utf-8")

    def endless(source: str, data: bytes) -> tuple[str, list[int], dict[str, object]]:
        while True:  # a reader stuck in a pure-Python loop, as a parser bug would be
            pass

    monkeypatch.setitem(readers._READERS, "html", endless)
    report = ingest([folder], index=limited_index)

    reasons = {Path(o.source).name: o.reason for o in report.failed}
    assert reasons == {
        "b-expands.docx": "expands to 2.0 MB, over the 1 MB limit (ingest.max_decompressed_mb)",
        "c-one-line.md": "has 312,010 characters of text, over the 100,000 limit (ingest.max_chars)",
        "d-many-clauses.md": "yields 40 clauses, over the 20 limit (ingest.max_clauses)",
        "e-slow.html": "reading and splitting it took over the 5 s limit (ingest.parse_budget_s)",
    }
    assert report.count("added") == 1 and report.exit_code == EXIT_SOME_FAILED
    assert {Path(c.source).name for c in limited_index.clauses()} == {"a-good.md"}
    assert limited_index.embedded == 2, "nothing of a refused file was embedded"

    log = AuditLog(tmp_path / "audit.jsonl")
    entry = record_ingest(log, "tester", str(folder), report, "hash")
    assert entry is not None
    assert entry.details["reasons"][str((folder / "d-many-clauses.md").resolve())] == reasons["d-many-clauses.md"]
    assert len(entry.details["failed"]) == 4


def test_the_budget_does_not_count_embedding(tmp_path: Path, embedding, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A legitimately large file that is slow to embed is not refused by a budget meant for parsing."""
    import time

    class SlowEmbedding(CountingIndex):
        def embed_clauses(self, clauses):  # type: ignore[no-untyped-def]
            time.sleep(1.5)
            return super().embed_clauses(clauses)

    index = SlowEmbedding(make_settings(tmp_path / "index", ingest={"parse_budget_s": 1}), embedding=embedding)
    report = ingest([write(tmp_path / "p", "good.md")], index=index)
    assert not report.failed and report.count("added") == 1


def test_the_budget_leaves_nothing_pending_after_work_that_finished_near_its_end() -> None:
    """The watchdog may fire just as the work returns; whatever it raised is caught inside within_budget,
    never later in unrelated code."""
    for _ in range(300):
        with contextlib.suppress(LimitExceeded):
            assert limits.within_budget("x", 0.0005, lambda: sum(range(3000))) == sum(range(3000))
    total = 0
    for i in range(300_000):  # a stray exception would land in here
        total += i
    assert total == sum(range(300_000))


UNDER_A_TRACER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from ingest.limits import LimitExceeded, within_budget

def slow() -> None:
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        pass

sys.settrace(lambda *args: None)  # what a debugger or coverage installs
refused = 0
for _ in range(5):
    try:
        within_budget("slow.md", 0.05, slow)
    except LimitExceeded:
        refused += 1
print(refused)
"""


def test_the_parse_budget_ends_a_slow_file_under_a_debugger_or_coverage_too() -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    # Withdrawing the budget's exception with PyThreadState_SetAsyncExc(id, NULL) hung this for ever.
    done = subprocess.run([sys.executable, "-c", UNDER_A_TRACER, str(ROOT)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"
