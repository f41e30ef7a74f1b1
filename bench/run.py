"""All benchmarks, each against its baseline in the same run, written to bench/RESULTS.md (+ results.json).

    make bench                          # or: .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --quick   # small sizes for development; writes var/bench/RESULTS.quick.md

Sections: 1-2 ingest and re-ingest (bench/ingest_bench.py), 3 retrieval quality (bench/retrieval_bench.py),
answers and calibration (xiaoshen eval, bench/calibrate.py), 4 and 6 latency and memory at scale
(bench/scale_bench.py), 5 batch (bench/batch_bench.py, when present), and the embedding-model comparison
when the time budget allows. Benchmarks measure; nothing here fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import xiaoshen  # noqa: E402,F401  (offline environment first)
from bench import ingest_bench, retrieval_bench, scale_bench  # noqa: E402
from bench.common import CORPORA, DEV_FILE, OBLIQA, PRU, SAMPLES, sections, table  # noqa: E402
from ingest.pipeline import ingest  # noqa: E402
from xiaoshen.embeddings import build_embedding  # noqa: E402
from xiaoshen.evaluate import EvalReport, evaluate, load_questions  # noqa: E402
from xiaoshen.index import ClauseIndex  # noqa: E402
from xiaoshen.retrieve import ClauseFilter  # noqa: E402
from xiaoshen.settings import load_settings  # noqa: E402

# Past these many minutes the sections beyond the six are skipped, so `make bench` stays under 30.
ANSWERS_DEADLINE_MIN = 22
MODEL_COMPARISON_DEADLINE_MIN = 20


def skipped(title: str, minutes: float) -> list[str]:
    return [f"## {title}", "", f"Skipped in this run: it had taken {minutes:.0f} min, and this section would push "
            "`make bench` past 30 min on this machine. `python bench/run.py` on a quieter machine includes it.", ""]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    mem = ""
    if Path("/proc/meminfo").exists():
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def eval_row(name: str, r: EvalReport) -> list[object]:
    abstention = "n/a" if r.abstention_accuracy is None else f"{r.abstention_accuracy:.2f}"
    return [name, r.questions, f"{r.recall_at_1:.3f}", f"{r.recall_at_5:.3f}", f"{r.recall_at_10:.3f}",
            f"{r.mrr:.3f}", f"{r.citation_precision:.3f}", abstention, f"{r.false_abstention_rate:.3f}",
            f"{r.groundedness:.3f}", f"{r.latency_p50_ms:.0f}", f"{r.latency_p95_ms:.0f}"]


def answers_section(work: Path, embedding: Any, has_pru: bool, quick: bool) -> list[str]:
    """`xiaoshen eval` on both question sets (the calibration behind its thresholds: bench/calibrate.py)."""
    rows = []
    samples = ClauseIndex(ingest_bench.xiaoshen_settings(work, "samples"), embedding=embedding)
    dev = load_questions(DEV_FILE)
    rows.append(eval_row("dev (sample policies)", evaluate(dev[:20] if quick else dev, index=samples,
                                                           settings=samples.settings)))
    if has_pru:
        corpora = ClauseIndex(ingest_bench.xiaoshen_settings(work, "corpora"), embedding=embedding)
        obliqa = load_questions(OBLIQA)
        rows.append(eval_row("ObliQA (PRU ch. 4)", evaluate(obliqa[:20] if quick else obliqa, index=corpora,
                                                            settings=corpora.settings,
                                                            filters=ClauseFilter(doc_ids=[PRU]))))
    lines = ["## Answers: `xiaoshen eval` with the extractive backend", "",
             "Commands: `xiaoshen eval data/dev_questions.jsonl` (sample policies) and `xiaoshen eval "
             "../shared/corpora/qa/obliqa_dev_pru_ch4_subset.json --filter doc_id=adgm-pru-ch4-credit-risk` "
             "(corpora index). Latency here is on the small indexes; section 4 has it at scale.", "",
             *table(["set", "questions", "R@1", "R@5", "R@10", "MRR", "citation precision",
                     "abstention on unanswerable", "false abstentions", "groundedness", "p50 ms", "p95 ms"], rows),
             "Targets from the answers issue: citation precision ≥ 0.95, groundedness 1.0, abstention ≥ 0.9 "
             "with ≤ 5% false abstentions. The calibration of the answer engine's thresholds and rerank is "
             "`python bench/calibrate.py` (bench/ANSWERS.md where present).", ""]
    return lines


def batch_section(work: Path) -> tuple[list[str], Any]:
    """Review notes per minute with 1, 2 and 4 workers, from bench/batch_bench.py when it exists."""
    try:
        from bench import batch_bench  # type: ignore[attr-defined]  # written under the batch issue
    except ImportError:
        return ["## 5. Batch review notes", "", "bench/batch_bench.py is not in this tree yet: not measured.",
                ""], None
    try:
        rows = batch_bench.measure(workers=(1, 2, 4), index_dir=ingest_bench.xiaoshen_settings(work, "samples")
                                   .index_dir)
        text = batch_bench.markdown(rows).replace("## Batch review notes\n", "", 1)  # our numbered heading
        return ["## 5. Batch review notes", "", text.strip(), ""], rows
    except Exception as exc:  # a broken batch benchmark must not lose the other sections
        return ["## 5. Batch review notes", "", f"bench/batch_bench.py failed: `{type(exc).__name__}: {exc}`.",
                ""], None


def models_section(work: Path) -> list[str]:
    """Each packaged model (and the default fusion) on the sample policies plus the ADGM PRU file."""
    rows = []
    for model in ("minilm", "use-multilingual", "minilm+use"):
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            s = load_settings(index_dir=Path(tmp) / "index", cache_dir=Path(tmp) / "cache")
            s.embedding.model = model  # type: ignore[assignment]
            index = ClauseIndex(s)
            ingest([SAMPLES, CORPORA / "en" / f"{PRU}.md"], index=index)
            dev = [q for q in load_questions(DEV_FILE) if q.answerable]
            sets = {"ObliQA": (load_questions(OBLIQA), ClauseFilter(doc_ids=[PRU])),
                    "dev EN": ([q for q in dev if not _is_zh(q.question)], None),
                    "dev ZH": ([q for q in dev if _is_zh(q.question)], None)}
            for mode in ("dense", "hybrid"):
                ms = retrieval_bench._mode_settings(s, mode)
                for label, (qs, f) in sets.items():
                    r = retrieval_bench.score(qs, lambda q, ms=ms, f=f, index=index: retrieval_bench._hits_as_results(
                        retrieval_bench.search(q, index=index, settings=ms, k=10, filters=f)))
                    rows.append([f"{model} · {mode} · {label}", r["questions"], f"{r['r1']:.3f}",
                                 f"{r['r5']:.3f}", f"{r['r10']:.3f}", f"{r['mrr']:.3f}"])
    return ["## Embedding models compared", "",
            "Each model indexes the sample policies and the ADGM PRU file; dense-only shows the model alone, "
            "hybrid shows it with BM25 (weights 1.0 / 1.5). This comparison chose the default `minilm+use`.", "",
            *table(["model · retriever · questions", "n", "R@1", "R@5", "R@10", "MRR"], rows)]


def _is_zh(text: str) -> bool:
    from xiaoshen.text import detect_language

    return detect_language(text) == "zh"


def timed(log: dict[str, float], name: str, fn: Callable[[], Any], fallback: Any) -> Any:
    """Run one stage, timing it; a stage that fails is reported in RESULTS.md and the run goes on."""
    started = time.perf_counter()
    print(f"[bench] {name} …", file=sys.stderr, flush=True)
    try:
        return fn()
    except Exception as exc:
        import traceback

        traceback.print_exc()
        return fallback([f"## {name}", "", f"This stage failed: `{type(exc).__name__}: {exc}`.", ""])
    finally:
        log[name] = time.perf_counter() - started
        print(f"[bench] {name}: {log[name]:.0f} s", file=sys.stderr, flush=True)


def _lines_only(lines: list[str]) -> list[str]:
    return lines


def _lines_and_raw(lines: list[str]) -> tuple[list[str], None]:
    return lines, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small corpora and sizes, for development")
    parser.add_argument("--out", type=Path, help="where to write the Markdown (default bench/RESULTS.md; "
                        "with --quick var/bench/RESULTS.quick.md)")
    parser.add_argument("--no-models", action="store_true", help="skip the embedding-model comparison")
    args = parser.parse_args()
    out = args.out or (ROOT / "var" / "bench" / "RESULTS.quick.md" if args.quick else ROOT / "bench" / "RESULTS.md")
    started, load_before, when = time.perf_counter(), load(), datetime.now(UTC)
    stages: dict[str, float] = {}
    raw: dict[str, Any] = {}
    corpora = {"samples": [SAMPLES],
               "corpora": [CORPORA / "zh"] if args.quick else [CORPORA / "en", CORPORA / "zh"]}
    has_pru = not args.quick
    sizes = [300, 1000, 3000] if args.quick else [1000, 10_000, 100_000]
    body: list[str] = []
    with tempfile.TemporaryDirectory(prefix="xiaoshen-bench-") as tmp:
        work = Path(tmp)
        # The six measurements first; the older sections after them, each only while the run is
        # young enough to stay under 30 minutes on a busy two-core machine.
        lines, raw["ingest"] = timed(stages, "ingest", lambda: ingest_bench.measure(work, corpora),
                                     _lines_and_raw)
        body += lines
        embedding = build_embedding(load_settings().embedding)
        lines, raw["retrieval"] = timed(stages, "retrieval", lambda: retrieval_bench.measure(
            work, embedding, quick=args.quick, obliqa=has_pru), _lines_and_raw)
        body += lines
        seeds = [ingest_bench.xiaoshen_settings(work, name).index_dir for name in corpora]
        (latency_lines, memory_lines), raw["scale"] = timed(stages, "scale", lambda: scale_bench.measure(
            work, seeds, sizes, queries=8 if args.quick else 10), lambda lines: ((lines, []), None))
        body += latency_lines
        lines, raw["batch"] = timed(stages, "batch", lambda: batch_section(work), _lines_and_raw)
        body += lines + memory_lines

        def minutes() -> float:
            return (time.perf_counter() - started) / 60

        if minutes() < ANSWERS_DEADLINE_MIN:
            body += timed(stages, "answers", lambda: answers_section(work, embedding, has_pru, args.quick),
                          _lines_only)
        else:
            body += skipped("Answers and calibration (`xiaoshen eval`, bench/calibrate.py)", minutes())
        if args.quick or args.no_models:
            body += ["## Embedding models compared", "", "Skipped in this run (`--quick` / `--no-models`).", ""]
        elif minutes() < MODEL_COMPARISON_DEADLINE_MIN:
            body += timed(stages, "models", lambda: models_section(work), _lines_only)
        else:
            body += skipped("Embedding models compared", minutes())
    total = time.perf_counter() - started
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    head = ["# Benchmarks", "",
            f"- Machine: {machine()}.",
            f"- Date: {when:%Y-%m-%d %H:%M} UTC; commit {commit.stdout.strip()}"
            f"{' (quick run: small sizes, not for quoting)' if args.quick else ''}.",
            f"- Command: `make bench` (`python bench/run.py{' --quick' if args.quick else ''}`); took "
            f"{total / 60:.1f} min ({', '.join(f'{k} {v:.0f} s' for k, v in stages.items())}).",
            f"- Load average (1/5/15 min) at start {load_before}, at end {load()}: the machine is shared with "
            "other work, so every timing below carries that noise; ratios come from the same run.",
            "- Raw figures of this run: bench/results.json.", ""]
    # Sections this run does not write (a one-off measurement such as bench/concurrency_bench.py's, or an
    # issue's before/after) are kept, after the ones it does.
    written = set(sections("\n".join(body + notes(raw))))
    kept = [line for heading, lines in sections(out.read_text(encoding="utf-8") if out.exists() else "").items()
            if heading not in written for line in lines]
    text = "\n".join(head + body + kept + notes(raw)) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    (out.parent / ("results.quick.json" if args.quick else "results.json")).write_text(
        json.dumps({"stages_s": stages, "total_s": total, **raw}, indent=1, default=str), encoding="utf-8")
    print(text)
    return 0


def notes(raw: dict[str, Any]) -> list[str]:
    """Where Xiaoshen is slower or worse than a baseline, and why; from this run's figures."""
    from bench.notes import reading_notes

    return reading_notes(raw)


if __name__ == "__main__":
    sys.exit(main())
