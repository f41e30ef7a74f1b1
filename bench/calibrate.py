"""Calibrate the answer thresholds on the dev questions and print the figures for bench/RESULTS.md.

    .venv/bin/python bench/calibrate.py [INDEX_DIR]

1. Evidence bar: fits the logistic model over the retrieval features (xiaoshen/answer/evidence.py) on
   answerable vs unanswerable dev questions, and shows abstention / false-abstention per threshold.
2. Sentence support: for each gold snippet, its support against its own clause (should pass) and
   against the best-ranked clause that is not gold (should fail), at the configured thresholds.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import xiaoshen  # noqa: E402,F401
from ingest.pipeline import ingest  # noqa: E402
from xiaoshen.answer.evidence import evidence_features  # noqa: E402
from xiaoshen.answer.verify import _support  # noqa: E402
from xiaoshen.evaluate import load_questions, matches_gold  # noqa: E402
from xiaoshen.index import ClauseIndex  # noqa: E402
from xiaoshen.retrieve import search  # noqa: E402
from xiaoshen.settings import load_settings  # noqa: E402

DEV = ROOT / "data" / "dev_questions.jsonl"


def calibrate(index: ClauseIndex) -> list[str]:
    settings = index.settings
    keyword = index.keyword_index()
    questions = load_questions(DEV)
    features, labels, support_pos, support_neg = [], [], [], []
    for q in questions:
        hits = search(q.question, index=index, settings=settings, k=settings.answer.retrieve_k)
        features.append(evidence_features(q.question, hits, keyword))
        labels.append(1 if q.answerable else 0)
        for gold in q.gold:
            own = next((c for c in index.clauses({"doc_id": gold.doc_id}) if matches_gold(c, gold)), None)
            other = next((h.clause for h in hits if not any(matches_gold(h.clause, g) for g in q.gold)), None)
            if own is not None and gold.snippet:
                support_pos.append(_support(gold.snippet, own.text, index, keyword, settings.answer,
                                                allow_verbatim=False)[0])
            if other is not None and gold.snippet:
                support_neg.append(_support(gold.snippet, other.text, index, keyword, settings.answer,
                                                allow_verbatim=False)[0])
    x, y = np.asarray(features), np.asarray(labels)
    mean, std = x.mean(0), x.std(0)
    xs = np.c_[(x - mean) / std, np.ones(len(x))]
    w = np.zeros(xs.shape[1])
    class_weight = np.where(y == 1, 1.0, (y == 1).sum() / max(1, (y == 0).sum()))
    for _ in range(5000):
        p = 1 / (1 + np.exp(-xs @ w))
        w -= 0.1 * (xs.T @ ((p - y) * class_weight)) / len(y) + 0.001 * w
    p = 1 / (1 + np.exp(-xs @ w))
    lines = ["## Evidence bar (abstention) calibration on the dev questions", "",
             f"{int(y.sum())} answerable, {int((1 - y).sum())} unanswerable. Features: best dense cosine (top 5), "
             "IDF-weighted question coverage by the top 3 and the top 1 clause, share of question weight in words "
             "the corpus never uses.", "",
             f"Fitted weights {np.round(w[:-1], 2).tolist()}, bias {w[-1]:.2f}, feature means "
             f"{np.round(mean, 3).tolist()}, stds {np.round(std, 3).tolist()} (the defaults in settings).", "",
             "| threshold | abstains on unanswerable | false abstentions on answerable |", "|---|---|---|"]
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        abstain = p < threshold
        lines.append(f"| {threshold:.1f} | {abstain[y == 0].mean():.2f} | {abstain[y == 1].mean():.3f} |")
    pos, neg = np.asarray(support_pos), np.asarray(support_neg)
    lines += ["", "## Sentence-support calibration", "",
              "Verbatim quotation short-circuits support in the product; here it is switched off, so both rows "
              "test the lexical and embedding checks alone.", "",
              f"Gold snippets against their own clause: {(pos >= 1).mean():.3f} pass ({len(pos)} pairs); "
              f"against the best-ranked non-gold clause: {(neg >= 1).mean():.3f} pass ({len(neg)} pairs) "
              f"(thresholds: lexical {settings.answer.support_lexical}, semantic {settings.answer.support_semantic}).",
              ""]
    return lines


def main() -> int:
    if len(sys.argv) > 1:
        index = ClauseIndex(load_settings(index_dir=Path(sys.argv[1])))
        print("\n".join(calibrate(index)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        index = ClauseIndex(load_settings(index_dir=Path(tmp) / "index", cache_dir=Path(tmp) / "cache"))
        ingest([ROOT / "data" / "sample_policies"], index=index)
        print("\n".join(calibrate(index)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
