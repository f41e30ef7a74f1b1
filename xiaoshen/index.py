"""The clause index: Chroma (embedded or server) through LlamaIndex's vector store, and a BM25 keyword
index derived from the same records.

Chroma is the single source of truth. Beside the clause collection, a small `<collection>__documents`
collection holds one commit record (a manifest) per source file: its content hash, the write id of the
clauses that make up its committed version, their count and digest, plus the document's statistics
(document frequencies, clause count, defined acronyms) and the corpus totals they sum to. They live in
Chroma, not in files beside the index, because in server mode there is no local index directory and
every client must see the same commits.

A write is atomic per document. The new clauses go in under record ids of their own (`<clause id>@<write
id>`), so they never overwrite the committed version; the manifest naming the new write id is written
after them and is the commit; the old version's records are deleted after it. Readers and the keyword
index admit only clauses whose write id a manifest commits, so they see the old version or the new one,
never both and never half of one. Records no manifest speaks for (written straight into the collection, or
by a version before commit records) are adopted when all of a source's records agree on one version.

Every write marks the collection `writing` until the writer's session ends, and runs under an
inter-process writer lock (`flock`, as the audit log does). An open that finds the mark and can take the
lock at once knows the writer died: it drops uncommitted and superseded records, clears interrupted
commits and bumps the build id. Readers never wait for the lock. The keyword index is cached on disk per
build id together with the per-document (write id, count, digest) it was built from, and is rebuilt when
those differ from the manifests; it is not cached while a write is in progress.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import math
import os
import pickle
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from xiaoshen.embeddings import Embedder, build_embedding
from xiaoshen.errors import IndexStoreError
from xiaoshen.index_folder import IndexFolder, open_index_folder
from xiaoshen.query import Query, version_key
from xiaoshen.sentence_store import SentenceStore
from xiaoshen.settings import Settings
from xiaoshen.text import (
    acronym_definitions,
    keyword_token_pair,
    keyword_tokens,
    term_definitions,
    with_acronyms,
)
from xiaoshen.types import Clause, DocumentSummary

if TYPE_CHECKING:
    # LlamaIndex is imported where it writes records or serves its own retriever, never on the way to an
    # answer: `llama_index.core` costs 2.3 s of a cold process.
    from llama_index.vector_stores.chroma import ChromaVectorStore

_GET_PAGE = 5000  # Chroma caps how many records one get() may return
_WRITE_BATCH = 5000  # clauses per upsert call
KEYWORD_FORMAT = 9  # layout of the pickled KeywordIndex and its postings files; older caches are rebuilt
_POSTINGS = ("data", "indices", "indptr")  # bm25s's score matrix (CSC), kept in .npy files beside the pickle
LEGACY_WRITE = "legacy"  # the write id of records stored before write ids existed
_TOTALS_ID = "totals"


def _chroma_client(settings: Settings, folder: IndexFolder | None = None):  # type: ignore[no-untyped-def]
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
    folder = folder or open_index_folder(settings.index_dir)
    return chromadb.PersistentClient(path=str(folder.path), settings=chroma_settings)


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
        "normalised": ",".join(clause.normalised),
        "suspicious": clause.suspicious,
        "suspicious_reason": clause.suspicious_reason,
        # Text recognised from a scan: the app says so beside the citation (issue 15).
        "ocr": clause.ocr,
        "ocr_confidence": clause.ocr_confidence if clause.ocr_confidence is not None else -1.0,
        "ocr_pages": ";".join(f"{page}:{conf}" for page, conf in sorted(clause.ocr_pages.items())),
    }
    for role in clause.access:
        meta[f"role_{role}"] = True
    return meta


def record_id(clause_id: str, write_id: str) -> str:
    """The Chroma id of a clause as one write stored it: a new version never overwrites the committed one."""
    return f"{clause_id}@{write_id}"


def write_of(meta: dict[str, Any]) -> str:
    return str(meta.get("write_id") or LEGACY_WRITE)


def clause_from_record(clause_id: str, text: str, meta: dict[str, Any]) -> Clause:
    """Rebuild a Clause from what Chroma stored (`clause_id` is the record id)."""
    effective = meta.get("effective_date") or None
    logical = meta.get("clause_id")
    if not logical or clause_id != record_id(str(logical), write_of(meta)):
        logical = clause_id  # records written straight into the collection keep their own id
    return Clause(
        clause_id=str(logical),
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
        normalised=[s for s in str(meta.get("normalised", "")).split(",") if s],
        suspicious=bool(meta.get("suspicious", False)),
        suspicious_reason=str(meta.get("suspicious_reason", "")),
        ocr_pages=_ocr_pages(str(meta.get("ocr_pages") or "")),
    )


def _ocr_pages(stored: str) -> dict[int, float]:
    pairs = (item.split(":", 1) for item in stored.split(";") if ":" in item)
    return {int(page): float(conf) for page, conf in pairs}


@dataclass
class _DocumentCount:
    """One (doc id, version, source)'s running totals: its first clause's fields and what its clauses add up to."""

    first: dict[str, Any]
    clauses: int = 0
    hashes: set[str] = field(default_factory=set)
    normalised: set[str] = field(default_factory=set)
    suspicious: int = 0
    ocr: dict[int, float] = field(default_factory=dict)  # page -> lowest confidence of its clauses


@dataclass
class DocumentTally:
    """Per (doc id, version, source), what a document listing shows, added up one clause record at a time,
    so a listing is counted while the records are in hand (building the keyword index) and never needs a
    second pass over every record: at 100k clauses that pass read Chroma for 35-45 s."""

    documents: dict[tuple[str, str, str], _DocumentCount] = field(default_factory=dict)

    def add(self, meta: dict[str, Any]) -> None:
        key = (str(meta["doc_id"]), str(meta["version"]), str(meta["source"]))
        count = self.documents.get(key)
        if count is None:
            count = self.documents[key] = _DocumentCount({k: meta.get(k) for k in _SUMMARY_FIELDS})
        count.clauses += 1
        count.hashes.add(str(meta.get("content_hash") or ""))
        count.normalised.update(x for x in str(meta.get("normalised") or "").split(",") if x)
        count.suspicious += bool(meta.get("suspicious"))
        for page, conf in _ocr_pages(str(meta.get("ocr_pages") or "")).items():
            count.ocr[page] = min(conf, count.ocr.get(page, conf))

    def summaries(self, low_confidence: float) -> list[DocumentSummary]:
        """One summary per (doc id, version), pages below `low_confidence` named."""
        out = []
        for (doc_id, version, source), count in self.documents.items():
            first = count.first
            effective = first.get("effective_date") or None
            out.append(DocumentSummary(
                doc_id=doc_id, title=first.get("title") or "", version=version,
                effective_date=date.fromisoformat(effective) if effective else None,
                status=first.get("status") or "current", language=first.get("language") or "en", source=source,
                format=first.get("format") or "", clauses=count.clauses,
                content_hash=str(first.get("content_hash") or ""),
                access=[a for a in str(first.get("access") or "").split(",") if a], consistent=len(count.hashes) == 1,
                normalised=sorted(count.normalised), suspicious_clauses=count.suspicious, ocr_pages=len(count.ocr),
                low_confidence_pages=sorted(p for p, c in count.ocr.items() if c < low_confidence),
            ))
        return sorted(out, key=lambda d: (d.doc_id, d.effective_date or date.min, d.version))


def _replace_file(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write `path` through a temporary file beside it, renamed into place, so a reader finds the old file
    or the whole new one; the temporary file is removed on any failure.

    Not model_files.write_whole: its mkstemp file is private to the writer (0600), and the keyword cache
    is read by every user of a shared index, so it keeps the folder's default permissions."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            write(fh)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cosines_to(vector: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Cosine of `vector` to each row of `matrix` (0 for a zero row)."""
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(vector) or 1.0)
    return (matrix @ vector) / np.where(norms == 0, 1.0, norms)


def clause_units(text: str) -> list[str]:
    """A clause's quotable units as rerank and the extractive draft score them (with list lead-ins)."""
    # Imported here: xiaoshen.answer's package init imports the engine, which imports this module.
    from xiaoshen.answer.sentences import quotable_units

    return [u.full_text for u in quotable_units(text)] or [text]


def clause_sentences(text: str) -> list[str]:
    """A clause's plain sentences, as verification compares an answer sentence with them."""
    from xiaoshen.answer.sentences import split_sentences

    return split_sentences(text) or [text]


_FILTER_FIELDS = frozenset({"doc_id", "language", "format", "section", "status", "access_public"})


def filter_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata the keyword side's filter reads (retrieve.ClauseFilter.matches). The rest, LlamaIndex's
    node JSON above all (about 1 kB a clause), stays in the store: 514 MB of the client's memory at 100k."""
    return {k: v for k, v in meta.items() if k in _FILTER_FIELDS or k.startswith("role_")}


def searchable_text(clause: Clause) -> str:
    """What both retrievers see: the clause with its document title, heading path and number, so a
    question naming the policy ("CRE standards") or the topic of the chapter finds it."""
    return f"{clause.title}\n{clause.heading}\n{clause.section} {clause.text}".strip()


@dataclass
class CorpusStats:
    """Clause count, document frequencies, and the acronyms and terms a set of clauses defines. They add
    and subtract exactly, so corpus totals follow each write without rescanning the corpus."""

    clauses: int = 0
    df: dict[str, int] = field(default_factory=dict)
    # acronym token -> {long-form tokens joined by spaces: clauses defining it so}
    acronyms: dict[str, dict[str, int]] = field(default_factory=dict)
    # defined term's tokens joined by spaces -> {its definition's tokens joined by spaces: clauses defining it so}
    terms: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, clauses: Iterable[Clause], store: SentenceStore | None = None) -> CorpusStats:
        stats = cls()
        for clause in clauses:
            text = searchable_text(clause)
            stats.count(clause, list(store.plain_tokens(text)) if store else keyword_tokens(text, bigrams=False))
        return stats

    def count(self, clause: Clause, tokens: list[str]) -> None:
        """Add one clause, given its keyword tokens without bigrams."""
        self.clauses += 1
        for token in set(tokens):
            self.df[token] = self.df.get(token, 0) + 1
        for short, long_tokens in set(acronym_definitions(clause.text)):
            longs = self.acronyms.setdefault(short, {})
            key = " ".join(long_tokens)
            longs[key] = longs.get(key, 0) + 1
        for term, words in set(term_definitions(clause.text)):
            meanings = self.terms.setdefault(" ".join(term), {})
            key = " ".join(words)
            meanings[key] = meanings.get(key, 0) + 1

    def add(self, other: CorpusStats, sign: int = 1) -> None:
        """Add (or with sign=-1 subtract) another set's statistics; entries that reach zero are dropped."""
        self.clauses += sign * other.clauses
        for token, n in other.df.items():
            value = self.df.get(token, 0) + sign * n
            if value:
                self.df[token] = value
            else:
                self.df.pop(token, None)
        for table, theirs in ((self.acronyms, other.acronyms), (self.terms, other.terms)):
            for name, counts in theirs.items():
                mine = table.setdefault(name, {})
                for key, n in counts.items():
                    value = mine.get(key, 0) + sign * n
                    if value:
                        mine[key] = value
                    else:
                        mine.pop(key, None)
                if not mine:
                    del table[name]

    def resolved_acronyms(self) -> dict[str, tuple[str, ...]]:
        """Acronym -> long-form tokens: the long form most clauses give, the smallest on a tie, so the
        choice does not depend on the order documents arrived in."""
        return {short: tuple(min(longs.items(), key=lambda kv: (-kv[1], kv[0]))[0].split(" "))
                for short, longs in sorted(self.acronyms.items()) if longs}

    def resolved_terms(self) -> dict[tuple[str, ...], tuple[frozenset[str], ...]]:
        """Defined term's tokens -> each distinct definition's tokens (regulations define one term in
        several places, sometimes differently: each is a way a question may describe it)."""
        return {tuple(term.split(" ")): tuple(frozenset(key.split(" ")) for key in sorted(meanings))
                for term, meanings in sorted(self.terms.items()) if meanings}

    def copy(self) -> CorpusStats:
        return CorpusStats(self.clauses, dict(self.df), {k: dict(v) for k, v in self.acronyms.items()},
                           {k: dict(v) for k, v in self.terms.items()})

    def to_json(self) -> str:
        return json.dumps({"clauses": self.clauses, "df": self.df, "acronyms": self.acronyms, "terms": self.terms},
                          ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CorpusStats | None:
        """The statistics stored by a write; None if they were written before defined terms were counted
        (the caller recounts them from the clauses)."""
        data = json.loads(text)
        if "terms" not in data:
            return None
        return cls(int(data["clauses"]), dict(data["df"]), {k: dict(v) for k, v in data["acronyms"].items()},
                   {k: dict(v) for k, v in data["terms"].items()})


@dataclass(frozen=True)
class Manifest:
    """A source's commit record: the write whose clauses are its committed version (empty: none yet),
    and a write in progress (`pending`), if any."""

    source: str
    content_hash: str = ""
    write_id: str = ""
    clauses: int = 0
    digest: str = ""
    pending: str = ""
    doc_id: str = ""
    version: str = ""

    @property
    def key(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:32]

    def metadata(self) -> dict[str, Any]:
        return {"kind": "document", "source": self.source, "content_hash": self.content_hash,
                "write_id": self.write_id, "clauses": self.clauses, "digest": self.digest,
                "pending": self.pending, "doc_id": self.doc_id, "version": self.version}

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> Manifest:
        return cls(source=str(meta["source"]), content_hash=str(meta.get("content_hash", "")),
                   write_id=str(meta.get("write_id", "")), clauses=int(meta.get("clauses", 0)),
                   digest=str(meta.get("digest", "")), pending=str(meta.get("pending", "")),
                   doc_id=str(meta.get("doc_id", "")), version=str(meta.get("version", "")))

    def view(self) -> tuple[str, int, str]:
        return self.write_id, self.clauses, self.digest


def ids_digest(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:16]


def commits_fingerprint(manifests: Iterable[Manifest]) -> str:
    """Order-free fingerprint of the committed writes (XOR of one hash each), updated per write."""
    value = 0
    for manifest in manifests:
        if manifest.write_id:
            value ^= _commit_hash(manifest)
    return f"{value:016x}"


def _commit_hash(manifest: Manifest) -> int:
    return int(hashlib.sha256(f"{manifest.source}\x1f{manifest.write_id}".encode()).hexdigest()[:16], 16)


@dataclass
class StoreState:
    """What a writer knows after `ClauseIndex.verify()`: per source the content hash of its committed,
    complete version, every source the store holds anything for, and who owns each (doc id, version)."""

    current: dict[str, str] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)
    # Doc ids whose committed clauses' statuses today's versions change (a version come into force since).
    statuses_due: set[str] = field(default_factory=set)


def version_statuses(records: Iterable[tuple[str, dict[str, Any]]], today: date) -> dict[str, str]:
    """The record ids whose stored status is not what today's versions say, and the status each should have.

    Per doc id, the newest version in force is current and earlier ones are superseded. A version that
    declares itself superseded stays so; a version whose effective date is still in the future does not
    displace the one in force."""
    by_doc: dict[str, list[tuple[str, str, str, str, str]]] = defaultdict(list)
    for rid, meta in records:
        # The status a file declared at ingest is stored until a refresh first changes it; "declared_status"
        # keeps the author's word, so a later refresh cannot revive a version its own file calls superseded.
        declared = str(meta.get("declared_status", meta.get("status", "")))
        by_doc[str(meta["doc_id"])].append((rid, str(meta["version"]), str(meta.get("effective_date") or ""),
                                            str(meta.get("status", "")), declared))
    changes: dict[str, str] = {}
    for rows in by_doc.values():
        versions = {(v, eff, declared) for _, v, eff, _, declared in rows}
        in_force = [v for v in versions if v[2] != "superseded" and (not v[1] or v[1] <= today.isoformat())]
        newest = max(in_force, key=lambda v: (v[1], version_key(v[0])), default=None)
        for rid, version, _, status, _ in rows:
            wanted = "current" if newest is not None and version == newest[0] else "superseded"
            if status != wanted:
                changes[rid] = wanted
    return changes


@dataclass(eq=False)
class KeywordIndex:
    """BM25 over every committed clause (jieba for Chinese, Snowball stems for English), with the corpus
    statistics maintained at ingest. It holds ids, filter fields and postings, not clause text: the hits'
    text and metadata come from the store (`ClauseIndex.fetch`), so a client's memory does not grow with
    the corpus's text (issue 16: 275 MB of Clause objects and 514 MB of node JSON at 100k clauses)."""

    build_id: str
    record_ids: list[str]  # the Chroma id of each row
    clause_ids: list[str]  # the clause id of each row (the record id without its write id)
    # What the keyword side's filter reads, per row: the document-level fields shared by every row of one
    # document version (`fields[field_of[row]]`) and the row's section.
    fields: list[dict[str, Any]]
    field_of: np.ndarray
    sections: list[str]
    model: Any  # bm25s.BM25
    stats: CorpusStats
    # source -> (write id, clauses, digest) of the manifests this index was built against
    manifests: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    documents: DocumentTally = field(default_factory=DocumentTally)  # the listing of these clauses
    format: int = KEYWORD_FORMAT
    acronyms: dict[str, tuple[str, ...]] = field(init=False)
    # Defined term's tokens -> its definitions' tokens ("关系 关系人" -> {董事, 监事, 近亲属, …}).
    terms: dict[tuple[str, ...], tuple[frozenset[str], ...]] = field(init=False)
    # Where clause text's tokens were stored at ingest; attached by ClauseIndex, never pickled.
    store: SentenceStore | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Acronyms the policies define ("debt service coverage ratio (DSCR)") -> long-form tokens.
        self.acronyms = self.stats.resolved_acronyms()
        self.terms = self.stats.resolved_terms()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED_STATE} | {"store": None}

    def __len__(self) -> int:
        return len(self.record_ids)

    @staticmethod
    def postings_file(path: Path, name: str) -> Path:
        return path.with_name(f"{path.stem}.{name}.npy")

    def save(self, path: Path) -> None:
        """Write the index to `path`, its BM25 postings as .npy files beside it (written first, so a pickle
        found is complete). Raises OSError where the folder cannot be written."""
        scores = getattr(self.model, "scores", None) or {}
        for name in _POSTINGS:
            if name in scores:
                _replace_file(self.postings_file(path, name),
                              lambda fh, a=scores[name]: np.save(fh, np.asarray(a), allow_pickle=False))
        shallow = copy.copy(self)
        shallow.model = copy.copy(self.model)
        if scores:
            shallow.model.scores = {k: v for k, v in scores.items() if k not in _POSTINGS}
        _replace_file(path, lambda fh: pickle.dump(shallow, fh))

    @classmethod
    def load(cls, path: Path) -> KeywordIndex | None:
        """The index `save` wrote to `path`, its postings memory-mapped rather than read (at 300k clauses
        they are 154 MB, of which a question touches its own tokens' columns); None if it is not one of
        this format. Raises OSError and the unpickling errors of a damaged file."""
        with path.open("rb") as fh:
            loaded = pickle.load(fh)  # our own file, written by save()
        if not isinstance(loaded, cls) or getattr(loaded, "format", 1) != KEYWORD_FORMAT:
            return None
        scores = getattr(loaded.model, "scores", None)
        if scores:
            for name in _POSTINGS:
                scores[name] = np.load(cls.postings_file(path, name), mmap_mode="r", allow_pickle=False)
        return loaded

    @property
    def _document_frequency(self) -> dict[str, int]:
        return self.stats.df

    def idf(self, token: str) -> float:
        """Inverse document frequency over clauses; a word the corpus never uses weighs the most."""
        return math.log((self.stats.clauses + 1) / (self.stats.df.get(token, 0) + 0.5))

    def known(self, token: str) -> bool:
        return token in self.stats.df

    def in_vocabulary(self, token: str) -> bool:
        """Whether BM25 knows the token, Chinese character bigrams included (`known` counts words only)."""
        return bool(self.record_ids) and token in self.model.vocab_dict

    def words(self, text: str) -> set[str]:
        """Keyword tokens of `text` (no bigrams) with the defined acronyms of the words it has."""
        return with_acronyms(set(self.plain_tokens(text)), self.acronyms)

    def plain_tokens(self, text: str) -> tuple[str, ...]:
        """`keyword_tokens(text, bigrams=False)`, from the tokens stored at ingest for clause text."""
        return self.store.plain_tokens(text) if self.store else tuple(keyword_tokens(text, bigrams=False))

    def prefetch(self, texts: list[str]) -> None:
        """Load the stored tokens of many texts in one read (rerank and the draft ask for dozens)."""
        if self.store:
            self.store.token_pairs(texts)

    @cached_property
    def terms_by_word(self) -> dict[str, list[tuple[str, ...]]]:
        """Word -> the defined terms one of whose definitions uses it."""
        out: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for term, definitions in self.terms.items():
            for word in set().union(*definitions):
                out[word].append(term)
        return dict(out)

    @cached_property
    def record_of(self) -> dict[str, str]:
        """Clause id -> the Chroma id of its committed record."""
        return dict(zip(self.clause_ids, self.record_ids, strict=True))

    @cached_property
    def clause_of(self) -> dict[str, str]:
        """Committed Chroma id -> its clause id (a record missing here is not committed)."""
        return dict(zip(self.record_ids, self.clause_ids, strict=True))

    def filter_metadata(self, row: int) -> dict[str, Any]:
        """The fields `retrieve.ClauseFilter.matches` reads, for one row."""
        return {**self.fields[int(self.field_of[row])], "section": self.sections[row]}

    @classmethod
    def build(cls, build_id: str, records: list[tuple[str, str, dict[str, Any]]], *,
              stats: CorpusStats | None = None, derive: set[str] | None = None,
              manifests: dict[str, tuple[str, int, str]] | None = None,
              store: SentenceStore | None = None) -> KeywordIndex:
        """BM25 over `records`. `stats` are the maintained statistics of the records whose source is not
        in `derive`; the others' are counted here, in the same tokenisation pass (all when `stats` is
        None). Tokens come from `store` where ingest put them, so a rebuild after a write tokenises only
        what is new."""
        import bm25s

        total = CorpusStats() if stats is None else stats.copy()
        corpus: list[list[str]] = []
        fields: dict[tuple[tuple[str, Any], ...], int] = {}
        field_of: list[int] = []
        clause_ids: list[str] = []
        sections: list[str] = []
        documents = DocumentTally()
        # In slices, so the Clause objects of a large corpus are never all alive at once.
        for start in range(0, len(records), _GET_PAGE):
            chunk = records[start:start + _GET_PAGE]
            clauses = [clause_from_record(i, t, m) for i, t, m in chunk]
            texts = [searchable_text(c) for c in clauses]
            pairs = store.token_pairs(texts) if store else [keyword_token_pair(t) for t in texts]
            for clause, (tokens, plain), (_, _, meta) in zip(clauses, pairs, chunk, strict=True):
                corpus.append(list(tokens) or ["\u2205"])
                if stats is None or (derive and clause.source in derive):
                    total.count(clause, list(plain))
                shared = tuple(sorted((k, v) for k, v in filter_fields(meta).items() if k != "section"))
                field_of.append(fields.setdefault(shared, len(fields)))
                clause_ids.append(clause.clause_id)
                sections.append(clause.section)
                documents.add(meta)
        model = bm25s.BM25()
        if corpus:
            model.index(corpus, show_progress=False)
        return cls(build_id, [i for i, _, _ in records], clause_ids, [dict(f) for f in fields],
                   np.asarray(field_of, dtype=np.int32), sections, model, total, dict(manifests or {}), documents,
                   store=store)

    def search(self, query: Query | str, k: int, keep: Callable[[dict[str, Any]], bool]) -> list[tuple[str, float]]:
        """The best `k` rows `keep` admits by BM25, as (Chroma record id, score)."""
        # A question may use the acronym where the clause spells it out, or the other way round, or
        # describe a defined term in its definition's words: the query's tokens carry both.
        if isinstance(query, str):
            query = Query.build(query, self)
        tokens = [t for t in query.bm25_tokens if t in self.model.vocab_dict] if self.record_ids else []
        if not tokens or k <= 0:
            return []
        scores = np.asarray(self.model.get_scores(tokens), dtype=np.float64)
        positive = np.flatnonzero(scores > 0)
        hits: list[tuple[str, float]] = []
        seen, width = 0, max(4 * k, 64)
        # Rank only the best few (the filter may reject some: widen and go on where the last round ended).
        while seen < len(positive) and len(hits) < k:
            ranked = _best(scores, positive, width)
            for i in ranked[seen:]:
                if len(hits) >= k:
                    break
                if keep(self.filter_metadata(i)):
                    hits.append((self.record_ids[i], float(scores[i])))
            seen, width = len(ranked), width * 4
        return hits


_ADMISSION_FIELDS = frozenset({"source", "write_id", "seq", "content_hash"})  # what _admit reads
_SUMMARY_FIELDS = frozenset({"title", "effective_date", "status", "language", "format", "access", "content_hash"})
_DERIVED_STATE = frozenset({"record_of", "clause_of", "terms_by_word"})  # rebuilt on first use, not pickled


def _best(scores: np.ndarray, candidates: np.ndarray, width: int) -> np.ndarray:
    """At least the `width` best candidates (all ties at the cut included), by score, then by index, so
    they are a prefix of the full ranking whatever the width."""
    if width < len(candidates):
        cut = scores[candidates[np.argpartition(-scores[candidates], width - 1)[width - 1]]]
        candidates = candidates[scores[candidates] >= cut]
    return candidates[np.lexsort((candidates, -scores[candidates]))]


class _WriterLock:
    """An exclusive `flock` on a file beside the index, shared by every process that writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self, timeout: float, notice: Callable[[str], None] | None = None) -> bool:
        """Take the lock, waiting up to `timeout` seconds (0: only if free); False if it stayed busy."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        deadline, told = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    handle.close()
                    return False
                if notice and not told:
                    notice(f"waiting for another writer ({self.holder()}) to finish with this index; "
                           f"giving up in {timeout:g} s")
                    told = True
                time.sleep(min(0.1, left))
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.truncate(0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "pid unknown"
        except OSError:
            return "pid unknown"


class ClauseIndex:
    """Clauses in Chroma plus the keyword index beside them; the one place that reads or writes them."""

    def __init__(self, settings: Settings, embedding: Embedder | None = None) -> None:
        self.settings = settings
        self._embedding = embedding
        # A read-only index is searched through a private copy (xiaoshen/index_folder.py); writers are refused.
        self.folder = None if settings.chroma_url else open_index_folder(settings.index_dir)
        self._client = _chroma_client(settings, self.folder)
        try:
            self.collection = self._client.get_or_create_collection(
                settings.collection,
                # No embedding function: Chroma's default would download an ONNX model.
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embed_model": settings.embedding.model, "build_id": "empty"},
            )
            # One small record per document; the vector is a placeholder Chroma insists on. A low sync
            # threshold keeps Chroma's log for it short: by default every commit since the last of 1000
            # syncs is replayed by the first read of each process (a second at 90 commits).
            self._documents = self._client.get_or_create_collection(
                f"{settings.collection}__documents", embedding_function=None,
                configuration={"hnsw": {"space": "l2", "sync_threshold": 10, "batch_size": 10}},
                metadata={"holds": "xiaoshen document commits"})
        except Exception as exc:
            raise IndexStoreError(f"Cannot open the Chroma collection {settings.collection!r}: {exc}") from exc
        stored_model = (self.collection.metadata or {}).get("embed_model")
        if stored_model and stored_model != settings.embedding.model:
            raise IndexStoreError(
                f"The index was built with the {stored_model!r} embedding model, settings ask for "
                f"{settings.embedding.model!r}",
                "set XIAOSHEN_EMBEDDING__MODEL to match, or use a new --index directory",
            )
        self._vector_store: ChromaVectorStore | None = None
        self._keyword: KeywordIndex | None = None
        self._keyword_lock = threading.RLock()
        self._vector_lock = threading.Lock()
        self._query_vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._text_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_clauses: OrderedDict[tuple[str, str], Clause] = OrderedDict()
        self.sentences = SentenceStore(settings.sentence_store_path, settings.embedding.model)
        # In server mode there is no local index directory; the lock then only orders this machine's writers.
        lock_dir = settings.keyword_cache_dir if settings.chroma_url else settings.index_dir
        self._lock = _WriterLock(lock_dir / f"{settings.collection}.writer.lock")
        self._writer_mutex = threading.RLock()
        self._writer_depth = 0
        self._session: dict[str, Any] = {}
        self._heal_if_interrupted()

    # --- models -----------------------------------------------------------------------------------

    @property
    def embedding(self) -> Embedder:
        if self._embedding is None:
            self._embedding = build_embedding(self.settings.embedding)
        return self._embedding

    @property
    def vector_store(self) -> ChromaVectorStore:
        """The collection as LlamaIndex's vector store (for LlamaIndex's own retrievers)."""
        if self._vector_store is None or self._vector_store._collection is not self.collection:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vector_store = ChromaVectorStore(chroma_collection=self.collection)
        return self._vector_store

    # --- reading ----------------------------------------------------------------------------------

    @property
    def build_id(self) -> str:
        return str((self.collection.metadata or {}).get("build_id", "empty"))

    def count(self) -> int:
        """Records in the clause collection (committed or not)."""
        return int(self.collection.count())

    def _stored_metadata(self) -> dict[str, Any]:
        """The collection's metadata as stored now (the collection object keeps the copy it was opened with)."""
        return dict(self._client.get_collection(self.settings.collection).metadata or {})

    def _raw_records(self, where: dict[str, Any] | None = None, include_text: bool = True,
                     fields: frozenset[str] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(id, text, metadata) for every stored record matching `where`, committed or not, in pages;
        `fields` keeps only those metadata keys, page by page (a listing need not hold every record's
        node JSON at once: about 1 kB a clause)."""
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        out: list[tuple[str, str, dict[str, Any]]] = []
        offset = 0
        while True:
            page = self.collection.get(where=where, include=include, limit=_GET_PAGE, offset=offset)
            ids = page["ids"]
            docs = page.get("documents") or [""] * len(ids)
            metas = page["metadatas"]
            if fields is not None:
                metas = [{k: v for k, v in m.items() if k in fields} for m in metas]
            out.extend(zip(ids, docs, metas, strict=True))
            if len(ids) < _GET_PAGE:
                return out
            offset += _GET_PAGE

    def _read_manifests(self) -> dict[str, Manifest]:
        manifests: dict[str, Manifest] = {}
        offset = 0
        while True:
            page = self._documents.get(where={"kind": "document"}, include=["metadatas"], limit=_GET_PAGE,
                                       offset=offset)
            for meta in page["metadatas"]:
                manifest = Manifest.from_metadata(meta)
                manifests[manifest.source] = manifest
            if len(page["ids"]) < _GET_PAGE:
                return manifests
            offset += _GET_PAGE

    def records(self, where: dict[str, Any] | None = None, include_text: bool = True,
                fields: frozenset[str] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(record id, text, metadata) for every committed clause matching `where`, by source (`fields`:
        only these metadata keys, besides those admission reads)."""
        raw = self._raw_records(where, include_text, None if fields is None else fields | _ADMISSION_FIELDS)
        return _admit(raw, self._read_manifests())[0]

    def clauses(self, where: dict[str, Any] | None = None) -> list[Clause]:
        return [clause_from_record(i, t, m) for i, t, m in self.records(where)]

    def documents(self) -> list[DocumentSummary]:
        """One summary per (doc id, version) of the committed clauses, as counted when the keyword index of
        this build was built (the app lists the documents on every page)."""
        return self.keyword_index().documents.summaries(self.settings.ocr.low_confidence)

    def source_hashes(self) -> dict[str, set[str]]:
        """Content hashes of the committed clauses per source file."""
        hashes: dict[str, set[str]] = defaultdict(set)
        for _, _, meta in self.records(include_text=False, fields=frozenset({"source", "content_hash"})):
            hashes[meta["source"]].add(meta.get("content_hash", ""))
        return dict(hashes)

    def statistics(self) -> CorpusStats | None:
        """The corpus totals as maintained by the writes, if they sum exactly the committed documents."""
        manifests = self._read_manifests()
        stored = self._documents.get(ids=[_TOTALS_ID], include=["metadatas"])
        committed = [m for m in manifests.values() if m.write_id]
        if stored["ids"] and stored["metadatas"][0].get("fingerprint") == commits_fingerprint(committed):
            return CorpusStats.from_json(str(stored["metadatas"][0]["stats"]))
        return None

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
                loaded = KeywordIndex.load(cache)
                if (loaded is not None and loaded.build_id == build_id
                        and loaded.manifests == _views(self._read_manifests())):
                    loaded.store = self.sentences
                    self._keyword = loaded
                    return loaded
            except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
                pass  # a stale or partial cache is rebuilt
        self._keyword, cacheable = self._build_keyword_index(build_id)
        if cacheable:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                self._keyword.save(cache)
                # Other builds' files (a reader still mapping one keeps it until it closes: POSIX unlink).
                for old in cache.parent.glob(f"{self.settings.collection}-*"):
                    if old.suffix in {".pkl", ".npy"} and not old.name.startswith(cache.stem + "."):
                        old.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only cache folder: the index is rebuilt in memory each process
        return self._keyword

    def _build_keyword_index(self, build_id: str) -> tuple[KeywordIndex, bool]:
        """The keyword index over the committed clauses, and whether it may be cached for `build_id` (not
        while a write is in progress: the build id would not describe what was read)."""
        before = self._stored_metadata()
        raw = self._raw_records()
        manifests = self._read_manifests()  # after the records: any record read was committed or pending
        admitted, derive = _admit(raw, manifests)
        complete = {s: m for s, m in manifests.items() if m.write_id and s not in derive}
        stats = self._committed_stats(complete)
        keyword = KeywordIndex.build(build_id, admitted, stats=stats, derive=derive, manifests=_views(manifests),
                                     store=self.sentences)
        after = self._stored_metadata()
        cacheable = (not before.get("writing") and not after.get("writing")
                     and before.get("build_id") == after.get("build_id") == build_id)
        return keyword, cacheable

    def _committed_stats(self, manifests: dict[str, Manifest]) -> CorpusStats:
        """The totals of the committed manifests given: the stored totals when their fingerprint says they
        sum exactly these, else the sum of the documents' own statistics."""
        committed = [m for m in manifests.values() if m.write_id]
        stored = self._documents.get(ids=[_TOTALS_ID], include=["metadatas"])
        if stored["ids"]:
            meta = stored["metadatas"][0]
            if meta.get("fingerprint") == commits_fingerprint(committed):
                totals = CorpusStats.from_json(str(meta["stats"]))
                if totals is not None:
                    return totals
        total = CorpusStats()
        for stats in self._document_stats(committed).values():
            total.add(stats)
        return total

    def _document_stats(self, manifests: list[Manifest]) -> dict[str, CorpusStats]:
        """Each committed manifest's statistics, from its stats record (recounted from its clauses if the
        record is missing or belongs to another write)."""
        out: dict[str, CorpusStats] = {}
        keys = [m for m in manifests if m.write_id]
        for start in range(0, len(keys), _GET_PAGE):
            chunk = keys[start:start + _GET_PAGE]
            got = self._documents.get(ids=[f"stats:{m.key}" for m in chunk], include=["metadatas"])
            found = {meta["source"]: meta for meta in got["metadatas"]}
            for manifest in chunk:
                meta = found.get(manifest.source)
                stats = (CorpusStats.from_json(str(meta["stats"]))
                         if meta is not None and meta.get("write_id") == manifest.write_id else None)
                if stats is not None:
                    out[manifest.source] = stats
                else:
                    out[manifest.source] = CorpusStats.of(self._write_clauses(manifest.source, manifest.write_id),
                                                          self.sentences)
        return out

    def _write_clauses(self, source: str, write_id: str) -> list[Clause]:
        return [clause_from_record(i, t, m) for i, t, m in self._raw_records({"source": source})
                if write_of(m) == write_id]

    def _keyword_cache_path(self, build_id: str) -> Path:
        return self.settings.keyword_cache_dir / f"{self.settings.collection}-{build_id}.v{KEYWORD_FORMAT}.pkl"

    def query(self, text: str) -> Query:
        """`text` as a Query against this index's corpus, its vector from this index's model."""
        return Query.build(text, self.keyword_index(), self.query_vector)

    def _vector_of(self, query: Query | str) -> np.ndarray:
        return query.vector if isinstance(query, Query) else np.asarray(self.query_vector(query), dtype=np.float32)

    def fetch(self, record_ids: list[str]) -> dict[str, Clause]:
        """The clauses of the given Chroma records, read from the store (the client keeps no clause text)."""
        out: dict[str, Clause] = {}
        wanted = list(dict.fromkeys(record_ids))
        for start in range(0, len(wanted), _GET_PAGE):
            got = self.collection.get(ids=wanted[start:start + _GET_PAGE], include=["documents", "metadatas"])
            for rid, text, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True):
                out[rid] = clause_from_record(rid, text or "", meta)
        return out

    def clause(self, clause_id: str) -> Clause | None:
        """The committed clause with this id, or None. The last few hundred are kept for this build: the
        app shows every citation of a conversation again on each rerun, one store read each otherwise."""
        keyword = self.keyword_index()
        record = keyword.record_of.get(clause_id)
        if not record:
            return None
        key = (keyword.build_id, record)  # a status change keeps the record id, not the build
        with self._vector_lock:
            found = self._recent_clauses.get(key)
            if found is not None:
                self._recent_clauses.move_to_end(key)
                return found
        found = self.fetch([record]).get(record)
        if found is not None:
            with self._vector_lock:
                self._recent_clauses[key] = found
                while len(self._recent_clauses) > 512:
                    self._recent_clauses.popitem(last=False)
        return found

    def keyword_search(self, query: Query | str, k: int,
                       keep: Callable[[dict[str, Any]], bool]) -> list[tuple[Clause, float]]:
        """The best `k` committed clauses `keep` admits by BM25; returns (clause, BM25 score)."""
        hits = self.keyword_index().search(query, k, keep)
        clauses = self.fetch([r for r, _ in hits])
        return [(clauses[r], score) for r, score in hits if r in clauses]

    def dense_search(self, query: Query | str, k: int, where: dict[str, Any] | None) -> list[tuple[Clause, float]]:
        """Nearest clauses by embedding, filtered inside the Chroma query by `where` (a Chroma filter, as
        `ClauseFilter.to_chroma_where` gives); returns (clause, cosine)."""
        # Straight to the collection, not through ChromaVectorStore.query: that rebuilds each hit from the
        # node JSON LlamaIndex stored at the first write, whose status is stale once a newer version
        # arrives; the record's own fields are current. Only committed records count.
        keyword = self.keyword_index()
        if not len(keyword):
            return []
        vector = self._vector_of(query).tolist()
        result = self.collection.query(query_embeddings=[vector], n_results=k, where=where,
                                       include=["documents", "metadatas", "distances"])
        hits = []
        for rid, text, meta, distance in zip(result["ids"][0], (result["documents"] or [[]])[0],
                                             (result["metadatas"] or [[]])[0], (result["distances"] or [[]])[0],
                                             strict=True):
            if rid in keyword.clause_of:
                # The collection's space is cosine: distance = 1 - cosine.
                hits.append((clause_from_record(rid, text or "", meta), 1.0 - float(distance)))
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
            # Stored at ingest for clause sentences; float32 rows, not the model's lists of Python floats.
            computed = self.sentences.vectors(missing, self.embedding.get_text_embedding_batch, self.vector_model())
            known.update(computed)
            with self._vector_lock:
                self._text_vectors.update(computed)
                while len(self._text_vectors) > 20_000:
                    self._text_vectors.popitem(last=False)
        return np.asarray([known[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)

    def query_cosines(self, query: Query | str, texts: list[str]) -> np.ndarray:
        """Cosine of the query to each text (clause sentences, through the cache above)."""
        return cosines_to(self._vector_of(query), self.text_vectors(texts))

    def dense_similarities(self, query: Query | str, clause_ids: list[str]) -> dict[str, float]:
        """Cosine of the query to each given clause's stored vector (for clauses the nearest-neighbour
        search did not return)."""
        if not clause_ids:
            return {}
        keyword = self.keyword_index()
        stored = self.collection.get(ids=[keyword.record_of.get(c, c) for c in clause_ids], include=["embeddings"])
        vectors = np.asarray(stored["embeddings"], dtype=np.float32)
        if vectors.size == 0:
            return {}
        cosines = cosines_to(self._vector_of(query), vectors)
        return {keyword.clause_of.get(r, r): c for r, c in zip(stored["ids"], cosines.tolist(), strict=True)}

    # --- writing ----------------------------------------------------------------------------------

    @contextmanager
    def writer(self, *, timeout: float | None = None, notice: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the index's inter-process writer lock for a series of writes (re-entrant). A second writer
        waits, saying so through `notice`, and gets an IndexStoreError after `timeout` seconds (default:
        `ingest.lock_timeout_s`)."""
        if self.folder is not None and self.folder.read_only_source is not None:
            raise IndexStoreError(f"The index {self.folder.read_only_source} is read-only: it can be searched "
                                  "but not written", "ingest into a writable --index folder")
        with self._writer_mutex:
            if self._writer_depth:
                self._writer_depth += 1
                try:
                    yield
                finally:
                    self._writer_depth -= 1
                return
            wait = self.settings.ingest.lock_timeout_s if timeout is None else timeout
            if not self._lock.acquire(wait, notice):
                raise IndexStoreError(
                    f"Another writer ({self._lock.holder()}) held this index's writer lock ({self._lock.path}) "
                    f"for all of the {wait:g} s this one waited", "let that ingest finish, then run again")
            self._writer_depth, self._session = 1, {}
            try:
                self._reopen()
                if (self.collection.metadata or {}).get("writing"):
                    # The lock was free, so the writer that left this mark is dead: finish its work.
                    self._session["marked"] = True
                    self._session["repaired"] = self._repair(interrupted=True).repaired
                yield
            except BaseException:
                self._session["failed"] = True
                raise
            finally:
                try:
                    self._end_session()
                finally:
                    self._writer_depth, self._session = 0, {}
                    self._lock.release()

    def verify(self) -> StoreState:
        """Check every document's committed clauses against Chroma and repair what differs (drop uncommitted
        and superseded records, clear interrupted commits, adopt records no commit speaks for); the
        writer's view of the store afterwards."""
        with self.writer():
            state = self._repair()
            state.repaired = self._session.pop("repaired", []) + state.repaired
            return state

    def vector_model(self) -> str:
        """Which model a stored vector came from: the configured name and the class that computed it, so
        an index opened with another embedding object (a test's, a benchmark's) never reads its vectors."""
        return f"{self.settings.embedding.model}/{type(self.embedding).__name__}"

    def embed_clauses(self, clauses: list[Clause]) -> list[list[float]]:
        """The clauses' vectors; also stores the tokens and sentence vectors the answer stage will need."""
        texts = [searchable_text(c) for c in clauses]
        units = [u for c in clauses for u in clause_units(c.text)]
        sentences = [s for c in clauses for s in clause_sentences(c.text)]
        headings = [f"{c.title} {c.heading}" for c in clauses]
        self.sentences.prepare([*texts, *headings, *(c.text for c in clauses), *units, *sentences], [],
                               self.embedding.get_text_embedding_batch, self.vector_model())
        # The clause texts go through the content-addressed store with the units: a new version of a policy
        # embeds only the clauses whose text changed, and a second index of the same files embeds nothing.
        # Units only, not every sentence: the default (extractive) answer quotes units verbatim, so
        # verification never embeds; an LLM's paraphrase is compared with the plain sentences, embedded
        # (and stored) then.
        wanted = [*texts, *units] if self.settings.ingest.embed_units else texts
        found = self.sentences.vectors(wanted, self.embedding.get_text_embedding_batch, self.vector_model())
        return [found[t].tolist() for t in texts]

    def replace_source(self, source: str, clauses: list[Clause], embeddings: list[list[float]]) -> None:
        """Make `source` hold exactly these clauses, atomically for readers: the new clauses under a new
        write id, then the commit, then the old version's records go.

        Everything that can fail on bad input (reading, parsing, embedding) has happened before this call.
        A crash at any point leaves the old version or the new one committed; the next writer (or open)
        drops what the crash left behind.
        """
        with self.writer():
            try:
                if clauses:
                    self._replace(source, clauses, embeddings)
                else:
                    self._delete(source)
            except BaseException:
                self._session["failed"] = True
                raise

    def delete_source(self, source: str) -> int:
        """Remove every clause of `source`; how many records went."""
        with self.writer():
            try:
                return self._delete(source)
            except BaseException:
                self._session["failed"] = True
                raise

    def set_status(self, ids: Iterable[str], status: str) -> None:
        """Mark clauses (by record id, as `records()` gives them) current or superseded."""
        ids = list(ids)
        if not ids:
            return
        with self.writer():
            self._begin_write()
            for start in range(0, len(ids), _WRITE_BATCH):
                page = self.collection.get(ids=ids[start:start + _WRITE_BATCH], include=["metadatas"])
                metas = [{**m, "status": status} for m in page["metadatas"]]
                self.collection.update(ids=page["ids"], metadatas=metas)
            self._bump_build()

    def _replace(self, source: str, clauses: list[Clause], embeddings: list[list[float]]) -> None:
        self._begin_write()
        manifests = self._session_manifests()
        old = manifests.get(source) or self._adopt(source)
        write_id = uuid.uuid4().hex[:12]
        stats = CorpusStats.of(clauses, self.sentences)
        # 1. Announce the write, so a crash before the commit is recognised as one.
        self._put_manifest(replace(old, pending=write_id) if old else Manifest(source, pending=write_id))
        # 2. The new clauses, beside the committed ones.
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        nodes = []
        for seq, (clause, vector) in enumerate(zip(clauses, embeddings, strict=True)):
            meta = {**clause_metadata(clause), "clause_id": clause.clause_id, "write_id": write_id, "seq": seq}
            node = TextNode(id_=record_id(clause.clause_id, write_id), text=clause.text, metadata=meta,
                            embedding=vector)
            # node_to_metadata_dict writes the node's ref_doc_id into "doc_id"; make that the policy id.
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=clause.doc_id)
            nodes.append(node)
        # LlamaIndex's ChromaVectorStore.add() has no upsert; we write the same record format it reads back
        # (node_to_metadata_dict) through the collection's upsert.
        for start in range(0, len(nodes), _WRITE_BATCH):
            chunk = nodes[start:start + _WRITE_BATCH]
            self.collection.upsert(
                ids=[n.node_id for n in chunk],
                embeddings=[n.get_embedding() for n in chunk],
                metadatas=[node_to_metadata_dict(n, remove_text=True, flat_metadata=True) for n in chunk],
                documents=[n.get_content() for n in chunk],
            )
        # 3. The commit: from here on readers see the new version.
        first = clauses[0]
        self._commit(Manifest(source, first.content_hash, write_id, len(nodes), ids_digest(n.node_id for n in nodes),
                              "", first.doc_id, first.version), stats, old)
        # 4. The old version's records (and anything an earlier crash left).
        stale = [i for i, _, m in self._raw_records({"source": source}, include_text=False) if write_of(m) != write_id]
        self._delete_records(stale)
        self._bump_build()

    def _delete(self, source: str) -> int:
        self._begin_write()
        old = self._session_manifests().get(source)
        ids = [i for i, _, _ in self._raw_records({"source": source}, include_text=False)]
        if old is None and not ids:
            return 0
        self._commit(Manifest(source), None, old)  # nothing committed: readers stop seeing it at once
        self._delete_records(ids)
        self._forget(source)
        self._bump_build()
        return len(ids)

    def _delete_records(self, ids: list[str]) -> None:
        for start in range(0, len(ids), _WRITE_BATCH):
            self.collection.delete(ids=ids[start:start + _WRITE_BATCH])

    def _begin_write(self) -> None:
        """Mark the collection as being written until the session ends (a crash leaves the mark)."""
        if not self._session.get("marked"):
            metadata = dict(self.collection.metadata or {})
            metadata["writing"] = f"pid {os.getpid()} {uuid.uuid4().hex[:8]}"
            self.collection.modify(metadata=metadata)
            self._session["marked"] = True

    def _end_session(self) -> None:
        if self._session.get("failed"):
            try:
                self._repair(interrupted=True)
            except Exception:
                return  # the mark stays: the next open or writer repairs
        if self._session.get("marked"):
            metadata = dict(self.collection.metadata or {})
            metadata.pop("writing", None)
            self.collection.modify(metadata=metadata)

    def _reopen(self) -> None:
        """Re-read the collection, whose metadata (build id, write mark) another process may have changed."""
        self.collection = self._client.get_collection(self.settings.collection)

    def _heal_if_interrupted(self) -> None:
        # In server mode a writer on another machine may be alive behind the mark: its next session repairs.
        if self.settings.chroma_url or not (self.collection.metadata or {}).get("writing"):
            return
        try:
            with self.writer(timeout=0):
                pass  # taking the lock repairs what the dead writer left, and ending the session clears its mark
        except IndexStoreError:
            pass  # the writer is alive; readers admit only committed clauses meanwhile

    def _session_manifests(self) -> dict[str, Manifest]:
        if "manifests" not in self._session:
            self._session["manifests"] = self._read_manifests()
        return self._session["manifests"]

    def _session_totals(self) -> tuple[CorpusStats, str]:
        """The corpus totals and their commits fingerprint, recounted from the documents' statistics if the
        stored totals do not sum exactly the committed manifests (a crash between the two writes)."""
        if "totals" not in self._session:
            manifests = self._session_manifests()
            committed = [m for m in manifests.values() if m.write_id]
            self._session["totals"] = (self._committed_stats(manifests), commits_fingerprint(committed))
        return self._session["totals"]

    def _put_manifest(self, manifest: Manifest) -> None:
        self._documents.upsert(ids=[f"doc:{manifest.key}"], embeddings=[[0.0]], metadatas=[manifest.metadata()])
        self._session_manifests()[manifest.source] = manifest

    def _commit(self, new: Manifest, stats: CorpusStats | None, old: Manifest | None) -> None:
        """Write `new` as the source's commit record, with its statistics and the corpus totals updated by
        the difference, in one call (stats first: a torn write leaves stats no manifest names, which are
        recounted)."""
        totals, fingerprint = self._session_totals()
        value = int(fingerprint, 16)
        if old is not None and old.write_id:
            totals.add(self._document_stats([old])[old.source], -1)
            value ^= _commit_hash(old)
        ids, metas = [], []
        if new.write_id and stats is not None:
            totals.add(stats)
            value ^= _commit_hash(new)
            ids.append(f"stats:{new.key}")
            metas.append({"kind": "stats", "source": new.source, "write_id": new.write_id, "stats": stats.to_json()})
        fingerprint = f"{value:016x}"
        ids += [f"doc:{new.key}", _TOTALS_ID]
        metas += [new.metadata(), {"kind": "totals", "fingerprint": fingerprint, "stats": totals.to_json()}]
        self._documents.upsert(ids=ids, embeddings=[[0.0]] * len(ids), metadatas=metas)
        self._session_manifests()[new.source] = new
        self._session["totals"] = (totals, fingerprint)

    def _forget(self, source: str) -> None:
        """Drop a source's commit record once nothing of it is committed or stored."""
        key = Manifest(source).key
        self._documents.delete(ids=[f"doc:{key}", f"stats:{key}"])
        self._session_manifests().pop(source, None)

    def _adopt(self, source: str, raw: list[tuple[str, str, dict[str, Any]]] | None = None) -> Manifest | None:
        """Commit the records of a source no manifest speaks for, if they are one version."""
        raw = self._raw_records({"source": source}) if raw is None else raw
        if not raw or not _adoptable([m for _, _, m in raw]):
            return None
        meta = raw[0][2]
        manifest = Manifest(source, str(meta.get("content_hash", "")), write_of(meta), len(raw),
                            ids_digest(i for i, _, _ in raw), "", str(meta.get("doc_id", "")),
                            str(meta.get("version", "")))
        self._commit(manifest, CorpusStats.of((clause_from_record(i, t, m) for i, t, m in raw), self.sentences), None)
        return manifest

    def _repair(self, interrupted: bool = False) -> StoreState:
        """Under the writer lock: make the store hold exactly the committed clauses, and the totals sum them.
        After an `interrupted` writer the build id is bumped whatever was found (a status update may have
        landed without its bump)."""
        self._session.pop("manifests", None)
        self._session.pop("totals", None)
        manifests = dict(self._session_manifests())
        groups: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for rid, _, meta in self._raw_records(include_text=False):
            groups[str(meta.get("source", ""))].append((rid, meta))
        state, drop = StoreState(), []
        committed: list[tuple[str, dict[str, Any]]] = []
        for source, recs in groups.items():
            state.sources.add(source)
            manifest = manifests.get(source)
            if manifest is None:
                manifest = self._adopt(source)
                if manifest is None:
                    # Versions mixed by an interrupted write of an older release: invisible until re-ingested.
                    for _, meta in recs:
                        state.owners.setdefault((str(meta.get("doc_id", "")), str(meta.get("version", ""))), source)
                    continue
                state.repaired.append(f"adopted {len(recs)} clauses of {source} stored without a commit record")
            mine = [rid for rid, meta in recs if manifest.write_id and write_of(meta) == manifest.write_id]
            if len(mine) < len(recs):
                drop += [rid for rid, meta in recs if not manifest.write_id or write_of(meta) != manifest.write_id]
                state.repaired.append(f"dropped {len(recs) - len(mine)} uncommitted or superseded clauses of {source}")
            if not manifest.write_id:
                self._forget(source)  # a new file whose write never committed
            elif manifest.pending:
                self._put_manifest(replace(manifest, pending=""))
            if manifest.write_id and len(mine) == manifest.clauses and ids_digest(mine) == manifest.digest:
                state.current[source] = manifest.content_hash
                committed += [(rid, meta) for rid, meta in recs if write_of(meta) == manifest.write_id]
            elif manifest.write_id:
                state.repaired.append(f"{source} has {len(mine)} of its {manifest.clauses} clauses: re-ingest it")
        for source, manifest in manifests.items():
            if source not in groups:
                if manifest.write_id:
                    state.repaired.append(f"{source} lost all of its clauses: re-ingest it")
                    self._commit(Manifest(source), None, manifest)
                self._forget(source)
        for manifest in self._session_manifests().values():
            if manifest.write_id:
                state.owners[(manifest.doc_id, manifest.version)] = manifest.source
        # The versions' statuses are read here, with every record already in hand, so that the writer's
        # refresh afterwards reads only the documents it wrote and these (a whole-store read was 19 s at 100k).
        metas = dict(committed)
        state.statuses_due = {str(metas[rid]["doc_id"]) for rid in version_statuses(committed, date.today())}
        # The totals must sum the commits now held; a recount is written back.
        totals, fingerprint = self._session_totals()
        stored = self._documents.get(ids=[_TOTALS_ID], include=["metadatas"])
        if not stored["ids"] or stored["metadatas"][0].get("fingerprint") != fingerprint:
            self._documents.upsert(ids=[_TOTALS_ID], embeddings=[[0.0]], metadatas=[
                {"kind": "totals", "fingerprint": fingerprint, "stats": totals.to_json()}])
            if state.current:
                state.repaired.append("recounted the corpus statistics")
        self._delete_records(drop)
        if interrupted or drop or state.repaired:
            self._begin_write()
            self._bump_build()
        return state

    def _bump_build(self) -> None:
        metadata = dict(self.collection.metadata or {})
        metadata["build_id"] = uuid.uuid4().hex[:16]
        metadata["embed_model"] = self.settings.embedding.model
        self.collection.modify(metadata=metadata)


def _adoptable(metas: list[dict[str, Any]]) -> bool:
    return len({(m.get("content_hash", ""), write_of(m)) for m in metas}) == 1


def _views(manifests: dict[str, Manifest]) -> dict[str, tuple[str, int, str]]:
    return {s: m.view() for s, m in manifests.items() if m.write_id}


def _admit(raw: list[tuple[str, str, dict[str, Any]]],
           manifests: dict[str, Manifest]) -> tuple[list[tuple[str, str, dict[str, Any]]], set[str]]:
    """The records a commit admits, by source then clause order, and the sources whose statistics must be
    counted from them (adopted ones, and committed ones missing clauses)."""
    groups: dict[str, list[tuple[int, str, str, dict[str, Any]]]] = defaultdict(list)
    for pos, (rid, text, meta) in enumerate(raw):
        groups[str(meta.get("source", ""))].append((pos, rid, text, meta))
    admitted: list[tuple[int, str, str, dict[str, Any]]] = []
    derive: set[str] = set()
    for source, recs in groups.items():
        manifest = manifests.get(source)
        if manifest is not None:
            mine = [r for r in recs if manifest.write_id and write_of(r[3]) == manifest.write_id]
            if manifest.write_id and (len(mine) != manifest.clauses
                                      or ids_digest(r[1] for r in mine) != manifest.digest):
                derive.add(source)
        elif _adoptable([r[3] for r in recs]):
            mine = recs
            derive.add(source)
        else:
            mine = []
        admitted.extend(mine)
    admitted.sort(key=lambda r: (str(r[3].get("source", "")), int(r[3].get("seq", r[0]))))
    return [(rid, text, meta) for _, rid, text, meta in admitted], derive
