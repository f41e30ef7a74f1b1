"""Sentence splitting and number extraction for English and Chinese policy text."""

from __future__ import annotations

import re

# A sentence ends at . ; ! ? (followed by space and a capital, bracket or quote) or at 。；！？, or a line.
_EN_BOUNDARY = re.compile(r"(?<=[.;!?])\s+(?=[A-Z(\"“‘\[]|\d+\.\s)")
_ZH_BOUNDARY = re.compile(r"(?<=[。；！？])")
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|cf|No|Art|Sec|p|pp|v|vs)\.$", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


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
