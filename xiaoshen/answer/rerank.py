"""Second-stage rerank of the retrieved clauses, before anything is cited.

Fused retrieval ranks well on the whole but often puts a clause that restates a rule in passing (a
cross-reference, a worked example, another policy's summary) above the clause that lays it down. The
answer cites the top clause, so the engine re-orders the first `rerank_k` hits by a linear score of:
IDF-weighted share of the question's words in the clause, the same share in the document title and
heading path (a question naming "the Credit Policy Manual" or the chapter's topic), the embedding cosine
of the clause's best quotable unit to the question and that unit's own word share, the log of the fused
rank (the prior) and of each retriever's own rank, the embedding cosine of the whole clause, its BM25
score relative to the best hit's, its length, whether the clause states a figure comparable to one in the
question (quantities.py), and whether another retrieved clause points to it (references.py). The weights
are fitted listwise on the dev questions and ObliQA together (bench/calibrate.py, which reports each set
fitted on the other): fitted on the sample policies alone they did worse on unseen regulations than the
fused order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xiaoshen.answer.quantities import comparable_share, condition_share, conditions, quantities
from xiaoshen.answer.references import referenced_by_others
from xiaoshen.index import ClauseIndex, KeywordIndex, clause_units, searchable_text
from xiaoshen.query import Query
from xiaoshen.settings import AnswerSettings
from xiaoshen.types import Hit

RERANK_FEATURES = ("coverage", "heading_coverage", "best_sentence_cosine", "log_rank", "best_sentence_coverage",
                   "comparable_quantities", "referenced_by_hits", "figure_in_band",
                   "log_sparse_rank", "log_dense_rank", "dense_similarity", "sparse_score_share", "log_length")
# A retriever's rank past its candidate list (or past this, whatever the candidates setting) counts as this.
UNRANKED = 60


@dataclass
class Reranked:
    hits: list[Hit]  # re-ordered, ranks renumbered from 1 (marker n = hits[n-1])
    sentences: list[list[str]]  # per hit, its sentences
    cosines: list[list[float]]  # per hit, each sentence's cosine to the question
    scores: list[float]  # the fitted score of each reordered hit (the first rerank_k only)


def coverage(weights: dict[str, float], tokens: set[str]) -> float:
    """IDF-weighted share of the question's words found in `tokens`."""
    total = sum(weights.values()) or 1.0
    return sum(w for t, w in weights.items() if t in tokens) / total


def sentence_cosines(query: Query, hits: list[Hit], index: ClauseIndex) -> tuple[list[list[str]], list[list[float]]]:
    """Every quotable unit (sentence, or list item with its lead-in) of every hit and its embedding
    cosine to the question (one batch; the units' vectors were stored at ingest)."""
    sentences = [clause_units(h.clause.text) for h in hits]  # the units ingest embedded
    flat = [s for group in sentences for s in group]
    if not flat:
        return sentences, [[] for _ in hits]
    cosines = index.query_cosines(query, flat).tolist()
    grouped, start = [], 0
    for group in sentences:
        grouped.append(cosines[start:start + len(group)])
        start += len(group)
    return sentences, grouped


def rerank_features(query: Query, hits: list[Hit], sentences: list[list[str]], cosines: list[list[float]],
                    keyword: KeywordIndex) -> list[list[float]]:
    """One feature row per hit, in RERANK_FEATURES order."""
    weights = query.content_weights
    asked = quantities(query.text)
    pointed_to = referenced_by_others([h.clause for h in hits])
    headings = [f"{h.clause.title} {h.clause.heading}" for h in hits]
    keyword.prefetch([*(searchable_text(h.clause) for h in hits), *headings, *(u for g in sentences for u in g)])
    top_sparse = max((h.sparse_score or 0.0 for h in hits), default=0.0) or 1.0
    rows = []
    for position, (hit, heading, units, sentence_cos) in enumerate(
            zip(hits, headings, sentences, cosines, strict=True), start=1):
        clause = hit.clause
        rows.append([
            coverage(weights, keyword.words(searchable_text(clause))),
            coverage(weights, keyword.words(heading)),
            max(sentence_cos, default=0.0),
            math.log(position),
            max((coverage(weights, keyword.words(u)) for u in units), default=0.0),
            comparable_share(asked, quantities(clause.text)),
            float(pointed_to[position - 1]),
            condition_share(asked, conditions(clause.text)),
            # Each retriever's own say, not only the fused rank: fitted on the samples and on ADGM together,
            # the rerank leans on BM25 where the dense half misleads (regulatory wording, Chinese).
            math.log(min(hit.sparse_rank or UNRANKED, UNRANKED)),
            math.log(min(hit.dense_rank or UNRANKED, UNRANKED)),
            hit.dense_similarity or 0.0,
            (hit.sparse_score or 0.0) / top_sparse,
            math.log(max(len(clause.text), 1)),
        ])
    return rows


def rerank(query: Query | str, hits: list[Hit], index: ClauseIndex, settings: AnswerSettings) -> Reranked:
    """The hits with the first `rerank_k` re-ordered by the fitted score; the rest keep their order."""
    query = index.query(query) if isinstance(query, str) else query
    head = hits[: settings.rerank_k]
    sentences, cosines = sentence_cosines(query, head, index)
    rows = rerank_features(query, head, sentences, cosines, index.keyword_index())
    scores = [sum(w * x for w, x in zip(settings.rerank_weights, row, strict=True)) for row in rows]
    return reorder(hits, sentences, cosines, scores)


def reorder(hits: list[Hit], sentences: list[list[str]], cosines: list[list[float]], scores: list[float]) -> Reranked:
    """The first len(scores) hits sorted by score (ties keep the fused order, so answers stay
    deterministic), the rest after them; ranks renumbered from 1."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    ranked = [hits[i] for i in order] + hits[len(scores):]
    return Reranked(
        hits=[h.model_copy(update={"rank": n, "rerank_score": scores[order[n - 1]] if n <= len(order) else None})
              for n, h in enumerate(ranked, start=1)],
        sentences=[sentences[i] for i in order],
        cosines=[cosines[i] for i in order],
        scores=[scores[i] for i in order],
    )
