"""The first answer of a new process, and re-opening an index after a one-document ingest (issue 16).

    python -m bench.reopen_bench [--policies DIR] [--work DIR]

Copies the policy folder, ingests it into a new index, then in fresh processes (each one what `xiaoshen
ask` is): the cold first answer (model load, index open, the answer) with how many clause sentences had to
be embedded at question time; then one document is edited (a clause appended) and re-ingested, and a new
process opens the index and answers again: what a user pays after a write. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What is the maximum LTV for an owner-occupied CRE loan, and who can approve an exception?"


def _child(index_dir: Path) -> dict[str, Any]:
    """In this (new) process: open the index and answer once, timing each part."""
    started = time.perf_counter()
    import xiaoshen  # noqa: F401  (offline switches first)
    from xiaoshen.answer import answer
    from xiaoshen.index import ClauseIndex
    from xiaoshen.settings import load_settings

    imported = time.perf_counter()
    settings = load_settings(index_dir=index_dir)
    index = ClauseIndex(settings)
    index.keyword_index()
    opened = time.perf_counter()
    model = index.embedding
    embedded: list[str] = []
    original = model.get_text_embedding_batch
    object.__setattr__(model, "get_text_embedding_batch", lambda texts, **kw: embedded.extend(texts) or original(texts, **kw))
    loaded = time.perf_counter()
    result = answer(QUESTION, index=index, settings=settings)
    answered = time.perf_counter()
    return {"import_s": imported - started, "open_s": opened - imported, "model_s": loaded - opened,
            "answer_s": answered - loaded, "total_s": answered - started,
            "sentences_embedded": len(embedded), "cited": [c.label for c in result.citations]}


def _run_child(index_dir: Path) -> dict[str, Any]:
    # This file run as a script: the code measured is whatever PYTHONPATH (or the install) gives.
    out = subprocess.run([sys.executable, __file__, "--child", str(index_dir)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ingest(policies: Path, index_dir: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "xiaoshen.cli", "ingest", str(policies), "--index", str(index_dir)],
                   check=True, capture_output=True)
    return time.perf_counter() - started


def measure(policies: Path, work: Path) -> dict[str, Any]:
    folder = work / "policies"
    shutil.copytree(policies, folder)
    index_dir = work / "index"
    out: dict[str, Any] = {"ingest_s": _ingest(folder, index_dir)}
    out["cold"] = _run_child(index_dir)
    out["warm_process"] = _run_child(index_dir)  # keyword cache and sentence store on disk, page cache warm
    edited = next(p for p in sorted(folder.glob("*.md")) if p.stat().st_size > 2000)
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\n## 99. Added clause\n\nThe Bank reviews this "
                      "policy every year and records the review in the policy register.\n", encoding="utf-8")
    out["edited"] = edited.name
    out["reingest_s"] = _ingest(folder, index_dir)
    out["after_write"] = _run_child(index_dir)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", type=Path, default=ROOT / "data" / "sample_policies")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--child", type=Path)
    a = parser.parse_args()
    if a.child:
        print(json.dumps(_child(a.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(a.policies, a.work or Path(tmp)), ensure_ascii=False))


if __name__ == "__main__":
    main()
