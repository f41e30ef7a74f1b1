"""Language detection and keyword tokenisation shared by ingestion, the keyword index and queries."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import cache, lru_cache
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


def has_chinese(text: str) -> bool:
    """Whether `text` holds any Chinese character (and so needs jieba to tokenise)."""
    return _CJK.search(text) is not None


@cache
def listed_tokens(english: str, chinese: str, with_chinese: bool) -> frozenset[str]:
    """Keyword tokens (no bigrams) of a fixed word list in two halves, the Chinese half only when
    `with_chinese`: segmenting it loads jieba's dictionary (0.7 s), which a text without Chinese never
    needs and whose tokens it cannot contain. Tokenised once, on first use."""
    return frozenset(keyword_tokens(f"{english} {chinese}" if with_chinese else english, bigrams=False))


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


def chinese_words(text: str) -> list[str]:
    """jieba's segmentation of `text` into words (no search sub-words), blanks dropped."""
    return [w for w in _jieba().cut(text) if w.strip()]


def keyword_tokens(text: str, *, bigrams: bool = True) -> list[str]:
    """Tokens for BM25: stemmed lower-case English words, numbers, and jieba-segmented Chinese words.

    Chinese runs also contribute character bigrams, so a query phrased with different segmentation
    ("贷款成数" vs "贷款 成数") still matches.
    """
    with_bigrams, without = keyword_token_pair(text, bigrams=bigrams)
    return with_bigrams if bigrams else without


def keyword_token_pair(text: str, *, bigrams: bool = True) -> tuple[list[str], list[str]]:
    """`keyword_tokens(text)` and `keyword_tokens(text, bigrams=False)` from one jieba pass (the keyword
    index needs both for every clause it derives statistics for)."""
    tokens: list[str] = []
    plain: list[str] = []
    english: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if _CJK.match(token):
            words = [w for w in _jieba().cut_for_search(token) if w.strip() and w not in _ZH_STOPWORDS]
            plain.extend(words)
            if bigrams:
                tokens.extend(words)
                tokens.extend(token[i : i + 2] for i in range(len(token) - 1))
        elif token[0].isdigit():
            plain.append(token.replace(",", ""))
            if bigrams:
                tokens.append(plain[-1])
        else:
            word = token.lower()
            if word not in _EN_STOPWORDS:
                english.append(word)
    if english:
        stems = _stemmer().stemWords(english)
        plain.extend(stems)
        if bigrams:
            tokens.extend(stems)
    return (tokens if bigrams else plain), plain


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def literal_markdown(text: str) -> str:
    """Escape text for a Markdown renderer so a policy's own Markdown or HTML can never change the page."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text).replace("\n", "  \n")


# "debt service coverage ratio (DSCR)", "loan-to-value (LTV)": an English term defined with its acronym.
# Questions use either form ("what DSCR…", "what debt service coverage ratio…"), so both retrieval and
# coverage treat the two as one word. The scan is anchored on the bracket and walks back over at most
# _LONG_FORM_WORDS words: one nested-quantifier regex tried at every position took minutes on a corpus.
_ACRONYM_BRACKET = re.compile(r"[(（]\s*[\"“]?([A-Z][A-Za-z]{1,7})[\"”]?\s*[)）]")
_LONG_FORM_WORDS = 8
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_WORD_CHARS = _LETTERS | {"'", "’"}
_OPENING_QUOTES = frozenset('"“')
_CLOSING_QUOTES = frozenset('"”')
_ACRONYM_FILLERS = frozenset({"of", "and", "the", "to", "for", "in", "on", "a", "an", "&"})


def _long_form_start(text: str, end: int) -> int:
    """Where the words before a bracket at `end` begin: each word is ASCII letters (apostrophes inside),
    optionally quoted, followed by spaces or hyphens; at most _LONG_FORM_WORDS of them; `end` if none."""
    start = end
    for _ in range(_LONG_FORM_WORDS):
        j = start - 1
        while j >= 0 and (text[j].isspace() or text[j] == "-"):
            j -= 1
        if j == start - 1 or j < 0:
            break  # a word must be followed by a separator
        if text[j] in _CLOSING_QUOTES and j > 0 and text[j - 1] in _WORD_CHARS:
            j -= 1
        k = j
        while k >= 0 and text[k] in _WORD_CHARS:
            k -= 1
        first = k + 1
        while first <= j and text[first] not in _LETTERS:
            first += 1  # a word starts with a letter; a leading apostrophe ends the walk on the next step
        if first > j:
            break
        start = k if first == k + 1 and k >= 0 and text[k] in _OPENING_QUOTES else first
    return start


def acronym_definitions(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each "long form (ACRONYM)" in `text` whose words' initials spell the acronym, in order, as
    (acronym token, long-form keyword tokens)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for match in _ACRONYM_BRACKET.finditer(text):
        start = _long_form_start(text, match.start())
        if start == match.start():
            continue
        acronym = match.group(1)
        if len(acronym) > 2 and acronym.endswith("s") and acronym[-2].isupper():
            acronym = acronym[:-1]  # "DSCRs"
        letters = acronym.upper()
        words = [w.strip('"“”') for w in re.split(r"[\s-]+", text[start:match.start()].strip())]
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
            found.append((short[0], long_tokens))
    return found


def defined_acronyms(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Acronym token -> the keyword tokens of its long form, for every "long form (ACRONYM)" in `texts`
    whose words' initials spell the acronym (the first definition wins)."""
    found: dict[str, tuple[str, ...]] = {}
    for text in texts:
        for short, long_tokens in acronym_definitions(text):
            found.setdefault(short, long_tokens)
    return found


# Defined terms: "本法所称关系人是指……", "“Dwelling” means …", "(e) Applicant means …", "For purposes of
# this section, the term standard mortgage means …". A question often uses the words of the definition
# ("a director's relatives") where the rules use the term (关系人), so retrieval adds the term. Both scans
# are anchored on a literal ("所称", "means") and look only a bounded window either side: linear in the text.
_ZH_DEFINED = re.compile(r"所称(?:的)?[“\"「]?([^，,。；;：:“”\"」\s]{2,20}?)[”\"」]?[，,]?\s*(?:是指|系指|包括)[:：]?\s*")
_EN_MEANS = re.compile(r"\bmeans\b[:,]?\s+")
# The term just before "means": quoted, or a capitalised phrase opening a line, list item or sentence.
_EN_QUOTED_TERM = re.compile(r"[“\"‘']([A-Za-z][A-Za-z -]{1,58}[A-Za-z])[”\"’'],?\s*$")
_EN_BARE_TERM = re.compile(r"(?:(?:^|\n|\(\w{1,4}\)\s*|[.;:]\s+|,\s+)(?!The term )([A-Z][A-Za-z-]*(?: [a-z][A-Za-z-]*){0,4})"
                           r"|\b[Tt]he term\s+([a-z][A-Za-z-]*(?: [a-z][A-Za-z-]*){0,4}))\s*$")
_NOT_A_TERM = frozenset({"is", "are", "was", "be", "the", "term", "this", "that", "which", "it", "by", "no", "other",
                         "any"})
_DEFINITION_END = re.compile(r"[。；;]|\.(?:\s|$)|\n\s*\n")
_DEFINITION_CHARS = 400
_DEFINITION_TOKENS = 60


def term_definitions(text: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each term `text` defines ("所称X是指…", "X means …"), as (term keyword tokens, the definition's
    keyword tokens other than the term's, at most _DEFINITION_TOKENS in order)."""
    found: list[tuple[str, str]] = []
    for match in _ZH_DEFINED.finditer(text):
        found.append((match.group(1), _definition(text, match.end(), zh=True)))
    for match in _EN_MEANS.finditer(text):
        before = text[max(0, match.start() - 80):match.start()]
        quoted = _EN_QUOTED_TERM.search(before)
        bare = None if quoted else _EN_BARE_TERM.search(before)
        term = quoted.group(1) if quoted else bare and (bare.group(1) or bare.group(2))
        if term and not (_NOT_A_TERM & set(term.lower().split())):
            found.append((term, _definition(text, match.end(), zh=False)))
    out: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for term, definition in found:
        term_tokens = tuple(dict.fromkeys(keyword_tokens(term, bigrams=False)))
        words = [t for t in dict.fromkeys(keyword_tokens(definition, bigrams=False)) if t not in term_tokens]
        if term_tokens and len(words) >= 2:
            out.append((term_tokens, tuple(words[:_DEFINITION_TOKENS])))
    return out


def _definition(text: str, start: int, *, zh: bool) -> str:
    """The definition from `start` to its sentence end; a Chinese one may run over a list ("是指：（一）…；（二）…。")."""
    window = text[start:start + _DEFINITION_CHARS]
    if zh and window.lstrip()[:1] in {"(", "（"}:
        end = window.find("。")
        return window if end < 0 else window[:end]
    end = _DEFINITION_END.search(window)
    return window if end is None else window[:end.start()]


def with_acronyms(tokens: set[str], acronyms: dict[str, tuple[str, ...]]) -> set[str]:
    """`tokens` plus each acronym whose long form is there and each long form whose acronym is there."""
    out = set(tokens)
    for short, long_tokens in acronyms.items():
        if short in tokens:
            out.update(long_tokens)
        elif all(t in tokens for t in long_tokens):
            out.add(short)
    return out
