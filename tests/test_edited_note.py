"""The officer's edited draft downloads as HTML and Word with the edits, the tables and no live markup."""

from __future__ import annotations

import io

import docx

from tests.conftest import ROOT
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import load_application
from xiaoshen.review.edited import edited_docx, edited_html
from xiaoshen.review.note import draft_note
from xiaoshen.review.render import render_markdown

EDIT = "Officer's view: the sponsor's track record justifies the exception."


def _edited_note(sample_index: ClauseIndex) -> str:
    app = load_application(ROOT / "data" / "sample_applications" / "APP-002_cre-owner-occupied-ltv-78-exception.json")
    markdown = render_markdown(draft_note(app, index=sample_index, settings=sample_index.settings))
    return markdown.replace("## 2 Borrower and request", f"{EDIT}\n\n## 2 Borrower and request")


def test_word_keeps_the_edit_the_headings_and_real_tables(sample_index: ClauseIndex) -> None:
    document = docx.Document(io.BytesIO(edited_docx(_edited_note(sample_index))))
    paragraphs = [p.text for p in document.paragraphs]
    assert EDIT in paragraphs
    assert any(p.style.name.startswith("Heading") and p.text.startswith("4 Policy compliance")
               for p in document.paragraphs)
    compliance = next(t for t in document.tables if t.rows[0].cells[0].text == "check")
    assert len(compliance.rows) > 3 and {c.text for c in compliance.rows[0].cells} >= {"value", "limit", "result"}
    assert any("a person decides" in p.lower() or "not a credit decision" in p.lower() for p in paragraphs)


def test_html_keeps_the_edit_and_shows_html_in_the_text_as_text(sample_index: ClauseIndex) -> None:
    markdown = _edited_note(sample_index) + "\n<script>alert('x')</script> <img src=x onerror=alert(1)>\n"
    page = edited_html(markdown, "APP-002")
    assert EDIT.replace("'", "&#x27;") in page or EDIT in page
    assert "<table>" in page and "<script>" not in page and "<img" not in page
