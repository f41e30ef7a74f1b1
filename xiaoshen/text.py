"""Language detection and keyword tokenisation shared by ingestion, the keyword index and queries."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
# Words, numbers with their decimals/percent, and CJK runs (segmented by jieba afterwards).
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[A-Za-z]+(?:['’][a-z]+)?|\d+(?:[.,]\d+)*%?")

_EN_STOPWORDS = frozenset(
    """a an and are as at be by can do does for from has have how i if in is it its may must of on or
    our shall should that the their them then there these this those to under was we what when where which
    who whom will with would you your""".split()
)
_ZH_STOPWORDS = frozenset("的 了 和 与 或 及 是 在 对 由 为 按 应 应当 可以 哪些 什么 多少 怎么 如何 吗 呢 其 该 等".split())


def detect_language(text: str) -> Literal["en", "zh"]:
    """'zh' when Chinese characters make up a real share of the letters, else 'en'."""
    cjk = len(_CJK.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text))
    # One Chinese character carries about as much as a 3-4 letter English word.
    return "zh" if cjk * 3 >= latin and cjk > 0 else "en"


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def keyword_tokens(text: str, *, bigrams: bool = True) -> list[str]:
    """Tokens for BM25: stemmed lower-case English words, numbers, and jieba-segmented Chinese words.

    Chinese runs also contribute character bigrams, so a query phrased with different segmentation
    ("贷款成数" vs "贷款 成数") still matches.
    """
    tokens: list[str] = []
    english: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if _CJK.match(token):
            words = [w for w in _jieba().cut_for_search(token) if w.strip() and w not in _ZH_STOPWORDS]
            tokens.extend(words)
            if bigrams:
                tokens.extend(token[i : i + 2] for i in range(len(token) - 1))
        elif token[0].isdigit():
            tokens.append(token.replace(",", ""))
        else:
            word = token.lower()
            if word not in _EN_STOPWORDS:
                english.append(word)
    if english:
        tokens.extend(_stemmer().stemWords(english))
    return tokens


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def literal_markdown(text: str) -> str:
    """Escape text for a Markdown renderer so a policy's own Markdown or HTML can never change the page."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text).replace("\n", "  \n")


# "debt service coverage ratio (DSCR)", "loan-to-value (LTV)": an English term defined with its acronym. Questions use either form ("what DSCR…", "what debt service coverage ratio…"), so both
# retrieval and coverage treat the two as one word.
_DEFINED_ACRONYM = re.compile(
    r"((?:[\"“]?[A-Za-z][A-Za-z'’]*[\"”]?[\s-]+){1,8})[(（]\s*[\"“]?([A-Z][A-Za-z]{1,7})[\"”]?\s*[)）]")
_ACRONYM_FILLERS = frozenset({"of", "and", "the", "to", "for", "in", "on", "a", "an", "&"})


def defined_acronyms(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Acronym token -> the keyword tokens of its long form, for every "long form (ACRONYM)" in `texts`
    whose words' initials spell the acronym."""
    found: dict[str, tuple[str, ...]] = {}
    for text in texts:
        for match in _DEFINED_ACRONYM.finditer(text):
            acronym = match.group(2)
            if len(acronym) > 2 and acronym.endswith("s") and acronym[-2].isupper():
                acronym = acronym[:-1]  # "DSCRs"
            letters = acronym.upper()
            words = [w.strip('"“”') for w in re.split(r"[\s-]+", match.group(1).strip())]
            # Walk back from the bracket until the initials spell the acronym (fillers may be skipped).
            picked: list[str] = []
            skipped = 0
            for word in reversed(words):
                if len(picked) == len(letters) or not word:
                    break
                if word[0].upper() == letters[len(letters) - 1 - len(picked)]:
                    picked.append(word)
                elif not picked and skipped == 0:
                    skipped = 1  # "loan-to-value ratio (LTV)": one trailing word outside the acronym
                elif word.lower() not in _ACRONYM_FILLERS:
                    picked = []
                    break
            if len(picked) != len(letters):
                continue
            long_tokens = tuple(keyword_tokens(" ".join(reversed(picked)), bigrams=False))
            short = keyword_tokens(acronym, bigrams=False)
            if len(short) == 1 and long_tokens and short[0] not in long_tokens:
                found.setdefault(short[0], long_tokens)
    return found


def with_acronyms(tokens: set[str], acronyms: dict[str, tuple[str, ...]]) -> set[str]:
    """`tokens` plus each acronym whose long form is there and each long form whose acronym is there."""
    out = set(tokens)
    for short, long_tokens in acronyms.items():
        if short in tokens:
            out.update(long_tokens)
        elif all(t in tokens for t in long_tokens):
            out.add(short)
    return out
