"""Readers' latency while a writer works on the same index (issue 11, part 2).

    python -m bench.concurrency_bench [--work DIR] [--seconds 30] [--modes embedded,server] [--section]

The sample policies are ingested into a new index (embedded Chroma, and a `chroma run` server). Readers then
search it without pause (two threads in one process, two processes of their own, each what `xiaoshen
search` does with the dev questions) through three phases:

- quiet: no writer;
- lock held: another process holds the index's writer lock and does nothing else, so a reader that
  waited for the writer would show it here and only here;
- live ingest: `xiaoshen ingest` of the Chinese corpus (nine laws) into the same index, start to end:
  the lock held, Chroma written, the keyword index rebuilt, and both cores busy embedding.

Each reader logs the start time and latency of every search; a search is counted in the phase it started
in. Prints one JSON line; `--section` also writes the section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import DEV_FILE, median, percentile, replace_section, table  # noqa: E402
from bench.scale_bench import chroma_server  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
THREADS, PROCESSES = 2, 2


def _questions() -> list[str]:
    rows = [json.loads(line) for line in DEV_FILE.read_text(encoding="utf-8").splitlines() if line]
    return [r["question"] for r in rows]


def _open() -> tuple[Any, Any]:
    import xiaoshen  # noqa: F401  (offline switches first)
    from xiaoshen.index import ClauseIndex
    from xiaoshen.settings import load_settings

    settings = load_settings()
    return ClauseIndex(settings), settings


def _reader_loop(name: str, stop: Path, out: Path, opened: tuple[Any, Any] | None = None) -> None:
    """Search the dev questions round-robin until `stop` exists, appending one JSON line per search."""
    from xiaoshen.retrieve import search

    index, settings = opened or _open()
    questions = _questions()
    search(questions[0], index=index, settings=settings, k=5)  # model and keyword index loaded: warm
    with out.open("a", encoding="utf-8") as log:
        log.write(json.dumps({"reader": name, "ready": time.time()}) + "\n")
        log.flush()
        n = 0
        while not stop.exists():
            question = questions[n % len(questions)]
            started = time.time()
            error = ""
            try:
                hits = search(question, index=index, settings=settings, k=5)
                found = len(hits)
            except Exception as exc:  # counted and shown: a reader must never fail because of a writer
                found, error = 0, f"{type(exc).__name__}: {exc}"[:200]
            log.write(json.dumps({"reader": name, "t": started, "s": time.time() - started, "hits": found,
                                  "error": error}) + "\n")
            log.flush()
            n += 1


def _threads_child(stop: Path, out: Path) -> None:
    """THREADS readers in this one process sharing one ClauseIndex, as the app's sessions do."""
    opened = _open()
    workers = [threading.Thread(target=_reader_loop, args=(f"thread-{i}", stop, out, opened))
               for i in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def _hold_lock(seconds: float) -> None:
    """Hold the writer lock, idle: what a slow writer between two writes looks like to readers."""
    index, _ = _open()
    with index.writer():
        print("holding", flush=True)
        time.sleep(seconds)


def _cli(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "xiaoshen.cli", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def measure_mode(name: str, work: Path, seconds: float) -> dict[str, Any]:
    """One storage mode: ingest the samples, start the readers, run the three phases."""
    folder = work / name
    folder.mkdir(parents=True)
    mode = {"XIAOSHEN_INDEX_DIR": str(folder / "index"), "XIAOSHEN_CACHE_DIR": str(folder / "cache"),
            "XIAOSHEN_ACCESS__AUDIT_LOG": str(folder / "audit.jsonl")}
    with contextlib.ExitStack() as stack:
        if name == "server":
            mode["XIAOSHEN_CHROMA_URL"], _ = stack.enter_context(chroma_server(folder / "chroma-data"))
        env = {**os.environ, **mode}
        stop, log = folder / "stop", folder / "readers.jsonl"
        stack.callback(stop.touch)  # the readers end with the run, also when it fails
        out: dict[str, Any] = {"ingest_samples_s": _cli(["ingest", str(ROOT / "data" / "sample_policies")], env)}
        readers = [subprocess.Popen([sys.executable, __file__, "--threads-child", str(stop), str(log)], env=env)]
        readers += [subprocess.Popen([sys.executable, __file__, "--reader-child", f"process-{i}", str(stop), str(log)],
                                     env=env) for i in range(PROCESSES)]
        deadline = time.monotonic() + 600
        while _count_ready(log) < THREADS + PROCESSES:
            if time.monotonic() > deadline or any(r.poll() not in (None, 0) for r in readers):
                raise RuntimeError("the readers did not start")
            time.sleep(0.5)
        windows: dict[str, tuple[float, float]] = {}
        started = time.time()
        time.sleep(seconds)
        windows["quiet"] = (started, time.time())
        holder = subprocess.Popen([sys.executable, __file__, "--hold-lock", str(seconds)], env=env,
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None
        holder.stdout.readline()  # "holding"
        started = time.time()
        holder.wait()
        windows["lock held"] = (started, time.time())
        started = time.time()
        out["ingest_corpus_s"] = _cli(["ingest", str(CORPORA / "zh")], env)
        windows["live ingest"] = (started, time.time())
        stop.touch()
        for r in readers:
            r.wait(timeout=120)
        out["phases"] = _phases(log, windows)
        return out


def _count_ready(log: Path) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text(encoding="utf-8").splitlines() if '"ready"' in line)


def _phases(log: Path, windows: dict[str, tuple[float, float]]) -> dict[str, Any]:
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    searches = [r for r in rows if "t" in r]
    out: dict[str, Any] = {}
    for phase, (start, end) in windows.items():
        mine = [r for r in searches if start <= r["t"] < end]
        for kind in ("thread", "process"):
            these = [r for r in mine if r["reader"].startswith(kind)]
            times = [r["s"] for r in these]
            out[f"{phase}/{kind}"] = {
                "searches": len(these), "per_s": len(these) / (end - start) if end > start else 0.0,
                "p50_s": median(times), "p95_s": percentile(times, 95), "max_s": max(times, default=0.0),
                "errors": sum(1 for r in these if r["error"]), "empty": sum(1 for r in these if not r["hits"]),
                "first_error": next((r["error"] for r in these if r["error"]), ""),
                "window_s": end - start}
    return out


def section(result: dict[str, Any]) -> list[str]:
    rows = []
    for mode, data in result["modes"].items():
        for key, p in data["phases"].items():
            phase, kind = key.split("/")
            rows.append([mode, phase, f"{kind} ×{THREADS if kind == 'thread' else PROCESSES}", p["searches"],
                         f"{p['per_s']:.1f}", f"{p['p50_s']:.2f}", f"{p['p95_s']:.2f}", f"{p['max_s']:.2f}",
                         p["errors"], p["empty"]])
    ingests = "; ".join(f"{m}: {d['ingest_corpus_s']:.0f} s" for m, d in result["modes"].items())
    return [
        "## Readers while a writer works (issue 11 part 2)", "",
        f"`python -m bench.concurrency_bench` ({result['date']}, load average at start {result['load']}): the "
        f"sample policies in a new index; {THREADS} reader threads in one process and {PROCESSES} reader "
        "processes search it without pause (the dev questions, top 5, model and index warm) through three "
        f"phases of the same run: quiet ({result['seconds']:.0f} s); another process holding the writer lock "
        f"and idle ({result['seconds']:.0f} s); a live `xiaoshen ingest` of the nine Chinese laws into the same "
        f"index, start to end ({ingests}). A search counts in the phase it started in. Two cores: in the live "
        "ingest the readers share the CPU with the embedding model, which is what their latency shows there; "
        "the lock-held phase is the one that would show readers waiting for the writer.", "",
        *table(["store", "phase", "readers", "searches", "per s", "p50 s", "p95 s", "max s", "errors",
                "empty results"], rows),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--modes", default="embedded,server")
    parser.add_argument("--section", action="store_true", help="write the section of bench/RESULTS.md")
    parser.add_argument("--reader-child", nargs=3, metavar=("NAME", "STOP", "LOG"))
    parser.add_argument("--threads-child", nargs=2, metavar=("STOP", "LOG"))
    parser.add_argument("--hold-lock", type=float)
    a = parser.parse_args()
    if a.reader_child:
        _reader_loop(a.reader_child[0], Path(a.reader_child[1]), Path(a.reader_child[2]))
        return
    if a.threads_child:
        _threads_child(Path(a.threads_child[0]), Path(a.threads_child[1]))
        return
    if a.hold_lock is not None:
        _hold_lock(a.hold_lock)
        return
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="xiaoshen-concurrency-") as tmp:
        work = a.work or Path(tmp)
        result = {"date": time.strftime("%Y-%m-%d"), "load": load, "seconds": a.seconds,
                  "modes": {m: measure_mode(m, work, a.seconds) for m in a.modes.split(",")}}
    print(json.dumps(result, ensure_ascii=False))
    if a.section:
        replace_section(ROOT / "bench" / "RESULTS.md", section(result))


if __name__ == "__main__":
    main()
