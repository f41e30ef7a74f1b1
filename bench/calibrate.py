"""Calibrate the answer engine on the dev questions and print the figures for bench/ANSWERS.md.

    .venv/bin/python bench/calibrate.py [INDEX_DIR]

Deterministic (no random split), so the fitted numbers reproduce on the same index:
1. Rerank: fits the listwise weights of xiaoshen/answer/rerank.py (softmax over each question's first
   `rerank_k` hits, the gold clauses as targets) and reports top-1 accuracy in-sample and by 10-fold
   cross-validation over questions (fold = question number mod 10).
2. Evidence bar: on the reranked hits, fits the logistic model over xiaoshen/answer/evidence.py's
   features on answerable vs unanswerable questions, and shows abstention / false abstention per
   threshold in-sample and leave-one-out (each question scored by a model fitted without it).
3. Sentence support: each gold snippet against its own clause (should pass) and against the
   best-ranked clause that is not gold (should fail), at the configured thresholds.
The printed settings are the defaults in xiaoshen/settings.py (`answer` group).
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
from xiaoshen.answer.evidence import EVIDENCE_FEATURES, evidence_features  # noqa: E402
from xiaoshen.answer.rerank import RERANK_FEATURES, reorder, rerank_features, sentence_cosines  # noqa: E402
from xiaoshen.answer.verify import _support  # noqa: E402
from xiaoshen.evaluate import load_questions, matches_gold  # noqa: E402
from xiaoshen.index import ClauseIndex  # noqa: E402
from xiaoshen.retrieve import search  # noqa: E402
from xiaoshen.settings import load_settings  # noqa: E402

DEV = ROOT / "data" / "dev_questions.jsonl"
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
FOLDS = 10


def fit_listwise(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 0.05, steps: int = 1500) -> np.ndarray:
    """Raw-feature weights maximising the softmax probability of the gold hits in each group."""
    groups = [(x, y) for x, y in groups if y.sum() > 0]
    flat = np.vstack([x for x, _ in groups])
    mean, std = flat.mean(0), flat.std(0) + 1e-9
    size = max(len(x) for x, _ in groups)
    xs = np.zeros((len(groups), size, flat.shape[1]))
    mask = np.zeros((len(groups), size), dtype=bool)
    target = np.zeros((len(groups), size))
    for i, (x, y) in enumerate(groups):
        xs[i, : len(x)], mask[i, : len(x)], target[i, : len(x)] = (x - mean) / std, True, y / y.sum()
    w = np.zeros(flat.shape[1])
    for _ in range(steps):
        z = np.where(mask, xs @ w, -1e9)
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= 0.3 * (np.einsum("gnf,gn->f", xs, p - target) / len(groups) + l2 * w)
    return w / std  # the score's order is what matters; a raw-feature weight needs no mean


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 3000, l2: float = 0.01) -> tuple[np.ndarray, ...]:
    """(weights, bias, mean, std) of a class-balanced logistic regression on standardised features."""
    mean, std = x.mean(0), x.std(0) + 1e-9
    xs = np.c_[(x - mean) / std, np.ones(len(x))]
    balance = np.where(y == 1, 1.0, (y == 1).sum() / max(1, (y == 0).sum()))
    w = np.zeros(xs.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xs @ w))
        w -= 0.5 * (xs.T @ ((p - y) * balance) / len(y) + l2 * np.r_[w[:-1], 0.0])
    return w[:-1], w[-1], mean, std


def probability(model: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    w, b, mean, std = model
    return 1 / (1 + np.exp(-(((x - mean) / std) @ w + b)))


def _list(values: np.ndarray, digits: int = 3) -> str:
    return str([round(float(v), digits) for v in values])


def calibrate(index: ClauseIndex) -> list[str]:
    settings = index.settings
    conf = settings.answer
    keyword = index.keyword_index()
    questions = load_questions(DEV)
    prepared, support_pos, support_neg = [], [], []
    for q in questions:
        hits = search(q.question, index=index, settings=settings, k=max(conf.retrieve_k, conf.rerank_k))
        head = hits[: conf.rerank_k]
        sentences, cosines = sentence_cosines(q.question, head, index)
        rows = np.asarray(rerank_features(q.question, head, sentences, cosines, keyword))
        gold = np.asarray([float(any(matches_gold(h.clause, g) for g in q.gold)) for h in head])
        prepared.append((q, hits, sentences, cosines, rows, gold))
        for g in q.gold:
            own = next((c for c in index.clauses({"doc_id": g.doc_id}) if matches_gold(c, g)), None)
            other = next((h.clause for h in hits if not any(matches_gold(h.clause, x) for x in q.gold)), None)
            if own is not None and g.snippet:
                support_pos.append(_support(g.snippet, own.text, index, keyword, conf, allow_verbatim=False)[0])
            if other is not None and g.snippet:
                support_neg.append(_support(g.snippet, other.text, index, keyword, conf, allow_verbatim=False)[0])

    # 1. Rerank, on the answerable questions.
    answerable = [(rows, gold) for q, _, _, _, rows, gold in prepared if q.answerable]
    weights = fit_listwise(answerable)

    def top1(w: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
        return [float(y[int(np.argmax(x @ w))]) for x, y in groups]

    cv: list[float] = []
    for fold in range(FOLDS):
        train = [g for i, g in enumerate(answerable) if i % FOLDS != fold]
        cv += top1(fit_listwise(train), [g for i, g in enumerate(answerable) if i % FOLDS == fold])
    fused = float(np.mean([y[0] for _, y in answerable]))
    lines = ["## Rerank (second stage) on the dev questions", "",
             f"{len(answerable)} answerable questions, first {conf.rerank_k} hits each. Features: "
             f"{', '.join(RERANK_FEATURES)}. Gold clause first: fused retrieval {fused:.3f}; reranked "
             f"{np.mean(top1(weights, answerable)):.3f} in-sample, {np.mean(cv):.3f} by {FOLDS}-fold "
             "cross-validation.", "", f"Fitted `rerank_weights` {_list(weights)}.", ""]

    # 2. Evidence bar, on the hits as the fitted rerank orders them.
    features, labels = [], []
    for q, hits, sentences, cosines, rows, _ in prepared:
        ranked = reorder(hits, sentences, cosines, list(rows @ weights))
        features.append(evidence_features(q.question, ranked, keyword))
        labels.append(1.0 if q.answerable else 0.0)
    x, y = np.asarray(features), np.asarray(labels)
    model = fit_logistic(x, y)
    inside = probability(model, x)
    loo = np.asarray([probability(fit_logistic(np.delete(x, i, 0), np.delete(y, i)), x[i:i + 1])[0]
                      for i in range(len(y))])
    w, b, mean, std = model
    lines += ["## Evidence bar (abstention) calibration on the dev questions", "",
              f"{int(y.sum())} answerable, {int((1 - y).sum())} unanswerable. Features: "
              f"{', '.join(EVIDENCE_FEATURES)}.", "",
              f"Fitted `evidence_weights` {_list(w, 2)}, `evidence_bias` {b:.2f}, `evidence_mean` {_list(mean)}, "
              f"`evidence_std` {_list(std)}.", "",
              "| threshold | abstains on unanswerable (in-sample) | false abstentions (in-sample) "
              "| abstains on unanswerable (leave-one-out) | false abstentions (leave-one-out) |",
              "|---|---|---|---|---|"]
    for t in THRESHOLDS:
        lines.append(f"| {t:.1f} | {np.mean(inside[y == 0] < t):.2f} | {np.mean(inside[y == 1] < t):.3f} "
                     f"| {np.mean(loo[y == 0] < t):.2f} | {np.mean(loo[y == 1] < t):.3f} |")
    pos, neg = np.asarray(support_pos), np.asarray(support_neg)
    lines += ["", "## Sentence-support calibration", "",
              "Verbatim quotation short-circuits support in the product; here it is switched off, so both rows "
              "test the lexical and embedding checks alone.", "",
              f"Gold snippets against their own clause: {(pos >= 1).mean():.3f} pass ({len(pos)} pairs); "
              f"against the best-ranked non-gold clause: {(neg >= 1).mean():.3f} pass ({len(neg)} pairs) "
              f"(thresholds: lexical {conf.support_lexical}, semantic {conf.support_semantic}).", ""]
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
