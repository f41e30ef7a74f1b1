"""`xiaoshen eval` scores the dev questions and reads the ObliQA format."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import ROOT
from xiaoshen.cli import app
from xiaoshen.evaluate import GoldEvidence, evaluate, load_questions, matches_gold
from xiaoshen.index import ClauseIndex
from xiaoshen.types import Clause

DEV = ROOT / "data" / "dev_questions.jsonl"


def test_the_dev_set_is_large_bilingual_and_has_unanswerable_questions() -> None:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 60
    assert sum(not r["answerable"] for r in rows) >= 10
    assert {r["lang"] for r in rows} == {"en", "zh"}
    assert sum(r["paraphrased"] for r in rows) >= len(rows) // 5
    assert any(len(r["gold"]) > 1 for r in rows)


def test_gold_snippets_occur_in_the_ingested_clauses(sample_index: ClauseIndex) -> None:
    clauses = sample_index.clauses()
    missing = []
    for q in load_questions(DEV):
        for gold in q.gold:
            if not any(matches_gold(c, GoldEvidence(doc_id=gold.doc_id, version=gold.version, snippet=gold.snippet))
                       for c in clauses):
                missing.append((q.id, gold.section))
    assert missing == [], "each gold snippet must survive ingestion verbatim"


def test_evaluate_reports_every_metric(sample_index: ClauseIndex) -> None:
    questions = load_questions(DEV)
    subset = [q for q in questions if q.answerable][:4] + [q for q in questions if not q.answerable][:2]
    report = evaluate(subset, index=sample_index, settings=sample_index.settings)
    assert (report.answerable, report.unanswerable) == (4, 2)
    assert 0 <= report.citation_precision <= 1 and report.recall_at_10 >= report.recall_at_1
    assert report.groundedness == 1.0
    assert report.latency_p95_ms >= report.latency_p50_ms > 0


def test_a_question_whose_kind_is_off_topic_is_not_answerable(tmp_path: Path) -> None:
    path = tmp_path / "probe.jsonl"
    path.write_text('{"id": "p1", "question": "Racehorses as collateral?", "kind": "off_topic"}\n'
                    '{"id": "p2", "question": "Who approves?", "kind": "answerable"}\n', encoding="utf-8")
    off, on = load_questions(path)
    assert (off.answerable, off.category) == (False, "off_topic")
    assert (on.answerable, on.category) == (True, "answerable")


def test_obliqa_format_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "obliqa.json"
    path.write_text(json.dumps([{"QuestionID": "q1", "Question": "What?", "Passages": [
        {"DocumentID": 13, "PassageID": "4.4.2.(1)", "Passage": "An Authorised Person must..."}]}]))
    [q] = load_questions(path)
    assert q.gold[0].section == "4.4.2.(1)" and q.answerable
    clause = Clause(clause_id="x", doc_id="adgm", title="t", version="1", source="s", section="4.4.2.(1)", text="...")
    assert matches_gold(clause, q.gold[0])

    # ObliQA closes a Guidance paragraph's id with a dot; the clause is the same paragraph, not its neighbour.
    guidance = clause.model_copy(update={"section": "4.13.3.Guidance.1"})
    assert matches_gold(guidance, GoldEvidence(section="4.13.3.Guidance.1.", snippet="x" * 500))
    assert not matches_gold(guidance, GoldEvidence(section="4.13.3.Guidance.11.", snippet="x" * 500))


def test_cli_eval_json(sample_index: ClauseIndex, tmp_path: Path) -> None:
    small = tmp_path / "q.jsonl"
    small.write_text("\n".join(DEV.read_text(encoding="utf-8").splitlines()[:3]), encoding="utf-8")
    env = {"XIAOSHEN_INDEX_DIR": str(sample_index.settings.index_dir),
           "XIAOSHEN_CACHE_DIR": str(sample_index.settings.keyword_cache_dir)}
    result = CliRunner().invoke(app, ["eval", str(small), "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert {"recall_at_1", "recall_at_5", "recall_at_10", "mrr", "citation_precision", "abstention_accuracy",
            "false_abstention_rate", "groundedness", "latency_p50_ms", "latency_p95_ms"} <= set(json.loads(result.stdout))
