"""Calibrate the answer engine on the dev questions and print the figures for bench/ANSWERS.md.

    .venv/bin/python bench/calibrate.py [SAMPLES_INDEX_DIR [CORPORA_INDEX_DIR]]

Nothing is ever fitted on data/holdout_questions.jsonl: `fittable` refuses it (and any set whose ids are
holdout ids), so the holdout stays a measurement of questions the engine has never seen.

Deterministic (no random split), so the fitted numbers reproduce on the same index:
1. Rerank: fits the listwise weights of xiaoshen/answer/rerank.py (softmax over each question's first
   `rerank_k` hits, the gold clauses as targets) on the dev questions and ObliQA together, and reports
   top-1 accuracy in-sample, by 10-fold cross-validation over questions (fold = question number mod 10)
   and across sets (fitted on one, scored on the other).
2. Evidence bar: on the reranked hits, fits the logistic model over xiaoshen/answer/evidence.py's
   features on answerable vs unanswerable questions, and shows abstention / false abstention per
   threshold in-sample and leave-one-out (each question scored by a model fitted without it).
3. Sentence support: each gold snippet against its own clause (should pass) and against the
   best-ranked clause that is not gold (should fail), at the configured thresholds.
4. Answer confidence: a logistic model over the evidence bar's logit and the top clause's rerank margin,
   target "the top reranked clause is gold", fitted on dev + ObliQA together and validated across sets
   (fit on one, scored on the other), with the rerank weights also scored across sets.
The printed settings are the defaults in xiaoshen/settings.py (`answer` group).
"""

from __future__ import annotations

import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import xiaoshen  # noqa: E402,F401
from bench.common import CORPORA, DEV_FILE, HOLDOUT_FILE, OBLIQA, PRU  # noqa: E402
from ingest.pipeline import ingest  # noqa: E402
from xiaoshen.answer.evidence import EVIDENCE_FEATURES, answer_probability, evidence_features  # noqa: E402
from xiaoshen.answer.rerank import RERANK_FEATURES, reorder, rerank_features, sentence_cosines  # noqa: E402
from xiaoshen.answer.verify import _support  # noqa: E402
from xiaoshen.evaluate import EvalQuestion, load_questions, matches_gold  # noqa: E402
from xiaoshen.index import ClauseIndex  # noqa: E402
from xiaoshen.query import Query  # noqa: E402
from xiaoshen.retrieve import ClauseFilter, search  # noqa: E402
from xiaoshen.settings import AnswerSettings, load_settings  # noqa: E402
from xiaoshen.types import Hit  # noqa: E402

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
FOLDS = 10
# The rerank's regularisation is chosen among these by cross-validation (calibrate_rerank).
RERANK_L2 = (0.01, 0.02, 0.05, 0.2)


def fittable(path: Path) -> Path:
    """`path`, if it is a set the engine may be fitted on; the holdout never is."""
    holdout_ids = {q.id for q in load_questions(HOLDOUT_FILE)}
    if path.resolve() == HOLDOUT_FILE.resolve() or {q.id for q in load_questions(path)} & holdout_ids:
        raise SystemExit(f"refusing to fit on {path}: it is (or contains) the holdout set, which nothing is "
                         "fitted on (data/HOLDOUT.md)")
    return path


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


Prepared = tuple[EvalQuestion, Query, list[Hit], list[list[str]], list[list[float]], np.ndarray, np.ndarray]


def prepare(index: ClauseIndex, path: Path, filters: ClauseFilter | None = None) -> list[Prepared]:
    """Per question of a fittable set: its query, hits, their units and cosines, rerank rows and gold marks."""
    settings, conf = index.settings, index.settings.answer
    keyword = index.keyword_index()
    prepared = []
    for q in load_questions(fittable(path)):
        query = index.query(q.question)
        hits = search(query, index=index, settings=settings, k=max(conf.retrieve_k, conf.rerank_k), filters=filters)
        head = hits[: conf.rerank_k]
        sentences, cosines = sentence_cosines(query, head, index)
        rows = np.asarray(rerank_features(query, head, sentences, cosines, keyword))
        gold = np.asarray([float(any(matches_gold(h.clause, g) for g in q.gold)) for h in head])
        prepared.append((q, query, hits, sentences, cosines, rows, gold))
    return prepared


def _groups(prepared: list[Prepared]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(rows, gold) for q, _, _, _, _, rows, gold in prepared if q.answerable]


def _top1(w: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    return [float(y[int(np.argmax(x @ w))]) for x, y in groups]


def unit_spread(weights: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """`weights` scaled so that the scores within a question spread by 1 (mean standard deviation): the
    order is the same, and a margin in score units (`complete_margin`) keeps its meaning across refits."""
    return weights / float(np.mean([np.std(x @ weights) for x, _ in groups]))


def calibrate_rerank(sets: dict[str, list[Prepared]]) -> tuple[np.ndarray, list[str]]:
    """The rerank weights fitted on every set together, at the regularisation with the best 10-fold
    cross-validation over all their questions, and how a fit on one set carries to the other."""
    groups = {name: _groups(prepared) for name, prepared in sets.items()}
    together = [g for gs in groups.values() for g in gs]

    def folds(l2: float) -> float:
        cv: list[float] = []
        for fold in range(FOLDS):
            train = [g for i, g in enumerate(together) if i % FOLDS != fold]
            cv += _top1(fit_listwise(train, l2=l2), [g for i, g in enumerate(together) if i % FOLDS == fold])
        return float(np.mean(cv))

    def across(l2: float) -> list[float]:
        """Each set's gold-first share under weights fitted on the other set(s) only."""
        return [float(np.mean(_top1(fit_listwise([g for o, other in groups.items() if o != name for g in other],
                                                  l2=l2), gs)))
                for name, gs in groups.items() if len(groups) > 1]

    scores = {l2: (folds(l2), across(l2)) for l2 in RERANK_L2}
    chosen = max(RERANK_L2, key=lambda l2: (scores[l2][0], -l2))
    weights = unit_spread(fit_listwise(together, l2=chosen), together)
    lines = [f"## Rerank (second stage), fitted on {' + '.join(groups)}", "",
             f"Answerable questions, first `rerank_k` hits each. Features: {', '.join(RERANK_FEATURES)}.", "",
             "Gold first, by regularisation: cross-validated over all the questions, and fitted on one set only "
             "and scored on the other:", "",
             "| L2 | 10-fold, all questions | " + " | ".join(f"scored on {name}" for name in groups if len(groups) > 1)
             + " |", "|---|---|" + "---|" * (len(groups) if len(groups) > 1 else 0)]
    lines += [f"| {l2}{' (chosen)' if l2 == chosen else ''} | {scores[l2][0]:.3f} | "
              + " | ".join(f"{v:.3f}" for v in scores[l2][1]) + " |" for l2 in RERANK_L2]
    lines += ["", f"Fitted on all at L2 {chosen}: `rerank_weights` {_list(weights)}.", "",
              "| set | questions | fused order | fitted on all (in-sample) |", "|---|---|---|---|"]
    lines += [f"| {name} | {len(gs)} | {np.mean([y[0] for _, y in gs]):.3f} | {np.mean(_top1(weights, gs)):.3f} |"
              for name, gs in groups.items()]
    return weights, [*lines, ""]


def calibrate(index: ClauseIndex, prepared: list[Prepared], weights: np.ndarray) -> tuple[AnswerSettings, list[str]]:
    """The evidence bar fitted on the dev questions as `weights` rerank them (the answer settings with both),
    and the sentence-support check."""
    conf = index.settings.answer
    keyword = index.keyword_index()
    support_pos, support_neg = [], []
    for q, _, hits, _, _, _, _ in prepared:
        for g in q.gold:
            own = next((c for c in index.clauses({"doc_id": g.doc_id}) if matches_gold(c, g)), None)
            other = next((h.clause for h in hits if not any(matches_gold(h.clause, x) for x in q.gold)), None)
            if own is not None and g.snippet:
                support_pos.append(_support(g.snippet, own.text, index, keyword, conf, allow_verbatim=False)[0])
            if other is not None and g.snippet:
                support_neg.append(_support(g.snippet, other.text, index, keyword, conf, allow_verbatim=False)[0])
    lines: list[str] = []

    # 2. Evidence bar, on the hits as the fitted rerank orders them.
    features, labels = [], []
    for q, query, hits, sentences, cosines, rows, _ in prepared:
        ranked = reorder(hits, sentences, cosines, list(rows @ weights))
        features.append(evidence_features(query, ranked, keyword))
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
    fitted = conf.model_copy(update={
        "rerank_weights": [float(v) for v in weights], "evidence_weights": [float(v) for v in w],
        "evidence_bias": float(b), "evidence_mean": [float(v) for v in mean], "evidence_std": [float(v) for v in std]})
    return fitted, lines


def confidence_rows(index: ClauseIndex, prepared: list[Prepared], weights: np.ndarray,
                    evidence: AnswerSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per question: confidence features (evidence logit, rerank margin) and whether the top reranked clause
    is gold, with the hits ranked by `weights` and the evidence bar of `evidence`."""
    keyword = index.keyword_index()
    x, y = [], []
    for q, query, hits, sentences, cosines, rows, _ in prepared:
        ranked = reorder(hits, sentences, cosines, list(rows @ weights))
        p = min(max(answer_probability(evidence_features(query, ranked, keyword), evidence), 1e-6), 1 - 1e-6)
        margin = ranked.scores[0] - ranked.scores[1] if len(ranked.scores) > 1 else 0.0
        x.append([np.log(p / (1 - p)), margin])
        y.append(float(q.answerable and any(matches_gold(ranked.hits[0].clause, g) for g in q.gold)))
    return np.asarray(x), np.asarray(y)


def fit_plain_logistic(x: np.ndarray, y: np.ndarray, steps: int = 4000, l2: float = 0.001) -> tuple[np.ndarray, float]:
    """Raw-feature weights and bias of an unweighted logistic regression (unweighted, so it stays calibrated)."""
    xs = np.c_[x, np.ones(len(x))]
    w = np.zeros(xs.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xs @ w))
        w -= 0.1 * (xs.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0.0])
    return w[:-1], float(w[-1])


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 5) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in pairwise(edges):
        inside = (p >= low) & (p < high if high < 1 else p <= high)
        if inside.any():
            total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return total


def calibrate_confidence(sets: dict[str, tuple[ClauseIndex, list[Prepared]]], fitted: AnswerSettings) -> list[str]:
    """Fit the confidence model on dev + ObliQA and validate it across the sets."""
    weights = np.asarray(fitted.rerank_weights)
    rows = {name: confidence_rows(index, prepared, weights, fitted) for name, (index, prepared) in sets.items()}
    lines = ["## Answer confidence, fitted on dev + ObliQA, validated across sets", "",
             "Target: the clause the answer opens with (top reranked) is gold; unanswerable questions count as "
             "wrong. Features: the evidence bar's logit, the top clause's rerank margin over the second.", "",
             "| fitted on | scored on | Brier | ECE (5 bins) | mean confidence | share right |", "|---|---|---|---|---|---|"]
    for train, test in (("dev", "ObliQA"), ("ObliQA", "dev")):
        w, b = fit_plain_logistic(*rows[train])
        x, y = rows[test]
        p = 1 / (1 + np.exp(-(x @ w + b)))
        lines.append(f"| {train} | {test} | {np.mean((p - y) ** 2):.3f} | {expected_calibration_error(p, y):.3f} "
                     f"| {p.mean():.2f} | {y.mean():.2f} |")
    w, b = fit_plain_logistic(np.vstack([x for x, _ in rows.values()]), np.concatenate([y for _, y in rows.values()]))
    return [*lines, "", f"Fitted on both: `confidence_weights` {_list(w)}, `confidence_bias` {b:.3f}.", ""]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1:
            samples = ClauseIndex(load_settings(index_dir=Path(sys.argv[1])))
        else:
            samples = ClauseIndex(load_settings(index_dir=Path(tmp) / "samples", cache_dir=Path(tmp) / "cache"))
            ingest([ROOT / "data" / "sample_policies"], index=samples)
        if len(sys.argv) > 2:
            corpora: ClauseIndex | None = ClauseIndex(load_settings(index_dir=Path(sys.argv[2])))
        elif CORPORA.is_dir():
            corpora = ClauseIndex(load_settings(index_dir=Path(tmp) / "corpora", cache_dir=Path(tmp) / "cache2"))
            ingest([CORPORA / "en", CORPORA / "zh"], index=corpora)
        else:
            corpora = None
        sets = {"dev": (samples, prepare(samples, DEV_FILE))}
        if corpora is not None:  # as `xiaoshen eval` asks ObliQA: within its one regulation
            sets["ObliQA"] = (corpora, prepare(corpora, OBLIQA, ClauseFilter(doc_ids=[PRU])))
        weights, lines = calibrate_rerank({name: prepared for name, (_, prepared) in sets.items()})
        fitted, more = calibrate(samples, sets["dev"][1], weights)
        lines += more
        if corpora is not None:
            lines += calibrate_confidence(sets, fitted)
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
