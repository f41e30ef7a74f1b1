"""`xiaoshen eval`: retrieval recall, citation precision, abstention and groundedness on a question set,
and the answers judged as selective answering: how often an answered question cites a right clause, how
many are answered, and the risk–coverage curve and calibration of the answer confidence.

Accepts Xiaoshen's dev format (JSON Lines: question, answerable, gold[{doc_id, version, section,
snippet}], optionally lang, kind = answerable | unanswerable | off_topic and needs = all) and the ObliQA
format (a JSON list of {QuestionID, Question, Passages[{PassageID, Passage}]}).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

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
    lang: str | None = None
    kind: Literal["answerable", "unanswerable", "off_topic"] | None = None
    needs: Literal["all", "any"] = "any"

    @model_validator(mode="after")
    def _kind_decides(self) -> EvalQuestion:
        # A set that names only the kind ("kind": "off_topic") means what it says: not answerable.
        if self.kind in {"unanswerable", "off_topic"}:
            self.answerable = False
        return self

    @property
    def category(self) -> str:
        return self.kind or ("answerable" if self.answerable else "unanswerable")


class RiskCoverage(BaseModel):
    """Answering only above a confidence threshold: the share answered, and the share of those that are wrong."""

    threshold: float
    coverage: float = Field(description="Answered / all questions.")
    risk: float = Field(description="Answered questions citing no gold clause (or unanswerable) / answered.")


class CalibrationBin(BaseModel):
    low: float
    high: float
    answers: int
    mean_confidence: float
    accuracy: float = Field(description="Share of these answers citing a gold clause.")


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
    answered_correct: float = Field(default=0.0, description="Answered answerable questions citing a gold "
                                    "clause / answered answerable questions.")
    answered_share: float = Field(default=0.0, description="Answered / answerable questions.")
    answered_correct_en: float | None = None
    answered_correct_zh: float | None = None
    complete: float | None = Field(default=None, description="Questions needing every gold clause (needs=all) "
                                   "whose answer cites each / such questions answered.")
    declined_unanswerable: float | None = Field(default=None, description="On-topic unanswerable questions declined.")
    declined_off_topic: float | None = Field(default=None, description="Off-topic questions declined.")
    top5_chars: float = Field(default=0.0, description="Mean characters of clause text in the top 5 hits.")
    risk_coverage: list[RiskCoverage] = Field(default_factory=list)
    calibration: list[CalibrationBin] = Field(default_factory=list)
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
    # ObliQA writes a Guidance paragraph's id with a closing dot ("4.13.3.Guidance.1."), the clause
    # parser without: the same paragraph.
    section = (gold.section or "").rstrip(".")
    if section and (clause.section == section
                    or clause.section.startswith((section + "(", section + ".(", section + "（"))):
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
    # (confidence, answered, right) per question, for the risk-coverage curve and calibration
    outcomes: list[tuple[float, bool, bool]] = []
    right_by_lang: dict[str, list[bool]] = {"en": [], "zh": []}
    complete: list[bool] = []
    declined: dict[str, list[bool]] = {"unanswerable": [], "off_topic": []}
    top5_chars: list[int] = []
    for q in questions:
        result = answer(q.question, index=index, settings=settings, backend=backend, filters=filters)
        latencies.append(result.latency_ms)
        top5_chars.append(sum(len(h.clause.text) for h in result.retrieval[:5]))
        if progress:
            progress(q, result)
        if not q.answerable:
            abstained_unanswerable += result.abstained
            declined["off_topic" if q.category == "off_topic" else "unanswerable"].append(result.abstained)
            outcomes.append((result.confidence, not result.abstained, False))
            continue
        ranks.append(next((h.rank for h in result.retrieval
                           if any(matches_gold(h.clause, g) for g in q.gold)), None))
        if result.abstained:
            answerable_abstained += 1
            outcomes.append((result.confidence, False, False))
            continue
        grounded.append(result.groundedness)
        by_n = {c.n: c for c in result.citations}
        context = {h.rank: h.clause for h in result.retrieval}
        good = [n for n in by_n if any(matches_gold(context[n], g) for g in q.gold)]
        cited_total += len(by_n)
        cited_good += len(good)
        outcomes.append((result.confidence, True, bool(good)))
        right_by_lang.setdefault(q.lang or result.language, []).append(bool(good))
        if q.needs == "all" and len(q.gold) > 1:
            complete.append(all(any(matches_gold(context[n], g) for n in by_n) for g in q.gold))
        if not good:
            misses.append(q.id)
    answerable = len(ranks)
    unanswerable = len(questions) - answerable

    def recall(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / answerable if answerable else 0.0

    def share(values: list[bool]) -> float | None:
        return sum(values) / len(values) if values else None

    answered_answerable = answerable - answerable_abstained
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
        answered_correct=(len(grounded) - len(misses)) / len(grounded) if grounded else 0.0,
        answered_share=answered_answerable / answerable if answerable else 0.0,
        answered_correct_en=share(right_by_lang.get("en", [])), answered_correct_zh=share(right_by_lang.get("zh", [])),
        complete=share(complete), declined_unanswerable=share(declined["unanswerable"]),
        declined_off_topic=share(declined["off_topic"]),
        top5_chars=statistics.fmean(top5_chars),
        risk_coverage=risk_coverage(outcomes), calibration=calibration(outcomes),
        misses=misses,
    )


def risk_coverage(outcomes: list[tuple[float, bool, bool]],
                  thresholds: tuple[float, ...] = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)) -> list[RiskCoverage]:
    """Coverage and risk if only answers at or above each confidence threshold were given."""
    rows = []
    for threshold in thresholds:
        kept = [right for confidence, answered, right in outcomes if answered and confidence >= threshold]
        rows.append(RiskCoverage(threshold=threshold, coverage=len(kept) / len(outcomes) if outcomes else 0.0,
                                 risk=1 - sum(kept) / len(kept) if kept else 0.0))
    return rows


def calibration(outcomes: list[tuple[float, bool, bool]], edges: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0001)
                ) -> list[CalibrationBin]:
    """Answers binned by confidence: does 0.8 mean right about 8 times in 10?"""
    bins = []
    for low, high in pairwise(edges):
        inside = [(c, right) for c, answered, right in outcomes if answered and low <= c < high]
        if inside:
            bins.append(CalibrationBin(low=low, high=min(high, 1.0), answers=len(inside),
                                       mean_confidence=statistics.fmean(c for c, _ in inside),
                                       accuracy=sum(r for _, r in inside) / len(inside)))
    return bins
