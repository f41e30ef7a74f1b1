"""Language detection and keyword tokenisation shared by ingestion, the keyword index and queries."""

from __future__ import annotations

import logging
import re
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
