"""Policy text as the clause splitter, the index and the reader should see it: no hidden characters,
compatibility forms folded, and a record of what was changed where.

Steps, in order (each named in the record when it changed something):
- `zero_width`: zero-width spaces and joiners, soft hyphens, BOMs, variation selectors — invisible, so
  removing them changes nothing a reader sees, while "I\u200bgnore" becomes the word it looks like;
- `bidi`: bidirectional controls, which reorder what is shown without changing what is stored;
- `tag_characters`: Unicode tags, an invisible copy of ASCII used to smuggle sentences;
- `control`: C0/C1 control characters other than tab, newline, CR and form feed;
- `nfkc`: Unicode NFKC, so full-width or mathematical letters ("ｉｇｎｏｒｅ", "𝐢𝐠𝐧𝐨𝐫𝐞"), ligatures,
  Kangxi radicals and compatibility ideographs become the characters they stand for.

NFKC is not applied to typography the policies rely on. It would turn full-width Chinese punctuation
(，：；（）！？) into ASCII, and then the clause splitter would no longer see `（一）` items (their family
and section ids such as `第十二条（一）` change, and with them clause ids), the sentence splitter would miss
`；`/`！`/`？` boundaries (its ASCII rule wants a space after the mark), quoted citations would stop reading
as the printed Chinese, and `90㎡`, `m²`, `①`, `……` would read as `90m2`, `m2`, `1`, `......`. Those
characters are kept as printed; the injection classifier applies full NFKC to its own copy of the text.
(Measured on the nine Chinese regulations in ../shared/corpora/zh and the Chinese mortgage policy: full
NFKC changes over a thousand lines and merges their 1,738 sentences into 1,527; this form changes 13
lines, all of them an EN SPACE turned into a space, and no clause id or sentence.)
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field

from xiaoshen.safetext import BIDI, CONTROLS, TAGS, ZERO_WIDTH

STEPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("zero_width", ZERO_WIDTH), ("bidi", BIDI), ("tag_characters", TAGS), ("control", CONTROLS))
NFKC_STEP = "nfkc"
# Kept out of NFKC (see the module docstring): ideographic space, full-width punctuation and symbols,
# half-width CJK punctuation, ellipses, super/subscripts, vulgar fractions and Roman numerals, circled
# and parenthesised numbers, enclosed CJK and CJK squared units (㎡, ㎏).
_TYPOGRAPHY = re.compile(
    "[\u00b2\u00b3\u00b9\u00bc-\u00be\u2025\u2026\u2070-\u209f\u2150-\u218f\u2460-\u24ff\u3000\u3200-\u33ff"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff64\uffe0-\uffee]+"
)


@dataclass(frozen=True)
class NormalisedText:
    """Normalised text, the steps that changed it, and the spans (start, end, steps) of changed lines
    in the normalised text."""

    text: str
    steps: list[str] = field(default_factory=list)
    spans: list[tuple[int, int, list[str]]] = field(default_factory=list)


def nfkc_keeping_typography(text: str) -> str:
    """NFKC of `text`, except for the typographic characters listed in `_TYPOGRAPHY`."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    out, pos = [], 0
    for match in _TYPOGRAPHY.finditer(text):
        out += [unicodedata.normalize("NFKC", text[pos:match.start()]), match.group()]
        pos = match.end()
    out.append(unicodedata.normalize("NFKC", text[pos:]))
    return "".join(out)


def normalise_line(line: str) -> tuple[str, list[str]]:
    """One line normalised, and the names of the steps that changed it."""
    if line.isascii() and not CONTROLS.search(line):
        return line, []
    changed: list[str] = []
    for name, pattern in STEPS:
        line, n = pattern.subn("", line)
        if n:
            changed.append(name)
    folded = nfkc_keeping_typography(line)
    if folded != line:
        changed.append(NFKC_STEP)
    return folded, changed


def normalise_text(text: str) -> NormalisedText:
    """Normalise line by line: no step removes or adds a newline, so line n stays line n."""
    lines, spans, steps, offset = [], [], set(), 0
    for raw in text.split("\n"):
        line, changed = normalise_line(raw)
        if changed:
            spans.append((offset, offset + len(line), changed))
            steps.update(changed)
        lines.append(line)
        offset += len(line) + 1
    order = [name for name, _ in STEPS] + [NFKC_STEP]
    return NormalisedText("\n".join(lines), [s for s in order if s in steps], spans)


def normalise_pages(text: str, page_starts: list[int]) -> tuple[NormalisedText, list[int]]:
    """`normalise_text`, with each page start (a line start, as the readers join pages) moved to where
    its line starts in the normalised text."""
    result = normalise_text(text)
    if not page_starts or not result.steps:
        return result, page_starts
    old_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    new_starts = [0] + [i + 1 for i, ch in enumerate(result.text) if ch == "\n"]
    return result, [new_starts[bisect.bisect_right(old_starts, s) - 1] for s in page_starts]


def normalise_identifier(value: str) -> str:
    """A doc id or version from metadata: hidden characters removed and full NFKC, so "NCB-CRE-0\u200b02"
    or "ＮＣＢ-CRE-002" cannot pose as a different document than the one it shows."""
    text, _ = normalise_line(value)
    return unicodedata.normalize("NFKC", text).strip()
