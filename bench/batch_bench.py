"""Batch review notes: time to draft a note for every sample application with `run_batch`, by worker count.

    python bench/batch_bench.py            # prints the RESULTS.md section
    python bench/batch_bench.py --workers 1 2

Each run writes into a fresh temporary folder (so resume skips nothing) on the extractive backend, after one
warm-up note so model loading is not counted; the conditions the answer engine retrieves per product are
forgotten before each run, so every run retrieves them as a cold batch does.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

if __package__ in {None, ""}:  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import xiaoshen  # noqa: F401  (offline environment before any model library loads)
from xiaoshen.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
APPLICATIONS = ROOT / "data" / "sample_applications"
POLICIES = ROOT / "data" / "sample_policies"
COMMAND = "python bench/batch_bench.py"


def _settings(index_dir: Path) -> Settings:
    return load_settings(index_dir=index_dir, cache_dir=index_dir.parent / f"{index_dir.name}-cache",
                         answer={"backend": "extractive"})


def measure(workers: tuple[int, ...] = (1, 2, 4), index_dir: Path | None = None) -> list[dict]:
    """One batch of every sample application per worker count: workers, notes, seconds, notes_per_min,
    per_note_s. Without `index_dir`, the sample policies are ingested into a temporary index first."""
    from xiaoshen.batch import run_batch
    from xiaoshen.index import ClauseIndex
    from xiaoshen.review.application import load_application
    from xiaoshen.review.note import clear_conditions_cache, draft_note

    with tempfile.TemporaryDirectory(prefix="xiaoshen-batch-bench-") as tmp:
        if index_dir is None:
            from ingest.pipeline import ingest

            index_dir = Path(tmp) / "index"
            index = ClauseIndex(_settings(index_dir))
            ingest([POLICIES], index=index)
        settings = _settings(Path(index_dir))
        index = ClauseIndex(settings)
        draft_note(load_application(next(APPLICATIONS.glob("APP-001*"))), index=index, settings=settings)
        rows = []
        for count in workers:
            clear_conditions_cache()
            out = Path(tempfile.mkdtemp(prefix=f"w{count}-", dir=tmp))
            started = time.perf_counter()
            report = run_batch(APPLICATIONS, out, index=index, settings=settings, workers=count)
            seconds = time.perf_counter() - started
            notes = len(report.written)
            if report.errors or report.skipped:
                raise RuntimeError(f"batch bench: {len(report.errors)} errors, {len(report.skipped)} skipped: "
                                   f"{report.errors[:3]}")
            rows.append({"workers": count, "notes": notes, "seconds": round(seconds, 2),
                         "notes_per_min": round(notes / seconds * 60, 1) if seconds else 0.0,
                         "per_note_s": round(seconds / notes, 3) if notes else 0.0})
    return rows


def markdown(rows: list[dict]) -> str:
    """The RESULTS.md section: a table per worker count and the command that produced it."""
    lines = ["## Batch review notes", "",
             "| workers | notes | seconds | notes/min | s per note |", "|---|---|---|---|---|"]
    lines += [f"| {r['workers']} | {r['notes']} | {r['seconds']:.2f} | {r['notes_per_min']:.1f} | "
              f"{r['per_note_s']:.3f} |" for r in rows]
    lines += ["", f"Every sample application in `data/sample_applications/`, Markdown notes, extractive backend, "
                  f"fresh output folder per run, models warm; `{COMMAND}`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--index", type=Path, default=None, help="An index of the sample policies to reuse.")
    args = parser.parse_args(argv)
    print(markdown(measure(tuple(args.workers), index_dir=args.index)))


if __name__ == "__main__":
    main()
