"""Foundation benchmarks: ingest throughput on the real corpora, retrieval quality per embedding model and
per retriever, written to bench/RESULTS.md.

    make bench            # or: .venv/bin/python bench/run.py
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import xiaoshen  # noqa: E402,F401  (offline environment first)
from bench.calibrate import calibrate  # noqa: E402
from ingest.pipeline import ingest  # noqa: E402
from xiaoshen.evaluate import EvalQuestion, EvalReport, evaluate, load_questions, matches_gold  # noqa: E402
from xiaoshen.index import ClauseIndex  # noqa: E402
from xiaoshen.retrieve import ClauseFilter, search  # noqa: E402
from xiaoshen.settings import Settings, load_settings  # noqa: E402
from xiaoshen.text import detect_language  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
SAMPLES = ROOT / "data" / "sample_policies"
DEV_FILE = ROOT / "data" / "dev_questions.jsonl"
OBLIQA = CORPORA / "qa" / "obliqa_dev_pru_ch4_subset.json"
PRU = "adgm-pru-ch4-credit-risk"
MODES = {"hybrid": (1.0, 1.5), "dense": (1.0, 0.0), "bm25": (0.0, 1.0)}


def settings_for(tmp: Path, model: str, mode: str = "hybrid") -> Settings:
    s = load_settings(index_dir=tmp / "index", cache_dir=tmp / "cache")
    s.embedding.model = model  # type: ignore[assignment]
    s.retrieval.dense_weight, s.retrieval.sparse_weight = MODES[mode]
    return s


def _ranks(questions: list[EvalQuestion], index: ClauseIndex, settings: Settings,
           filters: ClauseFilter | None = None) -> list[int | None]:
    """Rank of the first gold clause in the top 10, matched as `xiaoshen eval` matches it."""
    out = []
    for q in questions:
        hits = search(q.question, index=index, settings=settings, k=10, filters=filters)
        out.append(next((h.rank for h in hits if any(matches_gold(h.clause, g) for g in q.gold)), None))
    return out


def ranks_obliqa(index: ClauseIndex, settings: Settings) -> list[int | None]:
    return _ranks(load_questions(OBLIQA), index, settings, ClauseFilter(doc_ids=[PRU]))


def ranks_dev(index: ClauseIndex, settings: Settings, lang: str) -> list[int | None]:
    questions = [q for q in load_questions(DEV_FILE) if q.answerable and detect_language(q.question) == lang]
    return _ranks(questions, index, settings)


def recall(ranks: list[int | None], k: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr(ranks: list[int | None]) -> float:
    return sum(1 / r for r in ranks if r) / len(ranks)


def row(name: str, ranks: list[int | None]) -> str:
    return (f"| {name} | {len(ranks)} | {recall(ranks, 1):.3f} | {recall(ranks, 3):.3f} | {recall(ranks, 5):.3f} "
            f"| {recall(ranks, 10):.3f} | {mrr(ranks):.3f} |")


NOTES = """## Reading the numbers

- **Embedding choice.** MiniLM is the stronger model for English questions, the multilingual USE for
  Chinese ones (MiniLM barely knows Chinese). The default `minilm+use` stores both halves of every clause
  vector and weights them per query language: a Chinese query uses USE alone, an English one MiniLM plus
  0.3 × USE (`embedding.use_weight_en`, tuned on the dev questions and ObliQA: 0 gave the best English
  top-1 but lost ObliQA recall; 1.0 the reverse). One collection serves both languages and cross-lingual
  queries still have a dense signal.
- **How a hit is counted.** Everywhere in this file a retrieved clause matches when it is the gold section
  (or a part of it, e.g. `4.4.2.(1)` for `4.4.2`) or contains the gold passage's text — the same rule as
  `xiaoshen eval`. Section ids alone undercount on ObliQA, where the splitter sometimes keeps a passage
  inside its parent clause: counted by section only, hybrid R@5 is 0.48 (the bar in tests/test_corpora.py).
- **BM25 carries ObliQA.** The ObliQA questions reuse the rulebook's wording, so BM25 alone beats the
  hybrid there (R@5 0.68 vs 0.64); on the officers' own wording (dev set) the hybrid wins. The fusion
  weights (dense 1.0, BM25 1.5) are the compromise measured on both.
- **Where Xiaoshen falls short.** Against the answers issue's targets the extractive backend meets
  groundedness (1.0) and keeps false abstentions near 5%, but **not** citation precision (≥ 0.95) or
  abstention (≥ 0.9): precision is bounded by how often the first-chosen clause is a gold clause
  (top-1 retrieval ≈ 0.65–0.72 on the dev set), and the unanswerable dev questions are deliberately
  on-topic (a tenor for aircraft, a prepayment fee), which retrieval features cannot tell from a
  paraphrased answerable question (see the calibration table: 0.94 abstention costs 41% false
  abstentions).
- Ingest time includes loading both embedding models (~5 s); throughput is bound by embedding on 2 cores. Measured on a quiet machine; with a test run sharing the 2 cores the same ingest took 154 s.
"""


def eval_row(name: str, r: EvalReport) -> str:
    abstention = "n/a" if r.abstention_accuracy is None else f"{r.abstention_accuracy:.2f}"
    return (f"| {name} | {r.questions} | {r.recall_at_1:.3f} | {r.recall_at_5:.3f} | {r.recall_at_10:.3f} "
            f"| {r.mrr:.3f} | {r.citation_precision:.3f} | {abstention} | {r.false_abstention_rate:.3f} "
            f"| {r.groundedness:.3f} | {r.latency_p50_ms:.0f} | {r.latency_p95_ms:.0f} |")


def main() -> int:
    lines = ["# Benchmarks", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"date {datetime.now(UTC):%Y-%m-%d}; command: `make bench` (`python bench/run.py`).", ""]
    table_head = ["| retriever | questions | R@1 | R@3 | R@5 | R@10 | MRR |", "|---|---|---|---|---|---|---|"]

    # 1. Ingest of the real corpora with the default model.
    with tempfile.TemporaryDirectory() as tmp:
        s = settings_for(Path(tmp), "minilm+use")
        index = ClauseIndex(s)
        start = time.perf_counter()
        report = ingest([CORPORA / "en", CORPORA / "zh"], index=index)
        seconds = time.perf_counter() - start
        chars = sum(len(c.text) for c in index.clauses())
        lines += ["## Ingest of ../shared/corpora (default model `minilm+use`)", "",
                  "| documents | failed | clauses | characters | seconds (incl. model load) | clauses/s | peak RSS MB |",
                  "|---|---|---|---|---|---|---|",
                  f"| {len(report.outcomes)} | {len(report.failed)} | {index.count()} | {chars:,} | {seconds:.1f} "
                  f"| {index.count() / seconds:.1f} | {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} |", ""]
        start = time.perf_counter()
        again = ingest([CORPORA / "en", CORPORA / "zh"], index=index)
        lines += [f"Re-ingest of the unchanged corpora: {time.perf_counter() - start:.1f} s, "
                  f"{again.embedded_clauses} clauses embedded.", ""]
        lines += ["## ObliQA dev subset (87 questions, ADGM PRU ch. 4), default model", "", *table_head]
        for mode in MODES:
            lines.append(row(mode, ranks_obliqa(index, settings_for(Path(tmp), "minilm+use", mode))))
        lines.append("")
        obliqa_answers = evaluate(load_questions(OBLIQA), index=index, settings=s,
                                  filters=ClauseFilter(doc_ids=[PRU]))

    # 2. Answers on the sample policies' dev questions, and the calibration behind their thresholds.
    with tempfile.TemporaryDirectory() as tmp:
        s = settings_for(Path(tmp), "minilm+use")
        index = ClauseIndex(s)
        ingest([SAMPLES], index=index)
        dev_answers = evaluate(load_questions(DEV_FILE), index=index, settings=s)
        lines += ["## Answers: `xiaoshen eval` with the extractive backend", "",
                  "Commands: `xiaoshen eval data/dev_questions.jsonl` (sample policies) and "
                  "`xiaoshen eval ../shared/corpora/qa/obliqa_dev_pru_ch4_subset.json --filter "
                  "doc_id=adgm-pru-ch4-credit-risk` (corpora index).", "",
                  "| set | questions | R@1 | R@5 | R@10 | MRR | citation precision | abstention on unanswerable "
                  "| false abstentions | groundedness | p50 ms | p95 ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|",
                  eval_row("dev (sample policies)", dev_answers), eval_row("ObliQA (PRU ch. 4)", obliqa_answers),
                  "", "Targets from the answers issue: citation precision ≥ 0.95, groundedness 1.0, abstention ≥ 0.9 "
                  "with ≤ 5% false abstentions.", ""]
        lines += calibrate(index)

    # 3. Embedding model comparison on the sample policies (EN and ZH dev questions) and on ObliQA.
    lines += ["## Embedding models compared", "",
              "Each model indexes the sample policies and the ADGM PRU file; dense-only shows the model alone, "
              "hybrid shows it with BM25 (weights 1.0 / 1.5).", "", *table_head]
    for model in ("minilm", "use-multilingual", "minilm+use"):
        with tempfile.TemporaryDirectory() as tmp:
            index = ClauseIndex(settings_for(Path(tmp), model))
            ingest([SAMPLES, CORPORA / "en" / f"{PRU}.md"], index=index)
            for mode in ("dense", "hybrid"):
                s = settings_for(Path(tmp), model, mode)
                lines.append(row(f"{model} · {mode} · ObliQA", ranks_obliqa(index, s)))
                lines.append(row(f"{model} · {mode} · dev EN", ranks_dev(index, s, "en")))
                lines.append(row(f"{model} · {mode} · dev ZH", ranks_dev(index, s, "zh")))
    lines.append("")
    lines.append(NOTES)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    lines.append(f"Commit: {commit.stdout.strip()}.")
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
