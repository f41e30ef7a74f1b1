"""The clause index: Chroma (embedded or server) through LlamaIndex's vector store, and a BM25 keyword
index derived from the same records.

Chroma is the single source of truth. The keyword index is rebuilt from Chroma's stored texts whenever
the collection's build id changes (every write bumps it), so the two cannot drift apart; it is cached
on disk per build id so opening an unchanged index is fast.
"""

from __future__ import annotations

import math
import pickle
import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import MetadataFilters, VectorStoreQuery
from llama_index.core.vector_stores.utils import node_to_metadata_dict
from llama_index.vector_stores.chroma import ChromaVectorStore

from xiaoshen.embeddings import build_embedding
from xiaoshen.errors import IndexStoreError
from xiaoshen.settings import Settings
from xiaoshen.text import defined_acronyms, keyword_tokens, with_acronyms
from xiaoshen.types import Clause, DocumentSummary

_GET_PAGE = 5000  # Chroma caps how many records one get() may return


def _chroma_client(settings: Settings):  # type: ignore[no-untyped-def]
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if not url.hostname:
            raise IndexStoreError(f"Invalid XIAOSHEN_CHROMA_URL {settings.chroma_url!r}",
                                  "use a URL such as http://127.0.0.1:8000")
        try:
            return chromadb.HttpClient(host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https",
                                       settings=chroma_settings)
        except Exception as exc:
            raise IndexStoreError(f"Cannot reach the Chroma server at {settings.chroma_url}: {exc}",
                                  "start it with `chroma run` or unset XIAOSHEN_CHROMA_URL") from exc
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)


def clause_metadata(clause: Clause) -> dict[str, Any]:
    """Flat metadata stored beside each vector (Chroma accepts scalars only)."""
    meta: dict[str, Any] = {
        "doc_id": clause.doc_id,
        "title": clause.title,
        "version": clause.version,
        "effective_date": clause.effective_date.isoformat() if clause.effective_date else "",
        "status": clause.status,
        "declared_status": clause.status,
        "source": clause.source,
        "format": clause.format,
        "language": clause.language,
        "section": clause.section,
        "heading": clause.heading,
        "page_start": clause.page_start if clause.page_start is not None else -1,
        "page_end": clause.page_end if clause.page_end is not None else -1,
        "part": clause.part,
        "content_hash": clause.content_hash,
        "access": ",".join(clause.access),
        # One boolean per role so access can be filtered inside the store query (issue: roles).
        "access_public": not clause.access,
    }
    for role in clause.access:
        meta[f"role_{role}"] = True
    return meta


def clause_from_record(clause_id: str, text: str, meta: dict[str, Any]) -> Clause:
    """Rebuild a Clause from what Chroma stored."""
    effective = meta.get("effective_date") or None
    return Clause(
        clause_id=clause_id,
        doc_id=meta["doc_id"],
        title=meta.get("title", ""),
        version=str(meta.get("version", "1")),
        effective_date=date.fromisoformat(effective) if effective else None,
        status=meta.get("status", "current"),
        source=meta.get("source", ""),
        format=meta.get("format", ""),
        language=meta.get("language", "en"),
        access=[a for a in str(meta.get("access", "")).split(",") if a],
        section=meta.get("section", ""),
        heading=meta.get("heading", ""),
        page_start=None if meta.get("page_start", -1) in (-1, None) else int(meta["page_start"]),
        page_end=None if meta.get("page_end", -1) in (-1, None) else int(meta["page_end"]),
        part=int(meta.get("part", 0)),
        text=text,
        content_hash=meta.get("content_hash", ""),
    )


def cosines_to(vector: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Cosine of `vector` to each row of `matrix` (0 for a zero row)."""
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(vector) or 1.0)
    return (matrix @ vector) / np.where(norms == 0, 1.0, norms)


def searchable_text(clause: Clause) -> str:
    """What both retrievers see: the clause with its document title, heading path and number, so a
    question naming the policy ("CRE standards") or the topic of the chapter finds it."""
    return f"{clause.title}\n{clause.heading}\n{clause.section} {clause.text}".strip()


@dataclass
class KeywordIndex:
    """BM25 over every clause in the collection (jieba for Chinese, Snowball stems for English)."""

    build_id: str
    clauses: list[Clause]
    metadatas: list[dict[str, Any]]
    model: Any  # bm25s.BM25

    @cached_property
    def _document_frequency(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for clause in self.clauses:
            for token in set(keyword_tokens(searchable_text(clause), bigrams=False)):
                counts[token] += 1
        return dict(counts)

    def idf(self, token: str) -> float:
        """Inverse document frequency over clauses; a word the corpus never uses weighs the most."""
        return math.log((len(self.clauses) + 1) / (self._document_frequency.get(token, 0) + 0.5))

    def known(self, token: str) -> bool:
        return token in self._document_frequency

    def in_vocabulary(self, token: str) -> bool:
        """Whether BM25 indexed the token, Chinese character bigrams included (`known` counts words only)."""
        return token in self.model.vocab_dict

    @cached_property
    def acronyms(self) -> dict[str, tuple[str, ...]]:
        """Acronyms the policies define ("debt service coverage ratio (DSCR)") -> long-form tokens."""
        return defined_acronyms(c.text for c in self.clauses)

    def words(self, text: str) -> set[str]:
        """Keyword tokens of `text` (no bigrams) with the defined acronyms of the words it has."""
        return with_acronyms(set(keyword_tokens(text, bigrams=False)), self.acronyms)

    @cached_property
    def by_id(self) -> dict[str, Clause]:
        return {c.clause_id: c for c in self.clauses}

    @classmethod
    def build(cls, build_id: str, records: list[tuple[str, str, dict[str, Any]]]) -> KeywordIndex:
        import bm25s

        clauses = [clause_from_record(i, t, m) for i, t, m in records]
        corpus = [keyword_tokens(searchable_text(c)) or ["\u2205"] for c in clauses]
        model = bm25s.BM25()
        if corpus:
            model.index(corpus, show_progress=False)
        return cls(build_id, clauses, [m for _, _, m in records], model)

    def search(self, query: str, k: int, keep: Callable[[dict[str, Any]], bool]) -> list[tuple[Clause, float]]:
        tokens = keyword_tokens(query)
        # A question may use the acronym where the clause spells it out, or the other way round.
        tokens += sorted(with_acronyms(set(tokens), self.acronyms) - set(tokens))
        tokens = [t for t in tokens if t in self.model.vocab_dict] if self.clauses else []
        if not tokens:
            return []
        scores = np.asarray(self.model.get_scores(tokens), dtype=np.float64)
        order = np.argsort(-scores)
        hits: list[tuple[Clause, float]] = []
        for i in order:
            if scores[i] <= 0 or len(hits) >= k:
                break
            if keep(self.metadatas[i]):
                hits.append((self.clauses[i], float(scores[i])))
        return hits


class ClauseIndex:
    """Clauses in Chroma plus the keyword index beside them; the one place that reads or writes them."""

    def __init__(self, settings: Settings, embedding: BaseEmbedding | None = None) -> None:
        self.settings = settings
        self._embedding = embedding
        self._client = _chroma_client(settings)
        try:
            self.collection = self._client.get_or_create_collection(
                settings.collection,
                # No embedding function: Chroma's default would download an ONNX model.
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embed_model": settings.embedding.model, "build_id": "empty"},
            )
        except Exception as exc:
            raise IndexStoreError(f"Cannot open the Chroma collection {settings.collection!r}: {exc}") from exc
        stored_model = (self.collection.metadata or {}).get("embed_model")
        if stored_model and stored_model != settings.embedding.model:
            raise IndexStoreError(
                f"The index was built with the {stored_model!r} embedding model, settings ask for "
                f"{settings.embedding.model!r}",
                "set XIAOSHEN_EMBEDDING__MODEL to match, or use a new --index directory",
            )
        self.vector_store = ChromaVectorStore(chroma_collection=self.collection)
        self._keyword: KeywordIndex | None = None
        self._keyword_lock = threading.RLock()
        self._vector_lock = threading.Lock()
        self._query_vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._text_vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    # --- models -----------------------------------------------------------------------------------

    @property
    def embedding(self) -> BaseEmbedding:
        if self._embedding is None:
            self._embedding = build_embedding(self.settings.embedding)
        return self._embedding

    # --- reading ----------------------------------------------------------------------------------

    @property
    def build_id(self) -> str:
        return str((self.collection.metadata or {}).get("build_id", "empty"))

    def count(self) -> int:
        return int(self.collection.count())

    def records(self, where: dict[str, Any] | None = None,
                include_text: bool = True) -> list[tuple[str, str, dict[str, Any]]]:
        """(id, text, metadata) for every stored clause matching `where`, in pages."""
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        out: list[tuple[str, str, dict[str, Any]]] = []
        offset = 0
        while True:
            page = self.collection.get(where=where, include=include, limit=_GET_PAGE, offset=offset)
            ids = page["ids"]
            docs = page.get("documents") or [""] * len(ids)
            out.extend(zip(ids, docs, page["metadatas"], strict=True))
            if len(ids) < _GET_PAGE:
                return out
            offset += _GET_PAGE

    def clauses(self, where: dict[str, Any] | None = None) -> list[Clause]:
        return [clause_from_record(i, t, m) for i, t, m in self.records(where)]

    def documents(self) -> list[DocumentSummary]:
        """One summary per (doc id, version), from the clause metadata."""
        grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for _, _, meta in self.records(include_text=False):
            grouped[(meta["doc_id"], str(meta["version"]), meta["source"])].append(meta)
        summaries = []
        for (doc_id, version, source), metas in grouped.items():
            first = metas[0]
            effective = first.get("effective_date") or None
            summaries.append(DocumentSummary(
                doc_id=doc_id, title=first.get("title", ""), version=version,
                effective_date=date.fromisoformat(effective) if effective else None,
                status=first.get("status", "current"), language=first.get("language", "en"), source=source,
                format=first.get("format", ""), clauses=len(metas), content_hash=first.get("content_hash", ""),
                access=[a for a in str(first.get("access", "")).split(",") if a],
                consistent=len({m.get("content_hash") for m in metas}) == 1,
            ))
        return sorted(summaries, key=lambda s: (s.doc_id, s.effective_date or date.min, s.version))

    def source_hashes(self) -> dict[str, set[str]]:
        """Content hashes stored per source file (more than one means an interrupted write)."""
        hashes: dict[str, set[str]] = defaultdict(set)
        for _, _, meta in self.records(include_text=False):
            hashes[meta["source"]].add(meta.get("content_hash", ""))
        return dict(hashes)

    def keyword_index(self) -> KeywordIndex:
        """The BM25 index for the current build, from memory, the disk cache, or rebuilt from Chroma."""
        # Batch workers share one index: only one of them may (re)build and write the cache.
        with self._keyword_lock:
            return self._load_keyword_index()

    def _load_keyword_index(self) -> KeywordIndex:
        build_id = self.build_id
        if self._keyword is not None and self._keyword.build_id == build_id:
            return self._keyword
        cache = self._keyword_cache_path(build_id)
        if cache.exists():
            try:
                with cache.open("rb") as fh:
                    loaded = pickle.load(fh)  # our own file, written below
                if isinstance(loaded, KeywordIndex) and loaded.build_id == build_id:
                    self._keyword = loaded
                    return loaded
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
                pass  # a stale or partial cache is rebuilt
        self._keyword = KeywordIndex.build(build_id, self.records())
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(self._keyword, fh)
        tmp.replace(cache)
        for old in cache.parent.glob(f"{self.settings.collection}-*.pkl"):
            if old != cache:
                old.unlink(missing_ok=True)
        return self._keyword

    def _keyword_cache_path(self, build_id: str) -> Path:
        return self.settings.keyword_cache_dir / f"{self.settings.collection}-{build_id}.pkl"

    def dense_search(self, query: str, k: int, filters: MetadataFilters | None) -> list[tuple[Clause, float]]:
        """Nearest clauses by embedding, filtered inside the Chroma query; returns (clause, cosine)."""
        if self.count() == 0:
            return []
        vector = self.query_vector(query)
        result = self.vector_store.query(
            VectorStoreQuery(query_embedding=vector, similarity_top_k=k, filters=filters)
        )
        # Resolve ids through the keyword index's records: the node JSON LlamaIndex stores keeps the
        # metadata of the first write, while statuses change when a newer version arrives.
        by_id = self.keyword_index().by_id
        hits = []
        for node_id, similarity in zip(result.ids or [], result.similarities or [], strict=True):
            if node_id in by_id:
                # ChromaVectorStore reports exp(-distance); for cosine space that is exp(cos - 1).
                hits.append((by_id[node_id], 1.0 + float(np.log(max(similarity, 1e-12)))))
        return hits

    def query_vector(self, query: str) -> list[float]:
        """The query's embedding, remembered for the last few queries (search, rerank and the extractive
        backend each need it)."""
        with self._vector_lock:
            vector = self._query_vectors.get(query)
        if vector is None:
            vector = self.embedding.get_query_embedding(query)
            with self._vector_lock:
                self._query_vectors[query] = vector
                while len(self._query_vectors) > 64:
                    self._query_vectors.popitem(last=False)
        return vector

    def text_vectors(self, texts: list[str]) -> np.ndarray:
        """Embeddings of clause sentences, one row per text. The answer stage embeds the sentences of the
        same clauses for question after question (and rerank, draft and verification each need them), so
        the most recent ones are kept as float32 rows: about 3.5 kB each, 20,000 at most."""
        with self._vector_lock:
            known = {t: self._text_vectors[t] for t in texts if t in self._text_vectors}
            for text in known:
                self._text_vectors.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            # float32 rows, not the model's lists of Python floats (eight times the memory).
            computed = dict(zip(missing, np.asarray(self.embedding.get_text_embedding_batch(missing),
                                                    dtype=np.float32), strict=True))
            known.update(computed)
            with self._vector_lock:
                self._text_vectors.update(computed)
                while len(self._text_vectors) > 20_000:
                    self._text_vectors.popitem(last=False)
        return np.asarray([known[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)

    def query_cosines(self, query: str, texts: list[str]) -> np.ndarray:
        """Cosine of the query to each text (clause sentences, through the cache above)."""
        return cosines_to(np.asarray(self.query_vector(query), dtype=np.float32), self.text_vectors(texts))

    def dense_similarities(self, query: str, clause_ids: list[str]) -> dict[str, float]:
        """Cosine of the query to each given clause's stored vector (for clauses the nearest-neighbour
        search did not return)."""
        if not clause_ids:
            return {}
        stored = self.collection.get(ids=clause_ids, include=["embeddings"])
        vectors = np.asarray(stored["embeddings"], dtype=np.float32)
        if vectors.size == 0:
            return {}
        cosines = cosines_to(np.asarray(self.query_vector(query), dtype=np.float32), vectors)
        return dict(zip(stored["ids"], cosines.tolist(), strict=True))

    # --- writing ----------------------------------------------------------------------------------

    def embed_clauses(self, clauses: list[Clause]) -> list[list[float]]:
        texts = [searchable_text(c) for c in clauses]
        return self.embedding.get_text_embedding_batch(texts)

    def replace_source(self, source: str, clauses: list[Clause], embeddings: list[list[float]]) -> None:
        """Make `source` hold exactly these clauses: upsert the new ones, then drop every other id.

        Everything that can fail on bad input (reading, parsing, embedding) has happened before this
        call; the upsert and the delete are one store call each, so a document is never left half-written
        except by a crash between them, which the next ingest detects (two hashes) and repairs.
        """
        if clauses:
            nodes = []
            for clause, vector in zip(clauses, embeddings, strict=True):
                node = TextNode(id_=clause.clause_id, text=clause.text, metadata=clause_metadata(clause),
                                embedding=vector)
                # node_to_metadata_dict writes the node's ref_doc_id into "doc_id"; make that the policy id.
                node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=clause.doc_id)
                nodes.append(node)
            # LlamaIndex's ChromaVectorStore.add() has no upsert; we write the same record format it
            # reads back (node_to_metadata_dict) through the collection's upsert.
            for start in range(0, len(nodes), _GET_PAGE):
                chunk = nodes[start:start + _GET_PAGE]
                self.collection.upsert(
                    ids=[n.node_id for n in chunk],
                    embeddings=[n.get_embedding() for n in chunk],
                    metadatas=[node_to_metadata_dict(n, remove_text=True, flat_metadata=True) for n in chunk],
                    documents=[n.get_content() for n in chunk],
                )
        keep = {c.clause_id for c in clauses}
        stale = [i for i, _, _ in self.records({"source": source}, include_text=False) if i not in keep]
        if stale:
            self.collection.delete(ids=stale)
        self._bump_build()

    def delete_source(self, source: str) -> int:
        ids = [i for i, _, _ in self.records({"source": source}, include_text=False)]
        if ids:
            self.collection.delete(ids=ids)
            self._bump_build()
        return len(ids)

    def set_status(self, ids: Iterable[str], status: str) -> None:
        """Mark clauses current or superseded (after a newer version arrives or leaves)."""
        ids = list(ids)
        if not ids:
            return
        page = self.collection.get(ids=ids, include=["metadatas"])
        metas = [{**m, "status": status} for m in page["metadatas"]]
        self.collection.update(ids=page["ids"], metadatas=metas)
        self._bump_build()

    def _bump_build(self) -> None:
        metadata = dict(self.collection.metadata or {})
        metadata["build_id"] = uuid.uuid4().hex[:16]
        metadata["embed_model"] = self.settings.embedding.model
        self.collection.modify(metadata=metadata)
