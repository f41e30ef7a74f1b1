"""Query latency and memory at 1k, 10k and 100k clauses, on embedded Chroma and on a `chroma run` server.

The scale-up corpus is made from the real clauses (sample policies, then ../shared/corpora): the first
copy is the clauses themselves, every further copy repeats them under a new doc id ("… (copy n)") with
their stored vector nudged by a small deterministic random perturbation and re-normalised. Embedding 100k
clauses on two cores would take about an hour, so each distinct clause is embedded once (by the ingest
benchmark) and its vector reused; the records are written straight into the Chroma collection in the
format ClauseIndex writes, so search, `ask` and the app read them as they read an ingested index.

    python -m bench.scale_bench grow --dir D --to N SEED_INDEX...     # grow D's index to N clauses
    python -m bench.scale_bench latency --dir D [--chroma-url U]      # search / ask / LlamaIndex p50, p95
    python -m bench.scale_bench ask --dir D                           # one `ask`, for its peak RSS
    python -m bench.scale_bench model                                 # the embedding model alone (floor)
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import xiaoshen  # noqa: F401  (offline environment before any model library loads)
from bench.common import DEV_FILE, ROOT, emit, median, percentile, ratio, run_child, table, tree_rss_mb
from xiaoshen.settings import Settings, load_settings

ASK_QUESTION = "What is the maximum LTV for an owner-occupied CRE loan, and who can approve an exception?"
PAGE = 5000
# Per size and store: 50 questions, so p95 is not simply the slowest one.
MAX_QUERIES = 50


def scale_settings(directory: Path, chroma_url: str | None = None) -> Settings:
    # The keyword cache sits where the CLI and the app look by default (beside the index directory).
    return load_settings(index_dir=directory / "index", cache_dir=directory / "keyword-cache", chroma_url=chroma_url)


def grow(directory: Path, target: int, seed_dirs: list[Path]) -> dict[str, Any]:
    """Add synthetic clauses until the index holds `target`; build (and cache) its keyword index."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from xiaoshen.index import ClauseIndex

    seeds: dict[str, list[Any]] = {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
    for seed in seed_dirs:
        client = chromadb.PersistentClient(path=str(seed), settings=ChromaSettings(anonymized_telemetry=False))
        got = client.get_collection(load_settings().collection).get(include=["documents", "metadatas", "embeddings"])
        for key in seeds:
            seeds[key].extend(list(got[key]))
    vectors = np.asarray(seeds["embeddings"], dtype=np.float32)
    index = ClauseIndex(scale_settings(directory))
    start, n = index.count(), len(seeds["ids"])
    started = time.perf_counter()
    for first in range(start, target, PAGE):
        ids, docs, metas, embs = [], [], [], []
        for g in range(first, min(first + PAGE, target)):
            copy, j = divmod(g, n)
            meta = dict(seeds["metadatas"][j])
            vector = vectors[j]
            if copy:
                meta.update(doc_id=f"{meta['doc_id']}~{copy}", title=f"{meta['title']} (copy {copy})",
                            source=f"{meta['source']}~{copy}")
                noise = np.random.default_rng(g).normal(0.0, 0.02, vector.shape).astype(np.float32)
                vector = vector + noise * float(np.linalg.norm(vector)) / np.sqrt(vector.size)
                vector = vector / np.linalg.norm(vector)
            ids.append(seeds["ids"][j] + (f"~{copy}" if copy else ""))
            # The copy's title says it is a copy; its text is the clause's own, so the per-clause work
            # ingest stores (sentence tokens and vectors, keyed by text) is shared with the original's.
            docs.append(seeds["documents"][j])
            metas.append(meta)
            embs.append(vector.tolist())
        index.collection.upsert(ids=ids, documents=docs, metadatas=metas, embeddings=embs)
    write_s = time.perf_counter() - started
    # What ingest stores per clause while the document is in hand (ClauseIndex.embed_clauses), for the
    # distinct texts: every copy's sentences are an original's.
    from xiaoshen.index import clause_sentences, clause_units

    started = time.perf_counter()
    units = [u for text in dict.fromkeys(seeds["documents"]) for u in clause_units(text)]
    sentences = [x for text in dict.fromkeys(seeds["documents"]) for x in clause_sentences(text)]
    index.sentences.prepare([*seeds["documents"], *units, *sentences], units, index.embedding.get_text_embedding_batch,
                            index.vector_model())
    sentences_s = time.perf_counter() - started
    index._bump_build()  # what every ClauseIndex write does: the keyword index follows the new build
    started = time.perf_counter()
    index.keyword_index()
    return {"clauses": index.count(), "seeds": n, "write_s": write_s, "sentences_s": sentences_s,
            "keyword_build_s": time.perf_counter() - started}


def questions(limit: int) -> list[str]:
    rows = [json.loads(line) for line in DEV_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows][:limit]


def latency(directory: Path, chroma_url: str | None, n: int) -> dict[str, Any]:
    """p50/p95 of search, extractive ask and LlamaIndex's default retriever over the same store."""
    from llama_index.core import VectorStoreIndex

    from xiaoshen.answer.engine import answer
    from xiaoshen.embeddings import build_embedding
    from xiaoshen.index import ClauseIndex
    from xiaoshen.retrieve import search

    settings = scale_settings(directory, chroma_url)
    embedding = build_embedding(settings.embedding)
    started = time.perf_counter()
    index = ClauseIndex(settings, embedding=embedding)
    index.keyword_index()  # opening an index means loading its BM25 cache: part of the first query's cost
    open_s = time.perf_counter() - started
    llama = VectorStoreIndex.from_vector_store(index.vector_store, embed_model=embedding.as_llama_index()).as_retriever(
        similarity_top_k=settings.retrieval.top_k)
    qs = questions(min(n, MAX_QUERIES) + 2)
    started = time.perf_counter()
    first = answer(ASK_QUESTION, index=index, settings=settings, backend="extractive")
    first_answer_s = time.perf_counter() - started  # the first answer of a new process, index already open
    for q in qs[:2]:  # warm-up: first calls allocate model buffers (answer() too: rerank and the draft)
        search(q, index=index, settings=settings)
        answer(q, index=index, settings=settings, backend="extractive")
        llama.retrieve(q)
    timings: dict[str, list[float]] = {"search": [], "ask": [], "llamaindex": []}
    for q in qs[2:]:
        t = time.perf_counter()
        search(q, index=index, settings=settings)
        timings["search"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        answer(q, index=index, settings=settings, backend="extractive")
        timings["ask"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        llama.retrieve(q)
        timings["llamaindex"].append((time.perf_counter() - t) * 1000)
    out: dict[str, Any] = {"clauses": index.count(), "open_s": open_s, "first_answer_s": first_answer_s,
                           "first_abstained": first.abstained, "queries": len(qs) - 2}
    for key, values in timings.items():
        out[f"{key}_p50"], out[f"{key}_p95"] = median(values), percentile(values, 95)
        out[f"{key}_max"] = max(values, default=0.0)
    return out


def ask_once(directory: Path) -> dict[str, Any]:
    """What `xiaoshen ask` does, in a fresh process: settings, index, one extractive answer."""
    from xiaoshen.answer.engine import answer
    from xiaoshen.index import ClauseIndex

    started = time.perf_counter()
    settings = scale_settings(directory)
    result = answer(ASK_QUESTION, index=ClauseIndex(settings), settings=settings, backend="extractive")
    # Cold: from settings to the first answer in a new process (the model loads, the index opens).
    cold_s = time.perf_counter() - started
    return {"clauses": ClauseIndex(settings).count(), "abstained": result.abstained, "cold_first_answer_s": cold_s}


def model_only() -> dict[str, Any]:
    from xiaoshen.embeddings import build_embedding

    build_embedding(load_settings().embedding).get_query_embedding("warm up")
    return {}


# --- servers ---------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing listened on port {port} within {seconds:.0f} s")


@contextmanager
def chroma_server(path: Path) -> Iterator[tuple[str, int]]:
    """`chroma run` from the installed chromadb on 127.0.0.1, serving `path`; yields (url, pid)."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    port = _free_port()
    proc = subprocess.Popen([chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _run_page(ws: Any, states: list[Any]) -> dict[str, str]:
    """Send one script run with these widget states; wait for it to finish; return the widgets shown
    (label -> id). A run that ends in st.rerun() is followed to the run after it."""
    from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: TID251
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: TID251

    msg = BackMsg()
    msg.rerun_script.query_string = ""
    msg.rerun_script.page_script_hash = ""
    msg.rerun_script.widget_states.widgets.extend(states)
    ws.send(msg.SerializeToString())
    widgets: dict[str, str] = {}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        forward = ForwardMsg()
        forward.ParseFromString(ws.recv(timeout=deadline - time.monotonic()))
        kind = forward.WhichOneof("type")
        if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
            element = forward.delta.new_element
            widget = getattr(element, element.WhichOneof("type") or "", None)
            if element.WhichOneof("type") == "chat_input":
                widgets["chat_input"] = widget.id
            elif widget is not None and hasattr(widget, "id") and hasattr(widget, "label"):
                widgets[widget.label] = widget.id
        elif kind == "script_finished" and forward.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            return widgets
        elif kind == "script_finished":
            widgets = {}  # the run ended in st.rerun(): only the next run's widgets count
    raise TimeoutError("the app's script did not finish within 600 s")


def app_rss(directory: Path) -> dict[str, Any]:
    """Start the Streamlit app headless on the index, open the page over its websocket (signing in as the
    documented demo officer when the app asks, and asking one question when the page has a chat box), and
    read the RSS of the app's process tree."""
    import os

    from streamlit.proto.Common_pb2 import ChatInputValue  # noqa: TID251
    from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: TID251
    from websockets.sync.client import connect

    from xiaoshen.settings import Settings as SettingsModel

    port = _free_port()
    settings = scale_settings(directory)
    env = {"XIAOSHEN_INDEX_DIR": str(settings.index_dir), "XIAOSHEN_CACHE_DIR": str(settings.cache_dir)}
    if "access" in SettingsModel.model_fields:  # sign-in: keep the bench's sign-in out of the real audit log
        env["XIAOSHEN_ACCESS__AUDIT_LOG"] = str(directory / "audit.jsonl")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "Home.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc)
        idle, _ = tree_rss_mb(proc.pid)
        started = time.perf_counter()
        signed_in = asked = False
        with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],  # type: ignore[list-item]
                     max_size=None, open_timeout=30) as ws:
            widgets = _run_page(ws, [])
            if "Username" in widgets and "Password" in widgets:
                states = [WidgetState(id=widgets["Username"], string_value="officer"),
                          WidgetState(id=widgets["Password"], string_value="demo-officer")]
                states += [WidgetState(id=wid, trigger_value=True) for label, wid in widgets.items()
                           if label == "Sign in"]
                widgets = _run_page(ws, states)
                signed_in = "Username" not in widgets
            if "chat_input" in widgets:  # one question, so the model and the keyword index are loaded too
                _run_page(ws, [WidgetState(id=widgets["chat_input"], chat_input_value=ChatInputValue(data=ASK_QUESTION))])
                asked = True
        page_s = time.perf_counter() - started
        rss, hwm = tree_rss_mb(proc.pid)
        return {"idle_rss_mb": idle, "rss_mb": rss, "peak_rss_mb": hwm, "page_s": page_s, "signed_in": signed_in,
                "asked": asked}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- orchestration (called by bench/run.py) ----------------------------------------------------------------

def measure(work: Path, seeds: list[Path], sizes: list[int],
            queries: int) -> tuple[tuple[list[str], list[str]], dict[str, Any]]:
    """Sections 4 (latency) and 6 (memory) of RESULTS.md, and the raw figures."""
    directory = work / "scale"
    raw: dict[str, Any] = {"sizes": {}}
    lat_rows, build_rows, mem_rows = [], [], []
    floor = run_child(["bench.scale_bench", "model"])
    raw["model_only_rss_mb"] = floor.peak_rss_mb
    for size in sizes:
        built = run_child(["bench.scale_bench", "grow", "--dir", str(directory), "--to", str(size), *map(str, seeds)])
        entry: dict[str, Any] = {"build": built.data}
        build_rows.append([f"{built.data['clauses']:,}", f"{built.data['write_s']:.1f}",
                           f"{built.data['sentences_s']:.1f}", f"{built.data['keyword_build_s']:.1f}"])
        embedded = run_child(["bench.scale_bench", "latency", "--dir", str(directory), "--queries", str(queries)])
        with chroma_server(directory / "index") as (url, pid):
            server = run_child(["bench.scale_bench", "latency", "--dir", str(directory), "--queries", str(queries),
                                "--chroma-url", url])
            server_rss = tree_rss_mb(pid)
        entry.update(embedded=embedded.data, server=server.data, server_rss_mb=server_rss[0])
        ends = size in (sizes[0], sizes[-1])  # memory at the smallest and the largest size
        asked = run_child(["bench.scale_bench", "ask", "--dir", str(directory)]) if ends else None
        entry["ask_peak_rss_mb"] = asked.peak_rss_mb if asked else None
        if ends:
            try:
                entry["app"] = app_rss(directory)
            except Exception as exc:  # the app is another issue's moving part: report, don't lose the run
                entry["app_error"] = f"{type(exc).__name__}: {exc}"
        raw["sizes"][size] = entry
        for where, run in (("embedded", embedded), ("server", server)):
            d = run.data
            lat_rows.append([f"{d['clauses']:,}", where, f"{d['open_s']:.1f}", f"{d['first_answer_s']:.2f}",
                             f"{d['search_p50']:.0f}", f"{d['search_p95']:.0f}", f"{d['ask_p50']:.0f}",
                             f"{d['ask_p95']:.0f}", f"{d['ask_max']:.0f}",
                             f"{d['llamaindex_p50']:.0f}", f"{d['llamaindex_p95']:.0f}",
                             ratio(d["search_p50"], d["llamaindex_p50"])])
        app = entry.get("app")
        if asked is None:
            continue
        mem_rows.append([f"{built.data['clauses']:,}", f"{asked.seconds:.1f}", f"{asked.data['cold_first_answer_s']:.1f}",
                         f"{asked.peak_rss_mb:.0f}",
                         ratio(asked.peak_rss_mb, floor.peak_rss_mb),
                         f"{app['peak_rss_mb']:.0f}" if app else "—",
                         f"{app['rss_mb']:.0f}" if app else entry.get("app_error", "—"),
                         f"{server_rss[0]:.0f}"])
    first, last = raw["sizes"][sizes[0]], raw["sizes"][sizes[-1]]
    growth = []
    for where in ("embedded", "server"):
        for key in ("search", "ask", "llamaindex"):
            growth.append(f"{where} {key} ×{last[where][f'{key}_p50'] / max(first[where][f'{key}_p50'], 1e-9):.1f}")
    size_ratio = last["build"]["clauses"] / first["build"]["clauses"]
    latency_lines = [
        "## 4. Query latency at scale", "",
        "Synthetic scale-up corpus made from the real clauses (module docstring of bench/scale_bench.py): each "
        "distinct clause is embedded once and its vector reused, with a small deterministic perturbation, for "
        "its copies, written straight into the Chroma collection in ClauseIndex's format (embedding 100k clauses "
        "on two cores would not fit the 30-minute budget). "
        f"{raw['sizes'][sizes[0]]['embedded']['queries']} dev questions per size after one first answer and "
        "two warm-up questions (search and answer); milliseconds per query. *open s*: opening the index in a "
        "fresh process (Chroma + the cached BM25 index); *first answer s*: the first `answer()` after that, in "
        "the same process (section 6 has the cold figure, model loading included). *LlamaIndex retriever* is `VectorStoreIndex.from_vector_store(...).as_retriever()` over the "
        "same collection: dense only, no BM25, no filters — the floor a plain LlamaIndex app pays. *search vs "
        "LlamaIndex* = search p50 ÷ LlamaIndex p50.", "",
        *table(["clauses", "Chroma", "open s", "first answer s", "search p50", "search p95", "ask p50", "ask p95",
                "ask max",
                "LlamaIndex retriever p50", "LlamaIndex p95", "search vs LlamaIndex"], lat_rows),
        f"Growth of p50 from {first['build']['clauses']:,} to {last['build']['clauses']:,} clauses "
        f"(×{size_ratio:.0f} clauses): " + ", ".join(growth) + ".", "",
        "Building the synthetic index (not part of any user-facing latency):", "",
        *table(["clauses", "Chroma write s", "sentence store s", "BM25 build s"], build_rows),
    ]
    memory_lines = [
        "## 6. Memory", "",
        "*ask*: a fresh process doing what `xiaoshen ask` does (settings, index, one extractive answer), peak "
        "RSS; *cold ask process*: that process from its start to its exit, imports included (what a user of "
        "`xiaoshen ask` waits); *cold first answer*: its time from settings to the answer, model loading "
        "included, imports not; baseline: a process that only loads the embedding model and embeds one query "
        f"({floor.peak_rss_mb:.0f} MB). *app*: `streamlit run app/Home.py` headless, driven over its own "
        "websocket: the page requested once, signed in as the documented demo officer when it asks, and one "
        "question typed into its chat box (so the model and the keyword index load, as for a real user); RSS "
        "of the app's process tree (peak = sum of each process's high-water mark). "
        "*Chroma server*: RSS of `chroma run` after the latency run.",
        "",
        *table(["clauses", "cold ask process s", "cold first answer s", "ask peak RSS MB", "ask vs model alone", "app peak RSS MB", "app RSS after page MB",
                "Chroma server RSS MB"], mem_rows),
    ]
    return (latency_lines, memory_lines), raw


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["grow", "latency", "ask", "model"])
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--to", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--chroma-url")
    parser.add_argument("seeds", nargs="*", type=Path)
    a = parser.parse_intermixed_args()
    if a.command == "grow":
        emit(grow(a.dir, a.to, a.seeds))
    elif a.command == "latency":
        emit(latency(a.dir, a.chroma_url, a.queries))
    elif a.command == "ask":
        emit(ask_once(a.dir))
    else:
        emit(model_only())


if __name__ == "__main__":
    main()
