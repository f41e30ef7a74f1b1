"""The default backend: an answer composed of the retrieved clauses' own sentences, no LLM involved.

Each candidate sentence is scored by meaning (embedding cosine to the question) and by how much of the
question's rarer words it covers (IDF-weighted), plus a strong prior for higher-ranked clauses (the
fused retrieval rank is the better judge of *which* clause answers; the sentence scores pick *what* to
quote from it: the prior lifted dev-set citation precision from 0.49 to 0.72) and a preference for the
question's language. The first sentence always comes from the top (reranked) clause: the rerank judges *which* clause answers,
and letting a well-worded cross-reference in another clause outscore it cost precision (a hotel-DSCR
question answered from the Credit Policy Manual's list of restricted lending instead of the CRE rule).
A sentence that reads like an instruction to the assistant (xiaoshen/injection.py) is never quoted, unless
the question asks about such text. A list item is quoted with its lead-in ("… 贷款成数上限如下：（二）二套住房：70%"), since the item alone
does not say what it is a limit of. The best few, in clause order, each carry their clause's marker.
Deterministic: the same index and question give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from xiaoshen.answer.backends import Draft, TokenSink, register
from xiaoshen.answer.rerank import coverage
from xiaoshen.answer.sentences import QuotableUnit, quotable_units
from xiaoshen.index import ClauseIndex
from xiaoshen.injection import asks_about_instructions, classify, finding_of
from xiaoshen.query import Query
from xiaoshen.settings import Settings
from xiaoshen.text import detect_language
from xiaoshen.types import Hit


@dataclass
class _Candidate:
    marker: int
    position: int
    unit: QuotableUnit
    score: float = 0.0

    @property
    def text(self) -> str:
        return self.unit.text

    @property
    def lead_in(self) -> str:
        return self.unit.lead_in

    @property
    def full_text(self) -> str:
        return self.unit.full_text


class ExtractiveBackend:
    name = "extractive"
    reranked_context = True  # it quotes the top clause, so the top clause must be the best one

    def __init__(self, settings: Settings, index: ClauseIndex) -> None:
        self.settings = settings
        self.index = index

    def draft(self, query: Query, context: list[Hit], on_token: TokenSink | None = None) -> Draft:
        candidates = [
            _Candidate(marker, position, unit)
            for marker, hit in enumerate(context, start=1)
            for position, unit in enumerate(quotable_units(hit.clause.text))
            if len(unit.full_text) >= 12
        ]
        if not asks_about_instructions(query.text):
            candidates = _without_instructions(candidates, context)
        if not candidates:
            return Draft("", declined=True)
        weights = self._score(query, candidates)
        chosen = self._complete(weights, self._choose(candidates), candidates, context)
        chosen.sort(key=lambda c: (c.marker, c.position))
        parts, previous = [], None
        for c in chosen:
            # Items of one list share their lead-in: say it once.
            shared = previous is not None and previous.marker == c.marker and previous.lead_in == c.lead_in
            parts.append(f"{c.text if shared else c.full_text} [{c.marker}]")
            previous = c
        text = " ".join(parts)
        if on_token:
            on_token(text)
        quotes: dict[int, str] = {}
        for c in chosen:
            quotes.setdefault(c.marker, c.text)
        return Draft(text, quotes=quotes)

    def _score(self, query: Query, candidates: list[_Candidate]) -> dict[str, float]:
        """Score every candidate; returns the IDF weights of the question's content words."""
        texts = [c.full_text for c in candidates]
        cosines = self.index.query_cosines(query, texts)
        keyword = self.index.keyword_index()
        keyword.prefetch(texts)
        for candidate, cosine in zip(candidates, cosines, strict=True):
            covered = coverage(query.weights, keyword.words(candidate.full_text))
            score = 0.55 * float(cosine) + 0.45 * covered + 0.6 / candidate.marker
            if detect_language(candidate.full_text) != query.language:
                score *= 0.75
            candidate.score = score
        return query.content_weights

    def _choose(self, candidates: list[_Candidate]) -> list[_Candidate]:
        ranked = sorted(candidates, key=lambda c: (-c.score, c.marker, c.position))
        # The answer opens with the top clause's best sentence (see the module docstring).
        anchor = next((c for c in ranked if c.marker == 1), ranked[0])
        best = anchor.score
        chosen: list[_Candidate] = [anchor]
        conf = self.settings.answer
        for candidate in ranked:
            if candidate is anchor:
                continue
            if len(chosen) >= conf.max_sentences or candidate.score < conf.same_clause_ratio * best:
                break
            # Citing another clause costs precision: only when its sentence is nearly as good as the best.
            new_clause = all(c.marker != candidate.marker for c in chosen)
            if chosen and new_clause and candidate.score < conf.other_clause_ratio * best:
                continue
            if sum(c.marker == candidate.marker for c in chosen) >= 2:
                continue
            if any(_overlap(candidate.text, c.text) > 0.6 for c in chosen):
                continue
            chosen.append(candidate)
        return chosen


    def _complete(self, weights: dict[str, float], chosen: list[_Candidate], candidates: list[_Candidate],
                  context: list[Hit]) -> list[_Candidate]:
        """Add a sentence from a further clause that answers a part of the question the chosen ones leave
        open, or whose clause the rerank scores nearly as high as the first.

        A question about a rule and its exception ("the maximum LTV ..., and who can approve an exception?")
        is answered by two clauses, and the top one alone leaves the reader to infer the other. Greedily,
        among the top `complete_k` clauses not yet cited, a clause's best sentence is added when it covers
        at least `complete_gain` of the question's still-uncovered words (IDF-weighted), or when the clause's
        rerank score is within `complete_margin` of the first's; its own sentence score must be at least
        `complete_ratio` of the best, and it must not repeat a chosen sentence.
        """
        conf = self.settings.answer
        keyword = self.index.keyword_index()
        total = sum(weights.values()) or 1.0

        def words_of(c: _Candidate) -> set[str]:
            return keyword.words(f"{c.full_text} {context[c.marker - 1].clause.heading}")

        covered: set[str] = set().union(*(words_of(c) for c in chosen))
        best = max(c.score for c in chosen)
        top = context[0].rerank_score
        for _ in range(conf.complete_clauses):
            open_words = {t: w for t, w in weights.items() if t not in covered}
            cited = {c.marker for c in chosen}
            options = []
            for c in candidates:
                if c.marker in cited or c.marker > conf.complete_k or c.score < conf.complete_ratio * best:
                    continue
                if any(_overlap(c.text, d.text) > 0.6 for d in chosen):
                    continue
                gain = sum(open_words.get(t, 0.0) for t in words_of(c)) / total
                score = context[c.marker - 1].rerank_score
                close = top is not None and score is not None and top - score <= conf.complete_margin
                if gain >= conf.complete_gain or close:
                    options.append((gain, c.score, c))
            if not options:
                break
            _, _, pick = max(options, key=lambda o: (o[0], o[1]))
            chosen.append(pick)
            covered |= words_of(pick)
        return chosen


def _without_instructions(candidates: list[_Candidate], context: list[Hit]) -> list[_Candidate]:
    """Drop the sentences that read like an instruction to the assistant, so none opens (or joins) an
    answer; a clause marked at ingest whose instruction no single sentence shows loses all of its own."""
    flagged = {id(c) for c in candidates if classify(c.full_text) is not None}
    hidden = {m for m, hit in enumerate(context, start=1) if finding_of(hit.clause) is not None
              and not any(id(c) in flagged for c in candidates if c.marker == m)}
    return [c for c in candidates if id(c) not in flagged and c.marker not in hidden]


def _overlap(a: str, b: str) -> float:
    words_a, words_b = set(a.split()), set(b.split())
    return len(words_a & words_b) / max(1, len(words_a | words_b))


@register("extractive")
def _extractive(settings: Settings, index: object) -> ExtractiveBackend:
    assert isinstance(index, ClauseIndex)
    return ExtractiveBackend(settings, index)
