"""Instruction-like text: detection rate on the committed injection set and false positives on real policy.

    python bench/injection_bench.py          # prints the RESULTS.md lines
    python bench/injection_bench.py --json

The set (`tests/data/injection_set.jsonl`) holds injection strings in English and Chinese, plain and
obfuscated (zero-width, soft hyphens, bidi controls, tag characters, spaced letters, punctuation between
Chinese characters, full-width and mathematical letters, Cyrillic look-alikes, leetspeak), paraphrases in
three rounds, and policy sentences that use the same trigger words. Rounds 1 and 2 of paraphrases were
each measured before the rules were widened on them; round 3 (`heldout`) was never tuned on, and is the
honest estimate for phrasings nobody has seen. False positives are counted over every clause the splitter
makes of the sample policies and of the real regulations in ../shared/corpora (en and zh).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

if __package__ in {None, ""}:  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xiaoshen.injection import classify

ROOT = Path(__file__).resolve().parent.parent
SET_FILE = ROOT / "tests" / "data" / "injection_set.jsonl"
POLICY_ROOTS = [ROOT / "data" / "sample_policies", ROOT.parent / "shared" / "corpora" / "en",
                ROOT.parent / "shared" / "corpora" / "zh"]
GROUPS = {"plain": "plain", "policy": "policy sentences (negatives)", "paraphrase_r1": "paraphrases, round 1",
          "paraphrase_r2": "paraphrases, round 2", "heldout": "held-out paraphrases (never tuned on)"}


def load_set(path: Path = SET_FILE) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def detection(rows: list[dict]) -> dict[str, dict[str, list[int]]]:
    """(flagged, total) per group and language; every obfuscation variant counts as 'obfuscated'."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        group = row["variant"] if row["variant"] in GROUPS else "obfuscated"
        cell = counts[group][row["language"]]
        cell[0] += classify(row["text"]) is not None
        cell[1] += 1
    return counts


def false_positives(roots: list[Path] = POLICY_ROOTS) -> tuple[int, int, list[str]]:
    """Clauses flagged among all clauses of the given folders' policies: (flagged, clauses, examples)."""
    from ingest.clauses import split_clauses
    from ingest.readers import SUPPORTED_SUFFIXES, read_document

    flagged, total, examples = 0, 0, []
    for root in roots:
        for path in sorted(p for p in root.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES):
            for clause in split_clauses(read_document(path)):
                total += 1
                finding = classify(clause.text)
                if finding:
                    flagged += 1
                    examples.append(f"{path.name} {clause.section}: {finding.stored()}")
    return flagged, total, examples


def main(argv: list[str]) -> None:
    rows = load_set()
    counts = detection(rows)
    fp, clauses, examples = false_positives([r for r in POLICY_ROOTS if r.is_dir()])
    if "--json" in argv:
        print(json.dumps({"detection": counts, "false_positives": fp, "clauses": clauses, "examples": examples},
                         ensure_ascii=False))
        return
    print("| group | EN flagged | ZH flagged |\n|---|---|---|")
    for group in ["plain", "obfuscated", "paraphrase_r1", "paraphrase_r2", "heldout", "policy"]:
        cells = [counts[group].get(lang, [0, 0]) for lang in ("en", "zh")]
        print(f"| {GROUPS.get(group, 'obfuscated (zero-width, bidi, tags, spaced, homoglyph, leet)')} | "
              + " | ".join(f"{a}/{b}" for a, b in cells) + " |")
    print(f"\nFalse positives on real policy text: {fp} of {clauses} clauses "
          "(sample policies + ../shared/corpora en and zh).")
    for line in examples:
        print("  " + line)


if __name__ == "__main__":
    main(sys.argv[1:])
