"""`xiaoshen eval`: retrieval recall, citation precision, abstention and groundedness on a question set.

Accepts Xiaoshen's dev format (JSON Lines: question, answerable, gold[{doc_id, version, section,
snippet}]) and the ObliQA format (a JSON list of {QuestionID, Question, Passages[{PassageID, Passage}]}).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from xiaoshen.answer import answer
from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import ClauseFilter
from xiaoshen.settings import Settings
from xiaoshen.types import Answer, Clause


class GoldEvidence(BaseModel):
    doc_id: str | None = None
    version: str | None = None
    section: str | None = None
    snippet: str = ""


class EvalQuestion(BaseModel):
    id: str
    question: str
    answerable: bool = True
    gold: list[GoldEvidence] = Field(default_factory=list)


class EvalReport(BaseModel):
    questions: int
    answerable: int
    unanswerable: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float
    citation_precision: float
    abstention_accuracy: float | None
    false_abstention_rate: float
    groundedness: float
    latency_p50_ms: float
    latency_p95_ms: float
    misses: list[str] = Field(default_factory=list, description="Answerable questions with no gold clause cited.")


def load_questions(path: Path) -> list[EvalQuestion]:
    """Dev JSONL or ObliQA JSON; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise XiaoshenError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if text.lstrip().startswith("["):
        return [
            EvalQuestion(id=str(q["QuestionID"]), question=q["Question"],
                         gold=[GoldEvidence(section=p["PassageID"], snippet=p.get("Passage", "")) for p in q["Passages"]])
            for q in json.loads(text)
        ]
    questions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            questions.append(EvalQuestion.model_validate_json(line))
        except ValueError as exc:
            raise XiaoshenError(f"{path}:{number}: not a valid question ({str(exc).splitlines()[0]})") from exc
    return questions


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def matches_gold(clause: Clause, gold: GoldEvidence) -> bool:
    """The clause holds the gold evidence: same document (and version if given) and section or snippet."""
    if gold.doc_id and clause.doc_id != gold.doc_id:
        return False
    if gold.version and clause.version != gold.version:
        return False
    if gold.section and (clause.section == gold.section
                         or clause.section.startswith((gold.section + "(", gold.section + ".(", gold.section + "（"))):
        return True
    snippet = _normalise(gold.snippet)
    return bool(snippet) and len(snippet) < 400 and snippet in _normalise(clause.text)


def evaluate(
    questions: list[EvalQuestion],
    *,
    index: ClauseIndex,
    settings: Settings,
    backend: str | None = None,
    filters: ClauseFilter | None = None,
    progress: Callable[[EvalQuestion, Answer], None] | None = None,
) -> EvalReport:
    """Answer every question and score retrieval, citations, abstention and groundedness."""
    if not questions:
        raise XiaoshenError("The question set is empty")
    ranks: list[int | None] = []
    cited_total = cited_good = 0
    abstained_unanswerable = answerable_abstained = 0
    grounded: list[float] = []
    latencies: list[float] = []
    misses: list[str] = []
    for q in questions:
        result = answer(q.question, index=index, settings=settings, backend=backend, filters=filters)
        latencies.append(result.latency_ms)
        if progress:
            progress(q, result)
        if not q.answerable:
            abstained_unanswerable += result.abstained
            continue
        ranks.append(next((h.rank for h in result.retrieval
                           if any(matches_gold(h.clause, g) for g in q.gold)), None))
        if result.abstained:
            answerable_abstained += 1
            continue
        grounded.append(result.groundedness)
        by_n = {c.n: c for c in result.citations}
        context = {h.rank: h.clause for h in result.retrieval}
        good = [n for n in by_n if any(matches_gold(context[n], g) for g in q.gold)]
        cited_total += len(by_n)
        cited_good += len(good)
        if not good:
            misses.append(q.id)
    answerable = len(ranks)
    unanswerable = len(questions) - answerable

    def recall(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / answerable if answerable else 0.0

    ordered = sorted(latencies)
    return EvalReport(
        questions=len(questions), answerable=answerable, unanswerable=unanswerable,
        recall_at_1=recall(1), recall_at_5=recall(5), recall_at_10=recall(10),
        mrr=sum(1 / r for r in ranks if r) / answerable if answerable else 0.0,
        citation_precision=cited_good / cited_total if cited_total else 0.0,
        abstention_accuracy=abstained_unanswerable / unanswerable if unanswerable else None,
        false_abstention_rate=answerable_abstained / answerable if answerable else 0.0,
        groundedness=statistics.fmean(grounded) if grounded else 0.0,
        latency_p50_ms=statistics.median(ordered),
        latency_p95_ms=ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        misses=misses,
    )
