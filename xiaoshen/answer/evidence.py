"""The evidence bar: is there a clause that answers this question at all?

A small logistic model over retrieval features decides, before any backend runs, so an abstention
never costs an LLM call. Its weights are fitted on the dev questions (bench/calibrate.py) and live in
settings. Features: best embedding cosine in the top 5; IDF-weighted share of the question's words
found in the top 3 clauses, and in the top 1; share of the question's weight in words the corpus never
uses (the usual sign of a topic the policies do not cover).
"""

from __future__ import annotations

import math

from xiaoshen.index import KeywordIndex, searchable_text
from xiaoshen.settings import AnswerSettings
from xiaoshen.text import keyword_tokens
from xiaoshen.types import Hit

# Words of the asker, not of the subject: they should not count as "not covered".
_CONVERSATIONAL = frozenset(keyword_tokens(
    "client clients customer customers my our us we want wants much many get go deal put can could would did "
    "does okay still need needs actually really someone anyone 客户 我们 能不能 可以 需要 多少 什么 怎么 一下 "
    "这个 这笔 这家 他 她 它", bigrams=False))


def evidence_features(question: str, hits: list[Hit], keyword: KeywordIndex) -> list[float]:
    tokens = set(keyword_tokens(question, bigrams=False)) - _CONVERSATIONAL
    weights = {t: keyword.idf(t) for t in tokens}
    total = sum(weights.values()) or 1.0
    top = [set(keyword_tokens(searchable_text(h.clause), bigrams=False)) for h in hits[:3]]
    cov3 = sum(w for t, w in weights.items() if any(t in c for c in top)) / total
    cov1 = sum(w for t, w in weights.items() if top and t in top[0]) / total
    unknown = sum(w for t, w in weights.items() if not keyword.known(t)) / total
    dense = max((h.dense_similarity or 0.0 for h in hits[:5]), default=0.0)
    return [dense, cov3, cov1, unknown]


def answer_probability(features: list[float], settings: AnswerSettings) -> float:
    """Probability that the retrieved clauses answer the question."""
    z = settings.evidence_bias + sum(
        w * (x - m) / (s or 1.0)
        for w, x, m, s in zip(settings.evidence_weights, features, settings.evidence_mean, settings.evidence_std,
                              strict=True)
    )
    return 1 / (1 + math.exp(-z))
