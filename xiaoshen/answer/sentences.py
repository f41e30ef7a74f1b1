"""Sentence splitting and number extraction for English and Chinese policy text."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ; ! ? (followed by space and a capital, bracket or quote) or at 。；！？, or a line.
_EN_BOUNDARY = re.compile(r"(?<=[.;!?])\s+(?=[A-Z(\"“‘\[]|\d+\.\s)")
_ZH_BOUNDARY = re.compile(r"(?<=[。；！？])")
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|cf|No|Art|Sec|p|pp|v|vs)\.$", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# "(a)", "（一）", "(iv)", "1.", "1)", "- ", "•": a line that is one item of a list.
_LIST_ITEM = re.compile(r"^(?:[(（][0-9a-zA-Z一二三四五六七八九十ivxIVX]{1,4}[)）]|\d{1,2}[.)、]\s|[-•·]\s)")


@dataclass(frozen=True)
class QuotableUnit:
    """A sentence of a clause, or one list item with the sentence that introduces the list."""

    text: str  # the clause's own words, quoted exactly
    lead_in: str = ""

    @property
    def full_text(self) -> str:
        return f"{self.lead_in} {self.text}" if self.lead_in else self.text


def split_sentences(text: str) -> list[str]:
    """Sentences of a clause or an answer, keeping list items and table rows as their own units."""
    sentences: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("|"):
            sentences.append(line)
            continue
        pieces: list[str] = []
        for chunk in _ZH_BOUNDARY.split(line):
            for piece in _EN_BOUNDARY.split(chunk):
                if pieces and _ABBREVIATIONS.search(pieces[-1]):
                    pieces[-1] = f"{pieces[-1]} {piece}"
                else:
                    pieces.append(piece)
        sentences.extend(p.strip() for p in pieces if p.strip())
    return sentences


def numbers_in(text: str) -> set[str]:
    """Numbers as written, normalised (thousands separators dropped, trailing zeros of decimals kept off)."""
    found = set()
    for raw in _NUMBER.findall(text):
        value = raw.replace(",", "")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        found.add(value)
    return found


def quotable_units(text: str) -> list[QuotableUnit]:
    """The units an answer may quote from a clause: sentences, and list items carrying their lead-in
    ("… 贷款成数上限如下：" + "（二）二套住房：70%；"), since an item alone does not say what it limits.
    Lead-ins themselves and table rows (which lack their header) are left out."""
    units: list[QuotableUnit] = []
    lead_in = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("|"):
            continue
        sentences = split_sentences(line)
        item = bool(_LIST_ITEM.match(line))
        units.extend(QuotableUnit(sentence, lead_in if item else "") for sentence in sentences
                     if not sentence.endswith((":", "：")))
        if not item:
            last = sentences[-1] if sentences else ""
            lead_in = last if last.endswith((":", "：")) else ""
    return units
