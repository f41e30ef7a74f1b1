"""The evidence bar: is there a clause that answers this question at all?

A small logistic model over retrieval features decides, before any backend runs, so an abstention
never costs an LLM call. Its weights are fitted on the dev questions (bench/calibrate.py, which also
reports leave-one-out figures) and live in settings. Unanswerable questions are mostly near the
corpus's topics but ask for a specific thing it never states (a fee, a number of days, a font), so
besides how well the best clauses match overall, the features ask whether that specific thing is there.
"""

from __future__ import annotations

import math
import re

from xiaoshen.answer.rerank import Reranked, coverage
from xiaoshen.index import KeywordIndex, searchable_text
from xiaoshen.query import Query, question_tokens
from xiaoshen.settings import AnswerSettings
from xiaoshen.text import chinese_words, keyword_tokens

EVIDENCE_FEATURES = ("dense_top5", "coverage_top3", "coverage_top1", "unknown_words", "best_sentence_cosine",
                     "best_sentence_coverage", "number_missing", "focus_coverage")

# A question that asks for a quantity; if the best clause states no number at all, it cannot answer it.
_ASKS_NUMBER = re.compile(
    r"\bhow (many|much|long|often)\b|\bwhat (percentage|percent|share|ratio|proportion|fee|rate|amount|"
    r"commission|penalty|charge)\b|多少|几|比例|比率", re.I)
# The thing asked for: the words between the question word and its verb ("what *early-repayment fee*
# does"), or next to 多少/几 in Chinese ("*贴息比例*是多少", "多少*违约金*").
_EN_FOCUS = re.compile(
    r"\b(?:what|which|how many|how much|how long)\s+((?:[\w-]+\s+){0,3}?[\w-]+)\s+(?:does|do|did|is|are|was|"
    r"were|must|may|can|should|will|would|has|have|applies|apply)\b", re.I)
_ZH_FOCUS = re.compile(r"([\u4e00-\u9fff]{2,6})(?:是多少|是什么|为多少|有多少|多少|几)|(?:多少|几)([\u4e00-\u9fff]{2,6})")


_ZH_ASK = re.compile(r"(?:是|为|有)?(?:多少|几|什么)")
_ZH_BREAK = re.compile(r"[，。；：？！、,.;:?!的对]")


def focus_phrase(question: str) -> str | None:
    """The words naming what the question asks for, as it writes them ("early-repayment fee", "贴息比例")."""
    match = _EN_FOCUS.search(question)
    if match:
        return match.group(1)
    asked = _ZH_ASK.search(question)
    if asked is None:
        return None
    # The jieba words after the question word ("支付多少违约金"), else the last two before it within its
    # clause ("……的不良贷款容忍度是多少" -> 不良贷款容忍度): a fixed-width window would cut a word in half.
    after = chinese_words(_ZH_BREAK.split(question[asked.end():])[0])
    if after and len("".join(after[:2])) >= 2:  # 需要支付多少违约金 -> 违约金
        return "".join(after[:2])
    before = chinese_words(_ZH_BREAK.split(question[: asked.start()])[-1])
    phrase = "".join(before[-2:])
    return phrase if len(phrase) >= 2 else None


def focus_tokens(question: str, content: frozenset[str] | set[str] | None = None) -> set[str]:
    """The content words naming what the question asks for (empty when no such phrase is found);
    `content` is the question's content words when already known (Query.content)."""
    found: set[str] = set()
    for match in _EN_FOCUS.finditer(question):
        found |= set(keyword_tokens(match.group(1), bigrams=False))
    for match in _ZH_FOCUS.finditer(question):
        found |= set(keyword_tokens(match.group(1) or match.group(2), bigrams=False))
    return found & (question_tokens(question) if content is None else content)


def evidence_features(query: Query, ranked: Reranked, keyword: KeywordIndex) -> list[float]:
    """The features of EVIDENCE_FEATURES for the reranked hits of `query`."""
    hits = ranked.hits
    question = query.text
    weights = query.content_weights
    total = sum(weights.values()) or 1.0
    top = [keyword.words(searchable_text(h.clause)) for h in hits[:3]]
    in_top3 = set().union(*top) if top else set()
    cov3 = coverage(weights, in_top3)
    cov1 = coverage(weights, top[0]) if top else 0.0
    unknown = sum(w for t, w in weights.items() if not keyword.known(t)) / total
    dense = max((h.dense_similarity or 0.0 for h in hits[:5]), default=0.0)
    sentence_cos = max((c for cosines in ranked.cosines[:3] for c in cosines), default=0.0)
    sentence_cov = max((coverage(weights, keyword.words(s))
                        for sentences in ranked.sentences[:3] for s in sentences), default=0.0)
    number_missing = float(bool(hits) and bool(_ASKS_NUMBER.search(question))
                           and not re.search(r"\d", hits[0].clause.text))
    focus = {t: keyword.idf(t) for t in focus_tokens(question, query.content)}
    focus_cov = coverage(focus, in_top3) if focus else 1.0
    return [dense, cov3, cov1, unknown, sentence_cos, sentence_cov, number_missing, focus_cov]


def answer_confidence(probability: float, ranked: Reranked, settings: AnswerSettings) -> float:
    """Calibrated probability that the top reranked clause answers the question: the evidence bar's
    judgement that some clause does, and how clearly the top one stands out from the next (fitted on dev
    and ObliQA by bench/calibrate.py, never on the holdout)."""
    p = min(max(probability, 1e-6), 1 - 1e-6)
    margin = ranked.scores[0] - ranked.scores[1] if len(ranked.scores) > 1 else 0.0
    w_logit, w_margin = settings.confidence_weights
    z = settings.confidence_bias + w_logit * math.log(p / (1 - p)) + w_margin * margin
    return 1 / (1 + math.exp(-z))


def answer_probability(features: list[float], settings: AnswerSettings) -> float:
    """Probability that the retrieved clauses answer the question."""
    z = settings.evidence_bias + sum(
        w * (x - m) / (s or 1.0)
        for w, x, m, s in zip(settings.evidence_weights, features, settings.evidence_mean, settings.evidence_std,
                              strict=True)
    )
    return 1 / (1 + math.exp(-z))
