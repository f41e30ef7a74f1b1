"""OCR benchmark (issue 15): every page of the two scanned sample policies against their text versions.

    .venv/bin/python bench/ocr_bench.py [--out var/bench/ocr]

Renders the full scans (scripts/build_scanned_policies.py --full), OCRs them with a cold cache (pages per
minute on this machine), compares clause ids, sections and pages with the text PDFs of the same pages,
then ingests each version into its own index and measures search recall on the dev questions whose gold
clause is in one of the two policies. Prints Markdown and writes results.json in the output folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import xiaoshen  # noqa: E402,F401  (offline environment first)
from ingest.clauses import split_clauses  # noqa: E402
from ingest.ocr import OcrOptions  # noqa: E402
from ingest.pipeline import ingest  # noqa: E402
from ingest.readers import read_document  # noqa: E402
from xiaoshen.embeddings import build_embedding  # noqa: E402
from xiaoshen.evaluate import load_questions, matches_gold  # noqa: E402
from xiaoshen.index import ClauseIndex  # noqa: E402
from xiaoshen.retrieve import search  # noqa: E402
from xiaoshen.settings import OcrSettings, load_settings  # noqa: E402

POLICIES = {"en": ("NCB-CRE-002", "3.0", "NCB-CRE-002_cre_lending_standards_v3"),
            "zh": ("NCB-SME-ZH-007", "2.1", "NCB-SME-ZH-007_小微企业流动资金贷款操作规程")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "ocr")
    parser.add_argument("--keep-cache", action="store_true", help="reuse the last run's OCR (timings are then "
                        "the cache's, not the OCR's)")
    args = parser.parse_args(argv)
    import build_scanned_policies

    scans = args.out / "scans"
    if not any(scans.glob("*.scan.pdf")):
        build_scanned_policies.main(["--full", str(scans)])
    cache = args.out / "ocr-cache"
    if not args.keep_cache:
        shutil.rmtree(cache, ignore_errors=True)  # a cold cache: the timing is the OCR's
    results: dict[str, dict[str, object]] = {}
    for lang, (doc_id, _version, stem) in POLICIES.items():
        started = time.monotonic()
        scan = read_document(scans / f"{stem}.scan.pdf", ocr=OcrOptions(OcrSettings(), cache))
        seconds = time.monotonic() - started
        text = read_document(scans / f"{stem}.text.pdf")
        by_scan = {c.clause_id: c for c in split_clauses(scan)}
        by_text = {c.clause_id: c for c in split_clauses(text)}
        shared = by_scan.keys() & by_text.keys()
        same_page = sum(1 for i in shared if (by_scan[i].page_start, by_scan[i].page_end)
                        == (by_text[i].page_start, by_text[i].page_end))
        confidences = [c for c in scan.ocr_pages.values() if c is not None]
        results[lang] = {
            "doc_id": doc_id, "pages": len(scan.ocr_pages), "ocr_seconds": round(seconds, 1),
            "seconds_per_page": round(seconds / max(1, len(scan.ocr_pages)), 1),
            "pages_per_minute": round(60 * len(scan.ocr_pages) / seconds, 2),
            "mean_confidence": round(sum(confidences) / len(confidences), 1) if confidences else None,
            "text_clauses": len(by_text), "scan_clauses": len(by_scan),
            "clause_id_agreement": round(len(shared) / len(by_text), 3),
            "same_pages": round(same_page / max(1, len(shared)), 3),
        }
        print(f"{doc_id}: {results[lang]}", flush=True)
    embedding = build_embedding(load_settings().embedding)
    questions = [q for q in load_questions(ROOT / "data" / "dev_questions.jsonl") if q.answerable and any(
        (g.doc_id, g.version or v) == (d, v) for g in q.gold for d, v, _ in POLICIES.values())]
    recall: dict[str, dict[str, float]] = {}
    for kind in ("text", "scan"):
        folder = args.out / f"index-{kind}"
        shutil.rmtree(folder, ignore_errors=True)
        settings = load_settings(index_dir=folder / "index", cache_dir=folder / "keyword-cache",
                                 ocr={"cache_dir": cache})
        index = ClauseIndex(settings, embedding=embedding)
        report = ingest([scans / f"{stem}.{kind}.pdf" for _, _, stem in POLICIES.values()], index=index)
        assert not report.failed, report.failed
        ranks = []
        for q in questions:
            hits = search(q.question, index=index, settings=settings, k=10)
            ranks.append(next((h.rank for h in hits if any(matches_gold(h.clause, g) for g in q.gold)), None))
        recall[kind] = {f"R@{k}": round(sum(1 for r in ranks if r is not None and r <= k) / len(ranks), 3)
                        for k in (1, 5, 10)}
        print(f"{kind}: {recall[kind]} on {len(questions)} questions", flush=True)
    summary = {"policies": results, "questions": len(questions), "recall": recall}
    (args.out / "results.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    print("\n| policy | pages | s/page | pages/min | mean conf. | clause ids agree | same pages |")
    print("|---|---|---|---|---|---|---|")
    for r in results.values():
        print(f"| {r['doc_id']} | {r['pages']} | {r['seconds_per_page']} | {r['pages_per_minute']} | "
              f"{r['mean_confidence']} | {r['clause_id_agreement']:.1%} ({r['text_clauses']} clauses) | "
              f"{r['same_pages']:.1%} |")
    print(f"\nSearch on {len(questions)} dev questions of these two policies: text {recall['text']}, "
          f"scanned {recall['scan']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
