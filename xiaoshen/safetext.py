"""Characters a reader cannot see, and names made safe to show.

A policy file or a file name can carry characters that change what a machine reads without changing
what a person sees: zero-width spaces that split a word ("I\u200bgnore"), bidirectional controls that
reorder a name on screen ("report\u202egpj.exe" shows as "reportexe.jpg"), Unicode tag characters that
smuggle a whole hidden sentence. Ingestion removes them from policy text (`ingest/normalise.py`); the
injection classifier reads past them (`xiaoshen/injection.py`); the CLI and the app show file names
through `display_name`.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width and other invisible format characters: ZW space/non-joiner/joiner, word joiner and the
# invisible operators, BOM / ZW no-break space, soft hyphen, Mongolian vowel separator, combining
# grapheme joiner, Hangul fillers, variation selectors (they can carry data, not just style).
ZERO_WIDTH = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200d\u2060-\u2064\u3164\ufeff\uffa0\ufe00-\ufe0f"
    "\U000e0100-\U000e01ef]"
)
# Bidirectional controls: LRM/RLM, embeddings and overrides, isolates (the "Trojan Source" set).
BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Unicode tag characters: invisible copies of ASCII, used to hide instructions in plain sight.
TAGS = re.compile("[\U000e0000-\U000e007f]")
# C0/C1 controls other than tab, newline, carriage return and form feed (which readers use for pages).
CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")

_UNSHOWABLE = re.compile(f"(?:{ZERO_WIDTH.pattern}|{BIDI.pattern}|{TAGS.pattern}|[\x00-\x1f\x7f-\x9f\u2028\u2029])+")
REPLACEMENT = "\ufffd"


def strip_invisible(text: str) -> str:
    """`text` without zero-width, bidi, tag and control characters (tab, newline, CR, form feed kept)."""
    if text.isascii():
        return CONTROLS.sub("", text)
    for pattern in (ZERO_WIDTH, BIDI, TAGS, CONTROLS):
        text = pattern.sub("", text)
    return text


def display_name(name: object) -> str:
    """A file name or path as it may be printed: every run of invisible, bidi or control characters
    becomes one U+FFFD, so the name shows in its stored order and a name that hid characters cannot
    pass for the one it imitates ("NCB-CRE-002\u200b.pdf" shows as "NCB-CRE-002\ufffd.pdf")."""
    return _UNSHOWABLE.sub(REPLACEMENT, str(name))


def safe_file_name(name: str) -> str:
    """An uploaded file's name to store it under: its last path part, NFC, with the characters
    `display_name` would mark replaced by "_" (a stored name must be showable as it is)."""
    base = re.split(r"[\\/]", name)[-1].strip() or "upload"
    return _UNSHOWABLE.sub("_", unicodedata.normalize("NFC", base)).lstrip(".") or "upload"
