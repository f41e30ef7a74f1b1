"""Answers an officer can trust: off-topic questions are declined naming the concept the policies never
mention, on-topic gaps say what is not stated, answers cite every clause they rest on, and confidence that
the clause answers is reported apart from groundedness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT
from xiaoshen.answer import answer
from xiaoshen.answer.concepts import missing_concepts
from xiaoshen.audit import AuditLog, record_answer
from xiaoshen.cli import app
from xiaoshen.evaluate import evaluate, load_questions
from xiaoshen.index import ClauseIndex

LTV_QUESTION = "What is the maximum LTV for an owner-occupied CRE loan, and who can approve an exception?"


@pytest.mark.parametrize(("question", "concept"), [
    ("Maximum LTV for a yacht loan?", "yacht"),
    ("What is the bank's policy on lending to space tourism companies?", "tourism"),
    ("游艇贷款的最高成数是多少？", "游艇"),
    ("本行对太空旅游公司的授信政策是什么？", "太空旅游"),
])
def test_an_off_topic_question_is_declined_naming_what_the_policies_never_mention(
        sample_index: ClauseIndex, question: str, concept: str) -> None:
    result = answer(question, index=sample_index, settings=sample_index.settings)
    assert result.abstained and result.decline == "not_mentioned"
    assert concept in result.missing_concepts[0] and concept in result.answer
    assert not result.citations, "nothing is quoted as if it answered"
    assert result.see_also, "the nearest clauses are still listed"


@pytest.mark.parametrize("question", [
    "My client Meridian Logistics wants to buy the warehouse it runs its business from. What LTV applies?",
    "The owner wants to use part of the working-capital line to buy a new delivery truck. Is that allowed?",
    "老板占股30%，剩下没覆盖的敞口大约40万美元，需要让老板个人签担保吗？",
    "The client is putting up a USD deposit as cash cover for a EUR loan. How much is knocked off its value?",
])
def test_names_and_the_officers_own_words_are_not_missing_concepts(sample_index: ClauseIndex, question: str) -> None:
    assert missing_concepts(question, sample_index.keyword_index()) == []


def test_an_on_topic_gap_says_the_policies_cover_the_subject_but_not_the_thing_asked(sample_index: ClauseIndex) -> None:
    result = answer("What commission does the Bank pay mortgage brokers for loans they introduce?",
                    index=sample_index, settings=sample_index.settings)
    assert result.abstained and result.decline == "not_stated"
    assert "do not address" in result.answer and "do not state" in result.answer
    chinese = answer("本行对小微企业贷款的不良贷款容忍度是多少？", index=sample_index, settings=sample_index.settings)
    assert chinese.abstained and chinese.answer.startswith("现有制度未涉及该问题。")
    assert "但未规定不良贷款容忍度" in chinese.answer


def test_a_rule_and_its_exception_are_both_cited(sample_index: ClauseIndex) -> None:
    result = answer(LTV_QUESTION, index=sample_index, settings=sample_index.settings)
    sections = {c.section for c in result.citations if c.doc_id == "NCB-CRE-002"}
    assert {"4.2", "4.7"} <= sections, sections
    quotes = " ".join(c.quote for c in result.citations)
    assert "75%" in quotes and "Chief Credit Officer" in quotes
    assert result.groundedness == 1.0 and all(s.citations for s in result.sentences if not s.reasoning)


def test_confidence_is_reported_apart_from_groundedness_everywhere(sample_index: ClauseIndex, tmp_path: Path) -> None:
    confident = answer(LTV_QUESTION, index=sample_index, settings=sample_index.settings)
    declined = answer("Maximum LTV for a yacht loan?", index=sample_index, settings=sample_index.settings)
    assert 0.0 <= declined.confidence <= 1.0 and 0.5 < confident.confidence <= 1.0
    assert declined.groundedness == 1.0, "a decline quotes nothing unfaithfully"
    assert {"confidence", "groundedness", "decline", "missing_concepts"} <= set(confident.to_json())
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = record_answer(log, "officer", confident)
    assert entry.details["confidence"] == confident.confidence and entry.groundedness == confident.groundedness
    assert log.verify().ok
    env = {"XIAOSHEN_INDEX_DIR": str(sample_index.settings.index_dir),
           "XIAOSHEN_CACHE_DIR": str(sample_index.settings.keyword_cache_dir),
           "XIAOSHEN_ACCESS__AUDIT_LOG": str(tmp_path / "cli-audit.jsonl")}
    shown = CliRunner().invoke(app, ["ask", LTV_QUESTION], env=env)
    assert shown.exit_code == 0, shown.output
    assert "confidence" in shown.output and "groundedness" in shown.output


def test_eval_reports_selective_answering_per_kind_with_risk_coverage(sample_index: ClauseIndex,
                                                                       tmp_path: Path) -> None:
    rows = [
        {"id": "a", "question": LTV_QUESTION, "lang": "en", "answerable": True, "kind": "answerable", "needs": "all",
         "gold": [{"doc_id": "NCB-CRE-002", "snippet": "The maximum LTV for owner-occupied property is 75%."},
                  {"doc_id": "NCB-CRE-002", "snippet": "with the approval of the Chief Credit Officer"}]},
        {"id": "b", "question": "Maximum LTV for a yacht loan?", "lang": "en", "answerable": False,
         "kind": "off_topic", "gold": []},
        {"id": "c", "question": "What commission does the Bank pay mortgage brokers for loans they introduce?",
         "lang": "en", "answerable": False, "kind": "unanswerable", "gold": []},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    report = evaluate(load_questions(path), index=sample_index, settings=sample_index.settings)
    assert report.answered_correct == 1.0 and report.answered_share == 1.0 and report.complete == 1.0
    assert report.declined_off_topic == 1.0 and report.declined_unanswerable == 1.0
    assert report.risk_coverage[0].threshold == 0.0 and report.risk_coverage[0].coverage == pytest.approx(1 / 3)
    assert report.calibration and sum(b.answers for b in report.calibration) == 1


def test_calibration_refuses_to_fit_on_the_holdout() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import calibrate

    with pytest.raises(SystemExit, match="holdout"):
        calibrate.fittable(ROOT / "data" / "holdout_questions.jsonl")
    assert calibrate.fittable(ROOT / "data" / "dev_questions.jsonl")


def test_chinese_questions_weigh_the_embedding_by_their_own_setting(sample_index: ClauseIndex) -> None:
    from xiaoshen.retrieve import search

    settings = sample_index.settings.model_copy(deep=True)
    settings.retrieval.dense_weight_zh = 0.0
    conf = settings.retrieval
    hits = search("二套住房的贷款成数上限是多少？", index=sample_index, settings=settings, k=10)
    for hit in hits:
        bm25_share = conf.sparse_weight / (conf.rrf_k + hit.sparse_rank) if hit.sparse_rank else 0.0
        penalty = conf.superseded_penalty if hit.clause.status == "superseded" else 1.0
        assert hit.score == pytest.approx(bm25_share * penalty), "no dense share for a Chinese question"
    english = search("maximum LTV for owner-occupied CRE", index=sample_index, settings=settings, k=5)
    assert any(h.dense_rank and h.score > conf.sparse_weight / (conf.rrf_k + (h.sparse_rank or 10**6))
               for h in english), "English questions keep the dense half"
