"""Which kind of lending a question asks about, and whether the policies ever mention it.

An off-topic question ("maximum LTV for a yacht loan?") still finds clauses about its other words (LTV),
and those clauses can look like an answer. What gives it away is the word naming the product or the
borrower ("yacht" in "yacht loan", "太空旅游" in "太空旅游公司贷款") appearing in no clause at all. That
word is named in the decline ("The policies in the index do not mention “yacht”"), which tells the officer
what to look for elsewhere, instead of quoting a clause about something else.

Only words in that position count. Officers' questions are full of words no policy uses ("delivery
truck", "the boss", "knocked off its value") that the clauses still answer: on the dev questions a plain
"some content word is unknown" rule fired on 33 of 71 answerable ones, and neither general word
frequency nor the embedding of the single word told those apart from "yacht" or "aircraft" (measured
2026-12-01). A word modifying the credit product or the borrower type is what the question is *about*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from xiaoshen.index import KeywordIndex
from xiaoshen.query import conversational
from xiaoshen.text import chinese_words, keyword_tokens, listed_tokens

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_PIECE = re.compile(r"[A-Za-z][A-Za-z'’]*|[\u3400-\u4dbf\u4e00-\u9fff]+|\d[\d,.]*%?|[^\sA-Za-z\d\u3400-\u4dbf\u4e00-\u9fff]")
# Nouns that name a credit product or a kind of borrower: the word before them says which one.
_EN_HEADS = frozenset(keyword_tokens(
    "loan loans lending financing finance mortgage mortgages facility facilities credit borrower borrowers "
    "company companies business businesses industry sector firm firms project projects", bigrams=False))
_ZH_HEADS = ("贷款", "融资", "授信", "借款", "按揭", "公司", "企业", "行业", "项目", "产业")
_LINKS = frozenset({"-", "‐", "–"})  # "space-tourism companies"


_MODIFIERS = (
    "his her hers their its this that these those such any some each every other another new existing current "
    "same own many much more most less few typical usual standard normal small big large long short high low "
    "longest largest biggest highest lowest shortest smallest best worst first last next",
    "本行 我行 贵行 该 此类 这类 哪类 哪种 什么 这种 那种 这家 那家 这笔 那笔 一笔 新 老")


@cache
def _modifiers(chinese: bool) -> frozenset[str]:
    """Words that modify a product without naming one ("his facility", "the longest mortgage", "这家企业"),
    with the Chinese ones only for a Chinese word (see `listed_tokens`)."""
    return listed_tokens(*_MODIFIERS, chinese) | conversational(chinese)


@dataclass(frozen=True)
class Word:
    surface: str
    tokens: tuple[str, ...]
    chinese: bool


def _words(question: str) -> list[Word]:
    out: list[Word] = []
    for match in _PIECE.finditer(question):
        piece = match.group(0)
        if _CJK.match(piece):
            out.extend(Word(w, tuple(keyword_tokens(w, bigrams=False)), True) for w in chinese_words(piece))
        else:
            out.append(Word(piece, tuple(keyword_tokens(piece, bigrams=False)), False))
    return out


def _mentioned(word: Word, keyword: KeywordIndex) -> bool:
    # All-capital short words too: currency codes and acronyms ("a EUR loan") are too often spelled out.
    if any(t in _modifiers(word.chinese) for t in word.tokens) or (word.surface.isupper() and len(word.surface) <= 4):
        return True  # not a concept at all; never named as a missing one
    if word.chinese:
        # jieba segments a word differently in a question and inside a clause (应收账款 is one word in one
        # and two in the other), so a Chinese word is mentioned when all its character bigrams are: the
        # keyword index keeps them for exactly this reason.
        grams = [word.surface[i:i + 2] for i in range(len(word.surface) - 1)] or [word.surface]
        return all(keyword.in_vocabulary(g) for g in grams)
    return not word.tokens or any(keyword.known(t) for t in word.tokens)


def _is_head(word: Word) -> bool:
    if word.chinese:
        return word.surface.startswith(_ZH_HEADS)
    return bool(word.tokens) and word.tokens[0] in _EN_HEADS


def missing_concepts(question: str, keyword: KeywordIndex) -> list[str]:
    """The words naming the product or borrower a question asks about that no clause in the index
    mentions, as the question writes them (adjacent words joined: "space tourism")."""
    words = [w for w in _words(question) if w.surface.strip()]
    missing: list[str] = []
    run: list[Word] = []
    for word in words:
        if word.surface in _LINKS:
            continue
        if _is_head(word) and run:
            phrase = ("" if run[0].chinese else " ").join(w.surface for w in run)
            if phrase not in missing:
                missing.append(phrase)
        if word.tokens and not word.surface[:1].isdigit() and not _mentioned(word, keyword) and not _is_head(word):
            run.append(word)
        else:
            run = []
    return missing
