"""Ingest throughput and re-ingest, each pipeline in its own process so its peak memory is its own.

    python -m bench.ingest_bench xiaoshen  --name NAME --work DIR PATH...   # our pipeline (+ re-ingest)
    python -m bench.ingest_bench llamaindex --name NAME --work DIR PATH...  # LlamaIndex's default pipeline
    python -m bench.ingest_bench floor --name NAME --work DIR               # the model alone, same texts

Every pipeline uses the same embedding (`build_embedding(settings)`), wrapped to count its calls. The
Xiaoshen run leaves its index, and the LlamaIndex run its Chroma collection, in DIR/NAME for the
retrieval benchmark.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import xiaoshen  # noqa: F401  (offline environment before any model library loads)
from bench.common import CHARS_PER_PAGE, CountingEmbedding, count_pages, emit, ratio, run_child, table
from ingest.pipeline import discover, ingest
from xiaoshen.embeddings import build_embedding
from xiaoshen.index import ClauseIndex, searchable_text
from xiaoshen.settings import Settings, load_settings

LLAMA_COLLECTION = "llamaindex_default"
EDIT = "\n\nThis paragraph was added by the re-ingest benchmark to change one document.\n"


def xiaoshen_settings(work: Path, name: str) -> Settings:
    return load_settings(index_dir=work / name / "xiaoshen" / "index", cache_dir=work / name / "xiaoshen" / "cache")


def _copy_sources(paths: list[Path], dest: Path) -> list[Path]:
    """A private copy of the corpus, so one of its documents can be edited."""
    copies = []
    for path in paths:
        target = dest / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        target.chmod(0o755 if path.is_dir() else 0o644)
        for child in target.rglob("*"):
            child.chmod(0o755 if child.is_dir() else 0o644)  # shared/ is read-only; the copy must not be
        copies.append(target)
    return copies


def run_xiaoshen(name: str, work: Path, paths: list[Path]) -> dict[str, Any]:
    settings = xiaoshen_settings(work, name)
    sources = _copy_sources(paths, work / name / "src")
    started = time.perf_counter()
    embedding = CountingEmbedding(build_embedding(settings.embedding))
    load_s = time.perf_counter() - started
    index = ClauseIndex(settings, embedding=embedding)

    started = time.perf_counter()
    report = ingest(sources, index=index)
    ingest_s = time.perf_counter() - started
    clauses = index.clauses()
    texts = [searchable_text(c) for c in clauses]
    (work / name / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    result: dict[str, Any] = {
        "files": len(report.outcomes), "failed": len(report.failed), "chunks": len(clauses),
        "chars": sum(len(t) for t in texts), "load_s": load_s, "ingest_s": ingest_s,
        "calls": embedding.calls, "texts": embedding.texts,
    }

    embedding.reset()
    started = time.perf_counter()
    ingest(sources, index=index)
    result["unchanged"] = {"seconds": time.perf_counter() - started, "calls": embedding.calls,
                           "texts": embedding.texts}

    # Edit a mid-sized text document (PDF/DOCX cannot be edited by appending), then put it back.
    editable = sorted((p for p in discover(sources) if p.suffix.lower() in {".md", ".txt", ".html"}),
                      key=lambda p: (p.stat().st_size, p.name))
    target = editable[len(editable) // 2]
    original = target.read_text(encoding="utf-8")
    target.write_text(original + EDIT, encoding="utf-8")
    embedding.reset()
    started = time.perf_counter()
    changed = ingest(sources, index=index)
    result["changed"] = {"seconds": time.perf_counter() - started, "calls": embedding.calls,
                         "texts": embedding.texts, "file": target.name,
                         "file_clauses": changed.embedded_clauses}
    target.write_text(original, encoding="utf-8")
    ingest(sources, index=index)  # the retrieval benchmark reads the index as the corpus really is
    return result


def run_llamaindex(name: str, work: Path, paths: list[Path]) -> dict[str, Any]:
    """LlamaIndex's documented default: SimpleDirectoryReader → SentenceSplitter → VectorStoreIndex on Chroma."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    settings = xiaoshen_settings(work, name)
    started = time.perf_counter()
    embedding = CountingEmbedding(build_embedding(settings.embedding))
    load_s = time.perf_counter() - started
    client = chromadb.PersistentClient(path=str(work / name / "llama"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    # No embedding function on the collection: Chroma's default would download a model; LlamaIndex always
    # passes its own vectors, so this changes nothing else.
    collection = client.get_or_create_collection(LLAMA_COLLECTION, embedding_function=None)

    started = time.perf_counter()
    documents = SimpleDirectoryReader(input_files=[str(p) for p in discover(paths)],
                                      file_extractor=baseline_file_readers()).load_data()
    VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=ChromaVectorStore(collection)),
        embed_model=embedding, transformations=[SentenceSplitter()],
    )
    ingest_s = time.perf_counter() - started
    stored = collection.get(include=["documents"])
    return {"files": len({d.metadata.get("file_path") for d in documents}), "chunks": len(stored["ids"]),
            "chars": sum(len(t or "") for t in stored["documents"] or []), "load_s": load_s,
            "ingest_s": ingest_s, "calls": embedding.calls, "texts": embedding.texts}


def baseline_file_readers() -> dict[str, Any]:
    """What SimpleDirectoryReader uses for PDF and DOCX when llama-index-readers-file is installed.

    That package pins pandas<3 and cannot be installed beside this project (streamlit brings pandas 3);
    without it SimpleDirectoryReader decodes a PDF's or DOCX's raw bytes as text. These two readers do
    what its PDFReader (pypdf, one Document per page, `page_label`) and DocxReader (the document's text)
    do, on the same libraries; every other suffix (.md, .txt, .html) is read as plain text, as
    SimpleDirectoryReader does in a full LlamaIndex install."""
    from llama_index.core import Document
    from llama_index.core.readers.base import BaseReader

    class PDFPages(BaseReader):
        def load_data(self, file: Path, extra_info: dict[str, Any] | None = None,
                      **_: Any) -> list[Document]:
            from pypdf import PdfReader

            return [Document(text=page.extract_text() or "", metadata={"page_label": str(n), **(extra_info or {})})
                    for n, page in enumerate(PdfReader(str(file)).pages, start=1)]

    class DocxText(BaseReader):
        def load_data(self, file: Path, extra_info: dict[str, Any] | None = None,
                      **_: Any) -> list[Document]:
            import docx

            document = docx.Document(str(file))
            parts = [p.text for p in document.paragraphs]
            parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
            return [Document(text="\n".join(parts), metadata=extra_info or {})]

    return {".pdf": PDFPages(), ".docx": DocxText()}


def run_floor(name: str, work: Path) -> dict[str, Any]:
    """The same model embedding exactly the texts Xiaoshen embedded, and nothing else."""
    texts = json.loads((work / name / "texts.json").read_text(encoding="utf-8"))
    started = time.perf_counter()
    embedding = CountingEmbedding(build_embedding(load_settings().embedding))
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    embedding.get_text_embedding_batch(texts)
    return {"chunks": len(texts), "chars": sum(len(t) for t in texts), "load_s": load_s,
            "ingest_s": time.perf_counter() - started, "calls": embedding.calls, "texts": embedding.texts}


# --- orchestration (called by bench/run.py) ----------------------------------------------------------------

def measure(work: Path, corpora: dict[str, list[Path]]) -> tuple[list[str], dict[str, Any]]:
    """Run the three pipelines on each corpus; return the RESULTS.md section and the raw figures."""
    raw: dict[str, Any] = {}
    rows, reingest_rows = [], []
    for name, paths in corpora.items():
        pages = count_pages(paths)
        args = ["--name", name, "--work", str(work), *map(str, paths)]
        runs = {
            "Xiaoshen": run_child(["bench.ingest_bench", "xiaoshen", *args]),
            "LlamaIndex default": run_child(["bench.ingest_bench", "llamaindex", *args]),
            "floor: embedding only": run_child(["bench.ingest_bench", "floor", "--name", name, "--work", str(work)]),
        }
        raw[name] = {k: {**r.data, "peak_rss_mb": r.peak_rss_mb, "pages": pages} for k, r in runs.items()}
        ours = runs["Xiaoshen"].data
        for label, run in runs.items():
            d = run.data
            rows.append([name, label, d["chunks"], f"{d['chars']:,}", f"{pages:.0f}", f"{d['load_s']:.1f}",
                         f"{d['ingest_s']:.1f}", f"{pages / d['ingest_s']:.2f}", f"{d['chunks'] / d['ingest_s']:.1f}",
                         f"{run.peak_rss_mb:.0f}", d["calls"],
                         "—" if label == "Xiaoshen" else ratio(ours["ingest_s"], d["ingest_s"])])
        llama = runs["LlamaIndex default"].data
        for case in ("unchanged", "changed"):
            r = ours[case]
            what = "unchanged corpus" if case == "unchanged" else f"one document changed ({r['file']})"
            reingest_rows.append([name, what, f"{r['seconds']:.2f}", r["calls"], r["texts"],
                                  f"{llama['ingest_s']:.1f}", llama["calls"], ratio(r["seconds"], llama["ingest_s"]),
                                  ratio(r["calls"], llama["calls"])])
    lines = [
        "## 1. Ingest throughput", "",
        "Each pipeline runs in its own process (peak RSS = that process's high-water mark, model included) with "
        "the same embedding, `build_embedding(settings)` (`minilm+use`). *Seconds* exclude loading the model "
        f"(shown apart). Pages: PDFs count their pages, other formats one page per {CHARS_PER_PAGE:,} characters "
        "of text. *Chunks* are Xiaoshen's clauses, LlamaIndex's nodes, or the texts the floor embeds "
        "(exactly Xiaoshen's clause texts). *vs* = Xiaoshen's seconds ÷ that row's seconds: the issue's "
        "targets are ≤ 1.2× the floor and < 1× LlamaIndex. LlamaIndex's PDF and DOCX readers come from "
        "`llama-index-readers-file`, which pins pandas < 3 and cannot be installed beside this project, so the "
        "baseline uses stand-ins on the same libraries (pypdf per page, the DOCX text; "
        "`baseline_file_readers()` in bench/ingest_bench.py); Markdown is read as plain text, as "
        "SimpleDirectoryReader does.", "",
        *table(["corpus", "pipeline", "chunks", "characters embedded", "pages", "model load s", "seconds",
                "pages/s", "chunks/s", "peak RSS MB", "embedding calls", "Xiaoshen vs"], rows),
        "## 2. Re-ingest", "",
        "After the ingest above, the same corpus again, then with one document edited (a paragraph appended). "
        "Embedding calls are counted by wrapping the model (one call = one batch of up to "
        "`embedding.batch_size` texts). LlamaIndex's default pipeline has no change detection: running it "
        "again re-reads and re-embeds everything, so its figure is its full ingest, measured above.", "",
        *table(["corpus", "case", "Xiaoshen s", "embedding calls", "texts embedded", "LlamaIndex default s",
                "LlamaIndex calls", "time ratio", "calls ratio"], reingest_rows),
    ]
    return lines, raw


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pipeline", choices=["xiaoshen", "llamaindex", "floor"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("paths", nargs="*", type=Path)
    a = parser.parse_intermixed_args()
    if a.pipeline == "xiaoshen":
        emit(run_xiaoshen(a.name, a.work, a.paths))
    elif a.pipeline == "llamaindex":
        emit(run_llamaindex(a.name, a.work, a.paths))
    else:
        emit(run_floor(a.name, a.work))


if __name__ == "__main__":
    main()
