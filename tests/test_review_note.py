"""Draft review notes: every number recomputed from the application, every policy statement cited, the
recommendation a draft for a person to decide."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT
from xiaoshen.cli import app as cli
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import load_application
from xiaoshen.review.note import draft_note
from xiaoshen.review.render import render_markdown

APPS = ROOT / "data" / "sample_applications"
SECTIONS = ["1 Summary and recommendation", "2 Borrower and request", "3 Financial analysis", "4 Policy compliance",
            "5 Exceptions and mitigants", "6 Key risks", "7 Conditions and covenants", "8 Sources and approvals"]


@pytest.fixture(scope="module")
def notes(sample_index: ClauseIndex):  # type: ignore[no-untyped-def]
    names = ["APP-002", "APP-003", "APP-016", "APP-031", "APP-034"]
    return {n: (load_application(next(APPS.glob(f"{n}*"))),
                draft_note(load_application(next(APPS.glob(f"{n}*"))), index=sample_index,
                           settings=sample_index.settings)) for n in names}


def test_the_note_has_the_required_sections_in_order_and_says_a_person_decides(notes) -> None:  # type: ignore[no-untyped-def]
    text = render_markdown(notes["APP-002"][1])
    positions = [text.index(f"## {s}") for s in SECTIONS]
    assert positions == sorted(positions)
    assert "not a credit decision" in text and "DRAFT" in text


def test_recommendations_follow_the_checks(notes) -> None:  # type: ignore[no-untyped-def]
    assert notes["APP-002"][1].recommendation == "approve_with_conditions"
    assert notes["APP-003"][1].recommendation == "decline"
    assert notes["APP-031"][1].recommendation == "approve"
    assert notes["APP-034"][1].recommendation == "decline"


def test_ltv_and_dti_in_the_note_are_recomputed_from_the_application(notes) -> None:  # type: ignore[no-untyped-def]
    app, note = notes["APP-002"]
    value = sum(c.market_value for c in app.collateral if c.type.endswith("property"))
    expected = (app.request.amount / value * 100).quantize(Decimal("0.1"))
    assert f"| Loan-to-value (LTV) | {expected}% |" in render_markdown(note)

    app, note = notes["APP-034"]
    r = app.request.rate_pct / 1200
    n = app.request.amortisation_months or app.request.tenor_months
    payment = app.request.amount * r / (1 - (1 + r) ** -n)
    dti = ((app.income.monthly_debt_payments + payment) / app.income.gross_monthly_income * 100).quantize(Decimal("0.1"))
    assert f"| Debt-to-income (DTI) | {dti}% |" in render_markdown(note)


def test_every_policy_statement_in_the_note_carries_a_citation(notes) -> None:  # type: ignore[no-untyped-def]
    for _, note in notes.values():
        for statement in [*note.reasons, *note.conditions]:
            if statement.kind == "policy" and "No authority" not in statement.text:
                assert statement.citations, statement.text
        cited = {n for s in [*note.reasons, *note.conditions] for n in s.citations}
        assert cited <= {c.n for c in note.citations}


def test_cli_review_writes_markdown(sample_index: ClauseIndex, tmp_path: Path) -> None:
    env = {"XIAOSHEN_INDEX_DIR": str(sample_index.settings.index_dir),
           "XIAOSHEN_CACHE_DIR": str(sample_index.settings.keyword_cache_dir)}
    out = tmp_path / "note.md"
    result = CliRunner().invoke(cli, ["review", str(next(APPS.glob("APP-003*"))), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "decline" in result.output and re.search(r"## 4 Policy compliance", out.read_text())


def test_cli_review_names_the_bad_field(sample_index: ClauseIndex) -> None:
    env = {"XIAOSHEN_INDEX_DIR": str(sample_index.settings.index_dir),
           "XIAOSHEN_CACHE_DIR": str(sample_index.settings.keyword_cache_dir)}
    bad = ROOT / "tests" / "data" / "bad_applications"
    result = CliRunner().invoke(cli, ["review", str(next(bad.glob("*currency*")))], env=env)
    assert result.exit_code != 0 and "request.currency" in result.output and "Traceback" not in result.output


def test_word_note_has_real_tables_and_a_citation_appendix(notes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import docx

    from xiaoshen.review.render import render_docx

    path = tmp_path / "note.docx"
    path.write_bytes(render_docx(notes["APP-002"][1]))
    document = docx.Document(str(path))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert [h for h in headings if h[:1].isdigit()] == SECTIONS
    assert "Appendix — citations" in headings
    compliance = next(t for t in document.tables if t.rows[0].cells[0].text == "check")
    assert any(row.cells[3].text == "exception needed" for row in compliance.rows[1:])


def test_html_note_escapes_policy_text(notes) -> None:  # type: ignore[no-untyped-def]
    from xiaoshen.review.render import render_html

    note = notes["APP-002"][1].model_copy(deep=True)
    note.borrower = "<script>alert(1)</script> Ltd"
    page = render_html(note)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert all(f">{s}<" in page for s in SECTIONS)
