"""A question as every stage needs it, worked out once.

Retrieval, rerank, the evidence bar, the draft and the conflict check each used to re-tokenise the
question (jieba included) and look up its embedding; they now take one `Query`, built when the question
arrives: its language, its keyword tokens with and without Chinese bigrams, the acronyms and long forms
the policies define and the defined terms it describes, the IDF weight of each content word, the
versions it names, and its vector.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from xiaoshen.text import (
    detect_language,
    has_chinese,
    keyword_token_pair,
    keyword_tokens,
    listed_tokens,
    with_acronyms,
)
from xiaoshen.types import Language

if TYPE_CHECKING:
    from xiaoshen.index import KeywordIndex


_ASKER_WORDS = (
    "client clients customer customers my our us we want wants much many get go deal put can could would did "
    "does okay still need needs actually really someone anyone",
    "客户 我们 能不能 可以 需要 多少 什么 怎么 一下 这个 这笔 这家 他 她 它")


def conversational(chinese: bool = True) -> frozenset[str]:
    """Words of the asker, not of the subject: they should not count as "not covered" (the Chinese ones
    only when `chinese`, see `listed_tokens`)."""
    return listed_tokens(*_ASKER_WORDS, chinese)


_VERSION_NUMBER = re.compile(
    r"\b(?:v|ver\.?|version|rev\.?|revision)\s*(\d+(?:\.\d+)*)\b|(\d+(?:\.\d+)*)\s*版|版本\s*(\d+(?:\.\d+)*)", re.I)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
# A year names a version only with words like these ("the 2023 version", "2023年版"), not in "loans booked
# in 2023" or "an appraisal from 2023, now 14 months old".
_VERSION_WORDS = re.compile(r"\b(?:version|edition|revision|superseded|previous|former)\b|版", re.I)


def version_key(version: str) -> tuple[int, ...]:
    """'2' and '2.0' name the same version."""
    parts = [int(p) for p in re.findall(r"\d+", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def asked_versions(question: str) -> tuple[set[tuple[int, ...]], set[int]]:
    """The version numbers and the effective years a question names as the version it asks about."""
    numbers = {version_key(next(g for g in m.groups() if g)) for m in _VERSION_NUMBER.finditer(question)}
    years = {int(y) for y in _YEAR.findall(question)} if _VERSION_WORDS.search(question) else set()
    return numbers, years


# A definition shares a word or two with most questions by chance ("银行", "loan"); its term is implied
# only when the shared words carry a good part of the question's weight (measured on the dev questions).
TERM_MIN_SHARED = 2
TERM_MIN_SHARE = 0.35  # of the question's weight
TERM_MIN_COVER = 0.15  # of the definition's weight: a long definition shares words with anything
TERMS_PER_QUERY = 2


def implied_terms(content: set[str], weights: dict[str, float], keyword: KeywordIndex) -> list[tuple[str, ...]]:
    """The defined terms whose definition the question describes without naming the term ("a director's
    close relatives" for 关系人), best first."""
    total = sum(weights.get(t, 0.0) for t in content)
    if total <= 0:
        return []
    candidates = {term for word in content for term in keyword.terms_by_word.get(word, ())}
    scored: list[tuple[float, tuple[str, ...]]] = []
    for term in candidates:
        if set(term) & content:
            continue  # the question names the term, or part of it ("construction … lending")
        best = 0.0
        for definition in keyword.terms[term]:
            shared = content & definition
            if len(shared) < TERM_MIN_SHARED:
                continue
            weight = sum(weights.get(t, 0.0) for t in shared)
            described = sum(keyword.idf(t) for t in definition)
            if described > 0 and weight / described >= TERM_MIN_COVER:
                best = max(best, weight / total)
        if best >= TERM_MIN_SHARE:
            scored.append((best, term))
    return [term for _, term in sorted(scored, reverse=True)[:TERMS_PER_QUERY]]


def question_tokens(question: str) -> set[str]:
    """The question's content words (stems, jieba words), without the asker's conversational words."""
    return set(keyword_tokens(question, bigrams=False)) - conversational(has_chinese(question))


@dataclass
class Query:
    """One question, tokenised and weighed against the corpus once; its vector on first use."""

    text: str
    language: Language
    bm25_tokens: tuple[str, ...]  # with Chinese bigrams, then the acronyms, long forms and defined terms it implies
    plain: tuple[str, ...]  # keyword tokens without bigrams, in order
    words: frozenset[str]  # `plain` with the defined acronyms and long forms (KeywordIndex.words)
    content: frozenset[str]  # `plain` without the asker's conversational words
    weights: dict[str, float]  # IDF of each plain token
    versions: tuple[set[tuple[int, ...]], set[int]]
    terms: tuple[tuple[str, ...], ...] = ()  # defined terms the question describes without naming them
    embed: Callable[[str], Sequence[float]] | None = field(default=None, repr=False, compare=False)
    _vector: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, text: str, keyword: KeywordIndex,
              embed: Callable[[str], Sequence[float]] | None = None) -> Query:
        """The query for `text` against `keyword`'s corpus; `embed` gives its vector when first asked."""
        text = text.strip()
        full, plain = keyword_token_pair(text)
        expanded = with_acronyms(set(full), keyword.acronyms)
        content = set(plain) - conversational(has_chinese(text))
        weights = {t: keyword.idf(t) for t in plain}
        terms = implied_terms(content, weights, keyword)
        expanded.update(t for term in terms for t in term)
        return cls(
            text=text,
            language=detect_language(text),
            bm25_tokens=(*full, *sorted(expanded - set(full))),
            plain=tuple(plain),
            words=frozenset(with_acronyms(set(plain), keyword.acronyms)),
            content=frozenset(content),
            weights=weights,
            terms=tuple(terms),
            versions=asked_versions(text),
            embed=embed,
        )

    @property
    def content_weights(self) -> dict[str, float]:
        """IDF weights of the content words (what coverage is measured against)."""
        return {t: w for t, w in self.weights.items() if t in self.content}

    @property
    def vector(self) -> np.ndarray:
        if self._vector is None:
            if self.embed is None:
                raise ValueError("this Query was built without an embedding model")
            self._vector = np.asarray(self.embed(self.text), dtype=np.float32)
        return self._vector
