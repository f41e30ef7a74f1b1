"""What every benchmark shares: paths, child processes with their peak memory, an embedding that counts
its calls, rank metrics and Markdown tables."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from xiaoshen.embeddings import PackagedEmbedding

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
SAMPLES = ROOT / "data" / "sample_policies"
DEV_FILE = ROOT / "data" / "dev_questions.jsonl"
HOLDOUT_FILE = ROOT / "data" / "holdout_questions.jsonl"
OBLIQA = CORPORA / "qa" / "obliqa_dev_pru_ch4_subset.json"
PRU = "adgm-pru-ch4-credit-risk"
# Unpaged formats (Markdown, HTML, TXT, DOCX) are counted in page-equivalents of this many characters,
# about one printed A4 page of policy prose; PDFs count their real pages.
CHARS_PER_PAGE = 3000


@dataclass
class ChildResult:
    data: dict[str, Any]
    peak_rss_mb: float
    seconds: float


def run_child(args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 1800) -> ChildResult:
    """Run `python -m bench.<module> ...` in its own process; its last stdout line is a JSON object.

    Peak RSS is the child's own high-water mark (it reports VmHWM), so each pipeline is measured alone,
    with nothing the parent loaded counted against it."""
    import time

    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=err,
                                text=True, env={**os.environ, **(env or {})})
        assert proc.stdout is not None
        try:
            out = proc.stdout.read()
        finally:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {err.read()[-3000:]}")
    lines = [line for line in out.splitlines() if line.strip().startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    # The child's own VmHWM; wait4's ru_maxrss would include the parent's size at fork (see own_peak_rss_mb).
    return ChildResult(data, float(data.get("peak_rss_mb", usage.ru_maxrss / 1024)), seconds)


def own_peak_rss_mb() -> float:
    """This process's own high-water RSS (VmHWM). Not ru_maxrss: Linux carries that across fork and exec,
    so a child of a large parent would report at least the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(data: dict[str, Any]) -> None:
    """A child's answer to run_child: one JSON line, with the child's own peak RSS."""
    data.setdefault("peak_rss_mb", own_peak_rss_mb())
    print(json.dumps(data), flush=True)


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB of a process and all its descendants, read from /proc (Linux)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue
    rss = hwm = 0.0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1]) / 1024
    return rss, hwm


class CountingEmbedding(BaseEmbedding):
    """A packaged model as a LlamaIndex embedding, counting the model invocations (batches) and texts it
    embeds."""

    _inner: PackagedEmbedding = PrivateAttr()
    _calls: int = PrivateAttr(default=0)
    _texts: int = PrivateAttr(default=0)

    def __init__(self, inner: PackagedEmbedding) -> None:
        super().__init__(model_name=inner.model_name, embed_batch_size=inner.embed_batch_size)
        self._inner = inner

    @classmethod
    def class_name(cls) -> str:
        return "CountingEmbedding"

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def texts(self) -> int:
        return self._texts

    def reset(self) -> None:
        self._calls = self._texts = 0

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._calls += 1
        self._texts += len(texts)
        return self._inner._get_text_embeddings(texts)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._inner._get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def count_pages(paths: Sequence[Path]) -> float:
    """Pages of the files under `paths`: real pages for PDFs, page-equivalents for the rest."""
    from ingest.pipeline import discover
    from ingest.readers import read_document

    pages = 0.0
    for path in discover(paths):
        document = read_document(path)
        pages += len(document.page_starts) if document.page_starts else len(document.text) / CHARS_PER_PAGE
    return pages


# --- metrics ------------------------------------------------------------------------------------------

def recall(ranks: Sequence[int | None], k: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr(ranks: Sequence[int | None]) -> float:
    return sum(1 / r for r in ranks if r) / len(ranks) if ranks else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100), as xiaoshen eval reports latency."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))] if ordered else 0.0


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def ratio(ours: float, baseline: float) -> str:
    """ours / baseline as 'x.xx×' (n/a when the baseline is zero)."""
    return f"{ours / baseline:.2f}×" if baseline else "n/a"


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


def sections(text: str) -> dict[str, list[str]]:
    """A Markdown file's `## ` sections by heading line, each with its lines (heading included)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = out.setdefault(line, [])
        if current is not None:
            current.append(line)
    return out


def replace_section(path: Path, lines: Sequence[str]) -> None:
    """Put a section (its first line the `## ` heading) into a results file: in place of the one with the
    same heading, or else before the closing "Reading the numbers" section, or at the end."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    old = text.splitlines()
    heading = lines[0]
    new = [*lines] if not lines or lines[-1] == "" else [*lines, ""]
    if heading in old:
        start = old.index(heading)
        end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
        old[start:end] = new
    else:
        at = next((i for i, line in enumerate(old) if line.startswith("## Reading the numbers")), len(old))
        old[at:at] = new
    path.write_text("\n".join(old) + "\n", encoding="utf-8")
