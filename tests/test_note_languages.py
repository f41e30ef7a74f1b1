"""Complete notes in the applicant's language: conditions precedent found and cited, every check's clause quoted,
one recommendation vocabulary, a refusal on an empty index, no internal names, the preparer named; and the Chinese
rendering (授信审查报告) of APP-024 by the Chinese standard NCB-RNS-ZH-010, citing the Chinese procedures."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import ROOT, make_settings
from xiaoshen.audit import AuditLog, record_note
from xiaoshen.cli import app as cli
from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import load_application, note_language, parse_application
from xiaoshen.review.catalog_zh import ZH
from xiaoshen.review.note import ReviewNote, draft_note
from xiaoshen.review.portfolio import csv_row, portfolio_row, render_summary_html
from xiaoshen.review.render import render_docx, render_html, render_markdown

APPS = ROOT / "data" / "sample_applications"
RULEBOOK = yaml.safe_load((ROOT / "data" / "policy_rules.yaml").read_text(encoding="utf-8"))
RULE_IDS = {r["id"] for section in ("rules", "prohibitions", "requirements", "documents", "haircuts", "conditions")
            for r in RULEBOOK[section]}
ZH_SECTIONS = ["一、审查结论与建议", "二、借款人及申请概况", "三、财务分析", "四、政策符合性审查", "五、例外事项及缓释措施",
               "六、主要风险", "七、授信条件", "八、依据条款与审批"]


def app_file(app_id: str) -> Path:
    return next(APPS.glob(f"{app_id}_*"))


@pytest.fixture(scope="module")
def notes(sample_index: ClauseIndex) -> dict[str, ReviewNote]:
    return {n: draft_note(load_application(app_file(n)), index=sample_index, settings=sample_index.settings,
                          backend="extractive", prepared_by="Wang Fang")
            for n in ["APP-001", "APP-002", "APP-024", "APP-035", "APP-038"]}


def cited(note: ReviewNote, numbers: list[int]) -> set[tuple[str, str]]:
    return {(note.citations[n - 1].doc_id, note.citations[n - 1].section) for n in numbers}


# --- completeness ----------------------------------------------------------------------------------------------

def test_cre_notes_list_the_conditions_precedent_of_clause_9_2_each_cited(notes) -> None:  # type: ignore[no-untyped-def]
    note = notes["APP-001"]
    precedents = [c for c in note.conditions if c.text.startswith("Condition precedent to first drawdown")]
    words = " ".join(c.text for c in precedents)
    for item in ["mortgage", "appraisal", "title report", "insurance", "know-your-customer"]:
        assert item in words, item
    assert all(("NCB-CRE-002", "9.2") in cited(note, c.citations) for c in precedents)
    assert "state no specific conditions" not in render_markdown(note)


def test_conditions_follow_the_use_of_the_home(notes) -> None:  # type: ignore[no-untyped-def]
    first_home = render_markdown(notes["APP-038"], "zh")
    conditions = first_home.split("七、授信条件")[1].split("八、")[0]
    assert "出租型" not in conditions, "a first-home note lists no condition of a buy-to-let loan"
    buy_to_let = notes["APP-035"]
    landlord = [c for c in buy_to_let.conditions if "landlord's insurance" in c.text]
    assert landlord and all(("NCB-RET-004", "3.8.3") in cited(buy_to_let, c.citations) for c in landlord)
    assert not any("landlord" in c.text for c in notes["APP-001"].conditions)


def test_a_clean_note_quotes_every_clause_its_checks_rest_on_and_the_audit_records_them(notes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    note = notes["APP-001"]
    assert note.recommendation == "approve" and len(note.checks) >= 9
    sources = {(c.doc_id, c.section) for c in note.citations}
    for check in note.checks:
        assert check.citations, check.label
        assert (check.clause.doc_id, check.clause.section) in sources
    markdown = render_markdown(note)
    body, sources_section = markdown.split("## 8 Sources and approvals")
    assert re.search(r"\[\d+\]", body)
    assert all(f"[{c.n}] {c.label}" in sources_section for c in note.citations)
    entry = record_note(AuditLog(tmp_path / "audit.jsonl"), "wang.fang", note)
    assert set(entry.clause_ids) >= {note.citations[n - 1].clause_id for c in note.checks for n in c.citations}
    assert entry.documents and all(" v" in d for d in entry.documents)


def test_mandatory_conditions_make_the_recommendation_approve_with_conditions(notes) -> None:  # type: ignore[no-untyped-def]
    note = notes["APP-024"]
    assert not any(c.result in {"exception_needed", "fail"} for c in note.checks)
    assert any(c.mandatory for c in note.conditions)
    assert note.recommendation == "approve_with_conditions"


def test_a_missing_input_makes_the_recommendation_refer(sample_index: ClauseIndex) -> None:
    app = load_application(app_file("APP-020"))  # an SME application without financial statements
    note = draft_note(app, index=sample_index, settings=sample_index.settings, backend="extractive")
    assert any(c.result == "not_assessable" for c in note.checks)
    assert note.recommendation in {"refer", "decline"}
    if not any(c.result == "fail" for c in note.checks):
        assert note.recommendation == "refer"


def test_drafting_on_an_empty_index_is_refused_with_how_to_ingest(tmp_path: Path, embedding) -> None:  # type: ignore[no-untyped-def]
    index = ClauseIndex(make_settings(tmp_path / "index"), embedding=embedding)
    with pytest.raises(XiaoshenError) as info:
        draft_note(load_application(app_file("APP-001")), index=index, settings=index.settings, backend="extractive")
    assert "no current policy clauses" in str(info.value) and "xiaoshen ingest" in str(info.value)


def test_cli_review_refuses_on_an_empty_index(tmp_path: Path) -> None:
    env = {"XIAOSHEN_INDEX_DIR": str(tmp_path / "index"), "XIAOSHEN_CACHE_DIR": str(tmp_path / "cache")}
    result = CliRunner().invoke(cli, ["review", str(app_file("APP-001"))], env=env)
    assert result.exit_code != 0 and "xiaoshen ingest" in result.output and "Traceback" not in result.output
    assert "## 1 Summary" not in result.output


def test_no_rule_id_or_raw_value_reaches_a_reader(notes) -> None:  # type: ignore[no-untyped-def]
    note = notes["APP-002"]  # an LTV exception: the authority line used to name the rule id
    row = portfolio_row(note, {"md": "APP-002.md"})
    shown = [render_markdown(note), render_html(note), " ".join(csv_row(row).values()), render_summary_html([row]),
             render_markdown(notes["APP-024"])]
    for page in shown:
        text = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page, flags=re.S))  # what a reader sees
        assert not any(re.search(rf"(?<![\w-]){re.escape(rule_id)}(?![\w-])", text) for rule_id in RULE_IDS)
        assert "approve_with_conditions" not in text
    assert "Approve with conditions" in csv_row(row)["recommendation"]


def test_prepared_by_names_the_officer(notes, sample_index: ClauseIndex, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "Prepared by: Wang Fang" in render_markdown(notes["APP-002"])
    assert "编写人：Wang Fang" in render_markdown(notes["APP-024"])
    env = {"XIAOSHEN_INDEX_DIR": str(sample_index.settings.index_dir),
           "XIAOSHEN_CACHE_DIR": str(sample_index.settings.keyword_cache_dir)}
    out = tmp_path / "note.md"
    result = CliRunner().invoke(cli, ["review", str(app_file("APP-031")), "--out", str(out), "--backend", "extractive",
                                      "--prepared-by", "Li Na"], env=env)
    assert result.exit_code == 0, result.output
    assert "Prepared by: Li Na" in out.read_text(encoding="utf-8")


# --- language -------------------------------------------------------------------------------------------------

def test_the_language_follows_the_field_then_jurisdiction_and_currency() -> None:
    data = yaml.safe_load(app_file("APP-024").read_text(encoding="utf-8"))
    assert note_language(parse_application(data)) == "zh"
    del data["borrower"]["language"]
    assert note_language(parse_application(data)) == "zh"  # a CNY loan
    data["request"]["currency"] = "USD"
    assert note_language(parse_application(data)) == "en"
    data["borrower"]["jurisdiction"] = "CN"
    assert note_language(parse_application(data)) == "zh"
    data["borrower"]["language"] = "en"
    assert note_language(parse_application(data)) == "en"


def test_app_024_is_a_chinese_note_by_the_chinese_standard(notes) -> None:  # type: ignore[no-untyped-def]
    note = notes["APP-024"]
    assert note.language == "zh"
    text = render_markdown(note)
    positions = [text.index(f"## {s}") for s in ZH_SECTIONS]
    assert positions == sorted(positions)
    assert text.startswith("# 授信审查报告 — APP-024（初稿）")
    assert "不构成授信决策" in text and "附条件同意" in text
    assert "人民币800.00万元" in text and "2025年9月30日" in text
    for label in ["偿债覆盖率", "杠杆倍数", "流动比率", "营运资金需求量", "受托支付"]:
        assert label in text, label
    own_words = text.split("## 八、依据条款与审批")[0]  # Sources quote English clauses verbatim
    for english in ["Debt service coverage", "Policy compliance", "Approve", "Condition precedent", "Financial covenant",
                    "pass", "limit"]:
        assert english not in own_words, english


# Words a Chinese note may carry in Latin letters: document ids, EBITDA, currency codes, a formula's variables,
# the drafting backend and the preparer (application data and identifiers, not our phrases).
LATIN_ALLOWED = {"NCB", "SME", "ZH", "CPM", "COL", "MTG", "RET", "CRE", "RNS", "APP", "EBITDA", "CNY", "USD", "UTC",
                 "Xiaoshen", "extractive", "Wang", "Fang", "r", "n"}


def test_a_chinese_note_has_no_english_label_or_phrase_of_ours(notes) -> None:  # type: ignore[no-untyped-def]
    for app_id in ("APP-024", "APP-038"):
        text = render_markdown(notes[app_id])
        own, sources = text.split("## 八、依据条款与审批")
        # Sources quote the English clauses verbatim; only each source's label is ours.
        own += "\n".join(line.split(" — ")[0] for line in sources.splitlines())
        latin = set(re.findall(r"(?<![A-Za-z0-9])[A-Za-z]+(?![A-Za-z0-9])", own)) - LATIN_ALLOWED
        assert not latin, (app_id, sorted(latin))
    assert "，第6页" in render_markdown(notes["APP-024"])  # an English policy's page, cited in a Chinese note


def test_app_024_cites_the_chinese_procedure_and_english_policies_only_where_it_is_silent(notes) -> None:  # type: ignore[no-untyped-def]
    note = notes["APP-024"]
    documents = {c.doc_id for c in note.citations}
    assert "NCB-SME-ZH-007" in documents and "NCB-SME-003" not in documents
    for check in note.checks:
        if check.zh_clause is not None:
            assert cited(note, check.citations) == {(check.zh_clause.doc_id, check.zh_clause.section)}
    sections = {c.section for c in note.citations if c.doc_id == "NCB-SME-ZH-007"}
    assert {"第三十九条", "第五十六条", "第六十五条"} <= sections
    # The manual and the collateral policy have no Chinese version: they stay cited in English.
    assert {"NCB-CPM-001", "NCB-COL-005"} & documents


def test_app_038_mortgage_note_is_chinese_and_cites_the_chinese_mortgage_rules(notes) -> None:  # type: ignore[no-untyped-def]
    note = notes["APP-038"]
    text = render_markdown(note)
    assert note.language == "zh" and "## 一、审查结论与建议" in text and "人民币240.00万元" in text
    assert "NCB-MTG-ZH-008" in {c.doc_id for c in note.citations}
    assert "NCB-RET-004" not in {c.doc_id for c in note.citations if c.section in {"3.2.1", "3.3.1", "3.5.1"}}


def test_language_can_be_overridden_and_english_notes_stay_english(sample_index: ClauseIndex, notes) -> None:  # type: ignore[no-untyped-def]
    app = load_application(app_file("APP-024"))
    note = draft_note(app, index=sample_index, settings=sample_index.settings, backend="extractive", language="en")
    text = render_markdown(note)
    assert text.startswith("# Credit review note — APP-024 (DRAFT)") and "## 4 Policy compliance" in text
    assert "NCB-SME-003" in {c.doc_id for c in note.citations}
    assert render_markdown(notes["APP-002"]).startswith("# Credit review note — APP-002 (DRAFT)")


def test_chinese_word_and_html_notes_declare_chinese(notes) -> None:  # type: ignore[no-untyped-def]
    import io

    import docx
    from docx.oxml.ns import qn

    note = notes["APP-024"]
    page = render_html(note)
    assert "lang='zh-CN'" in page and "一、审查结论与建议" in page and "Noto Sans CJK SC" in page
    document = docx.Document(io.BytesIO(render_docx(note)))
    fonts = document.styles["Normal"].element.rPr.find(qn("w:rFonts"))
    assert fonts is not None and fonts.get(qn("w:eastAsia")) == "Noto Sans CJK SC"
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert [h for h in headings if h in ZH_SECTIONS] == ZH_SECTIONS


def test_the_chinese_catalog_keeps_every_placeholder() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for msgid, translation in ZH.items():
        assert fields(msgid) == fields(translation), msgid
