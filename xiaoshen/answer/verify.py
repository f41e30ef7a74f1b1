"""Check every answer sentence against the clauses it cites, whatever backend wrote it.

A sentence is supported when its words are found in a cited clause (IDF-weighted coverage) or its
meaning is close to a sentence of that clause (embedding cosine), and every number it states appears
in a cited clause. Markers that point to no retrieved clause are removed and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from xiaoshen.answer.sentences import numbers_in, split_sentences
from xiaoshen.index import ClauseIndex, clause_sentences
from xiaoshen.settings import AnswerSettings
from xiaoshen.types import AnswerSentence, Hit

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,，、]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^((?:\s*\[\d+(?:\s*[,，、]\s*\d+)*\])+)")


@dataclass
class Verification:
    sentences: list[AnswerSentence]
    text: str  # the answer with invalid markers removed
    removed_markers: int
    quotes: dict[int, str]  # marker -> best-supporting span of that clause

    @property
    def groundedness(self) -> float:
        policy = [s for s in self.sentences if not s.reasoning]
        return sum(s.supported for s in policy) / len(policy) if policy else 0.0


def parse_markers(text: str, valid: range) -> tuple[str, list[int], int]:
    """(text without markers, valid marker numbers in order, count of invalid markers removed)."""
    found: list[int] = []
    removed = 0
    for match in _MARKER.finditer(text):
        for number in re.split(r"\s*[,，、]\s*", match.group(1)):
            n = int(number)
            if n in valid:
                if n not in found:
                    found.append(n)
            else:
                removed += 1
    return _MARKER.sub("", text).strip(), found, removed


def verify(text: str, context: list[Hit], index: ClauseIndex, settings: AnswerSettings) -> Verification:
    """Split `text` into sentences, check each against the clauses it cites, and rebuild clean text."""
    valid = range(1, len(context) + 1)
    sentences: list[AnswerSentence] = []
    rebuilt: list[str] = []
    removed = 0
    quotes: dict[int, str] = {}
    keyword = index.keyword_index()
    for raw in _answer_units(text):
        plain, markers, bad = parse_markers(raw, valid)
        removed += bad
        if not plain:
            continue
        sentence = AnswerSentence(text=plain, citations=markers, supported=False)
        if not markers:
            sentence.issues.append("no citation")
        else:
            best_support, best_quote, best_marker = 0.0, "", markers[0]
            cited_numbers: set[str] = set()
            for n in markers:
                clause_text = context[n - 1].clause.text
                cited_numbers |= numbers_in(clause_text)
                support, quote = _support(plain, clause_text, index, keyword, settings)
                if support > best_support:
                    best_support, best_quote, best_marker = support, quote, n
            sentence.support = round(best_support, 3)
            missing = sorted(numbers_in(plain) - cited_numbers)
            if missing:
                sentence.issues.append("numbers not in the cited clause: " + ", ".join(missing))
            if best_support < 1.0:
                sentence.issues.append("the cited clause does not say this")
            sentence.supported = not sentence.issues
            if best_quote:
                quotes.setdefault(best_marker, best_quote)
        sentences.append(sentence)
        rebuilt.append(plain + "".join(f" [{n}]" for n in markers))
    return Verification(sentences, " ".join(rebuilt), removed, quotes)


def _answer_units(text: str) -> list[str]:
    """Answer sentences with their trailing markers attached ("… 75%. [1]" stays one unit)."""
    units: list[str] = []
    for sentence in split_sentences(text):
        leading = _LEADING_MARKERS.match(sentence)
        if units and leading:
            # "… 75%. [1] Next sentence": the split put [1] in front of the next sentence.
            units[-1] += " " + leading.group(1).strip()
            sentence = sentence[leading.end():].strip()
        if sentence:
            units.append(sentence)
    return units


def _support(sentence: str, clause_text: str, index: ClauseIndex, keyword, settings: AnswerSettings,  # type: ignore[no-untyped-def]
             allow_verbatim: bool = True) -> tuple[float, str]:
    """Support in [0, 1+] (≥ 1 means supported) and the clause sentence that supports it best."""
    if allow_verbatim and _normalise(sentence) in _normalise(clause_text):
        return 2.0, sentence  # verbatim quotation
    tokens = set(keyword.plain_tokens(sentence))
    sentences = clause_sentences(clause_text)  # as ingest tokenised them
    clause_tokens = set(keyword.plain_tokens(clause_text))
    total = sum(keyword.idf(t) for t in tokens) or 1.0
    lexical = sum(keyword.idf(t) for t in tokens & clause_tokens) / total
    vectors = index.text_vectors([sentence, *sentences])
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    cosines = vectors[1:] @ vectors[0]
    best = int(np.argmax(cosines))
    semantic = float(cosines[best])
    # Either test alone can pass; each is scaled so that its calibrated threshold maps to 1.0.
    support = max(lexical / settings.support_lexical, semantic / settings.support_semantic if semantic > 0 else 0)
    if lexical < 0.3:  # meaning alone is not enough when almost none of the words are there
        support = min(support, lexical / settings.support_lexical)
    return support, sentences[best]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()
