"""Disagreeing policies: when two current documents give different figures for what the question asks,
the answer says so and cites both, whatever the backend chose to quote."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xiaoshen.answer.sentences import split_sentences
from xiaoshen.index import KeywordIndex
from xiaoshen.query import Query
from xiaoshen.text import keyword_tokens
from xiaoshen.types import Hit, Language

_FIGURE = re.compile(r"(\d+(?:\.\d+)?)\s*(%|x\b|倍|years?\b|months?\b|年|个月)")
_UNIT = {"year": "years", "years": "years", "年": "years", "month": "months", "months": "months", "个月": "months"}


def _figures_of(sentence: str) -> dict[str, str]:
    """The first figure per unit in a sentence, e.g. {'%': '75%', 'years': '25 years'}."""
    figures: dict[str, str] = {}
    for value, unit in _FIGURE.findall(sentence):
        unit = _UNIT.get(unit, unit)
        figures.setdefault(unit, f"{value}{'' if unit in {'%', 'x', '倍'} else ' '}{unit}")
    return figures


def _similarity(a: str, b: str) -> float:
    """Jaccard overlap of the words (numbers aside) of two sentences."""
    words_a = {t for t in keyword_tokens(a, bigrams=False) if not t[0].isdigit()}
    words_b = {t for t in keyword_tokens(b, bigrams=False) if not t[0].isdigit()}
    return len(words_a & words_b) / max(1, len(words_a | words_b))


@dataclass
class Conflict:
    unit: str
    statements: list[tuple[int, str, str]]  # (marker, figure, sentence)

    def note(self, context: list[Hit], language: Language) -> str:
        parts = [f"{context[n - 1].clause.label} [{n}]: {figure}" for n, figure, _ in self.statements]
        if language == "zh":
            return "提示：现行制度对此规定的数值不一致（" + "；".join(parts) + "），请核实适用哪一项。"
        return "Note: current policies state different figures for this (" + "; ".join(parts) + \
            "); check which one applies."


def find_conflicts(query: Query, context: list[Hit], keyword: KeywordIndex, top: int = 3) -> list[Conflict]:
    """Compare the best-matching sentence of the top clause of each current document among the first
    `top` hits; figures of the same unit that differ between documents are a conflict."""
    q_tokens = set(query.plain)
    weight = sum(query.weights.values()) or 1.0
    best: dict[str, tuple[int, str]] = {}
    for n, hit in enumerate(context[:top], start=1):
        clause = hit.clause
        if clause.status != "current" or clause.doc_id in best:
            continue
        scored = [(sum(query.weights[t] for t in q_tokens & set(keyword.plain_tokens(s))) / weight, s)
                  for s in split_sentences(clause.text)]
        coverage, sentence = max(scored, default=(0.0, ""))
        if coverage >= 0.5:
            best[clause.doc_id] = (n, sentence)
    statements = [(n, sentence, _figures_of(sentence)) for n, sentence in best.values()]
    conflicts = []
    for i, (n_a, s_a, f_a) in enumerate(statements):
        for n_b, s_b, f_b in statements[i + 1:]:
            # Two sentences disagree only if they speak of the same thing in the same unit.
            if _similarity(s_a, s_b) < 0.4:
                continue
            for unit in f_a.keys() & f_b.keys():
                if f_a[unit] != f_b[unit]:
                    conflicts.append(Conflict(unit, [(n_a, f_a[unit], s_a), (n_b, f_b[unit], s_b)]))
    return conflicts
