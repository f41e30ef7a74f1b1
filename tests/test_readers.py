"""Every reader turns its format into text with the metadata and page numbers the citations need."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.clauses import split_clauses
from ingest.readers import read_document
from tests.conftest import SAMPLE_POLICIES


def sample(pattern: str) -> Path:
    return next(SAMPLE_POLICIES.glob(pattern))


def test_pdf_reader_keeps_metadata_and_real_page_numbers() -> None:
    document = read_document(sample("NCB-CPM-001*.pdf"))
    assert (document.doc_id, document.version, document.effective_date) == ("NCB-CPM-001", "5.0", date(2025, 1, 1))
    assert document.title == "Credit Policy Manual"
    assert len(document.page_starts) >= 10
    clauses = {c.section: c for c in split_clauses(document)}
    assert clauses["4.2"].page_start and clauses["4.2"].page_start > 1
    assert clauses["12.10"].page_start == len(document.page_starts)
    # Running footers are not clause text.
    assert not any("Page " in c.text and " of " in c.text for c in clauses.values())


def test_docx_reader_maps_heading_styles_and_tables() -> None:
    document = read_document(sample("NCB-COL-005*.docx"))
    assert (document.doc_id, document.version, document.format) == ("NCB-COL-005", "2.0", "docx")
    clauses = {c.section: c for c in split_clauses(document)}
    assert "4 Valuation and Haircuts" in clauses["4.5"].heading
    assert "| Residential property" in clauses["4.2"].text or "Residential property |" in clauses["4.2"].text


def test_markdown_front_matter_gives_identity_and_status() -> None:
    document = read_document(sample("NCB-CRE-002*v2_superseded.md"))
    assert (document.doc_id, document.version, document.declared_status) == ("NCB-CRE-002", "2.0", "superseded")


def test_chinese_markdown_is_detected_as_chinese() -> None:
    document = read_document(sample("NCB-MTG-ZH-008*.md"))
    assert document.language == "zh"
    assert "第十八条" in [c.section for c in split_clauses(document)]


def test_html_reader_turns_headings_and_paragraphs_into_clauses(tmp_path: Path) -> None:
    html = tmp_path / "policy.html"
    html.write_text(
        "<html><head><title>Overdraft Policy</title><meta name='doc_id' content='OD-9'>"
        "<meta name='version' content='1.1'><script>alert('x')</script></head><body>"
        "<h2>2 Limits</h2><p>2.1 Overdrafts may not exceed USD 50,000.</p>"
        "<p>2.2 Review annually.</p></body></html>", encoding="utf-8")
    document = read_document(html)
    assert (document.doc_id, document.version, document.title) == ("OD-9", "1.1", "Overdraft Policy")
    clauses = split_clauses(document)
    assert [c.section for c in clauses] == ["2.1", "2.2"]
    assert "alert" not in document.text


def test_text_reader_uses_form_feeds_as_pages_and_reads_gb18030(tmp_path: Path) -> None:
    txt = tmp_path / "rules.txt"
    txt.write_bytes("第一条 本规则适用于全部贷款。\f第二条 贷款期限不超过12个月。".encode("gb18030"))
    document = read_document(txt)
    assert document.language == "zh"
    assert [(c.section, c.page_start) for c in split_clauses(document)] == [("第一条", 1), ("第二条", 2)]


@pytest.mark.parametrize("name", ["policy_v2.3.md", "policy-V2.3.md"])
def test_version_falls_back_to_the_file_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("# Policy\n\n1.1 Text.", encoding="utf-8")
    assert read_document(path).version == "2.3"
