"""Files → index: discover, hash, read, split, embed, write — one document at a time, incrementally.

A file whose bytes are unchanged costs no embedding work; a changed file replaces all of its clauses;
`prune` removes documents whose files are gone. A file that fails never stops the others: it is
reported with a one-line reason and the index keeps what it had for that file.

An ingest holds the index's writer lock from start to end (a second one waits, saying so on stderr) and
begins by verifying the store: what an interrupted ingest left is repaired, and a file whose committed
clauses are incomplete is ingested again rather than reported unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ingest.clauses import split_clauses
from ingest.limits import check_clauses, within_budget
from ingest.ocr import OcrOptions
from ingest.readers import SIDECAR_SUFFIX, SUPPORTED_SUFFIXES, ingest_digest, read_document
from xiaoshen.errors import DocumentError, XiaoshenError
from xiaoshen.index import ClauseIndex, StoreState, version_statuses
from xiaoshen.injection import mark_suspicious
from xiaoshen.retrieve import ClauseFilter
from xiaoshen.settings import IngestSettings
from xiaoshen.types import Clause, PolicyDocument

# Exit codes of `xiaoshen ingest` (documented in the README).
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_NOTHING_INGESTED = 0, 1, 2, 3


@dataclass
class FileOutcome:
    source: str
    status: str  # "added", "updated", "unchanged", "failed", "removed"
    doc_id: str = ""
    version: str = ""
    clauses: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    embedded_clauses: int = 0
    notices: list[str] = field(default_factory=list)  # waiting for the lock, repairs made

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def exit_code(self) -> int:
        if not self.failed:
            return EXIT_OK
        if all(o.status == "failed" for o in self.outcomes):
            return EXIT_NOTHING_INGESTED
        return EXIT_SOME_FAILED

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus every non-hidden file under named folders, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root) / f for f in sorted(files)
                             if not f.startswith(".") and not f.endswith(SIDECAR_SUFFIX))
        else:
            found.append(path)
    return [p.resolve() if p.exists() else p for p in found]


def ingest(
    paths: Iterable[Path],
    *,
    index: ClauseIndex,
    prune: bool = False,
    progress: Callable[[str], None] | None = None,
    notice: Callable[[str], None] | None = None,
    lock_timeout: float | None = None,
    ocr_progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Bring the index in line with the given files; see the module docstring for the rules. `notice`
    hears about waits, repairs and skipped scanned pages (default: stderr); `lock_timeout` bounds the wait
    for another writer; `ocr_progress` hears each page OCR recognises (default: stderr)."""
    paths = list(paths)  # walked twice: to discover files and to bound --prune
    files = discover(paths)
    report = IngestReport()

    def tell(message: str) -> None:
        report.notices.append(message)
        if notice is not None:
            notice(message)
        else:
            print(f"xiaoshen ingest: {message}", file=sys.stderr, flush=True)

    with index.writer(timeout=lock_timeout, notice=tell):
        state = index.verify()
        for line in state.repaired:
            tell(f"repaired: {line}")
        # (doc id, version) -> source: a second file claiming the same version is refused.
        owners = dict(state.owners)
        for path in files:
            if progress:
                progress(path.name)
            ocr = OcrOptions(index.settings.ocr, index.settings.ocr_cache_dir,
                             progress=ocr_progress or (lambda line: print(line, file=sys.stderr, flush=True)))
            outcome = _ingest_file(path, index, state, owners, report, ocr, tell)
            if outcome.status in {"added", "updated"}:
                owners[(outcome.doc_id, outcome.version)] = outcome.source
            report.outcomes.append(outcome)
        # The documents whose versions may have changed: those written now, and those verify found due.
        touched = set(state.statuses_due)
        touched.update(o.doc_id for o in report.outcomes if o.status in {"added", "updated"} and o.doc_id)
        # A file that now holds another document leaves its old document's other versions to re-rank.
        doc_of = {source: doc_id for (doc_id, _), source in state.owners.items()}
        touched.update(doc_of[o.source] for o in report.outcomes if o.status == "updated" and o.source in doc_of)
        if prune:
            present = {str(p) for p in files}
            roots = [str(Path(p).resolve()) for p in paths]
            for source in sorted(state.sources - present):
                # Prune only inside the folders being ingested, never another corpus in the same index.
                if any(source == r or source.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
                    removed = index.delete_source(source)
                    report.outcomes.append(FileOutcome(source, "removed", clauses=removed))
                    if source in doc_of:
                        touched.add(doc_of[source])
        refresh_statuses(index, doc_ids=touched)
    if any(o.status in {"added", "updated", "removed"} for o in report.outcomes):
        # The writer rebuilds and caches the keyword index of the new build, so the next reader only loads
        # it: at 100k clauses the rebuild is a minute, which the ingest pays instead of the next question.
        try:
            index.keyword_index()
        except XiaoshenError as exc:
            tell(f"the keyword index will be rebuilt by the next reader: {exc}")
    return report


def _ingest_file(path: Path, index: ClauseIndex, state: StoreState,
                 owners: dict[tuple[str, str], str], report: IngestReport, ocr: OcrOptions,
                 tell: Callable[[str], None]) -> FileOutcome:
    source = str(path)
    try:
        if not path.exists():
            raise DocumentError(source, "no such file")
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise DocumentError(source, f"unsupported file type '{path.suffix or '(none)'}'",
                                "supported: " + ", ".join(sorted(SUPPORTED_SUFFIXES)))
        digest = ingest_digest(path)
        if state.current.get(source) == digest:
            return FileOutcome(source, "unchanged")
        document, clauses = read_and_split(path, index.settings.ingest, ocr)
        for note in document.notes:
            tell(note)
        owner = owners.get((document.doc_id, document.version))
        if owner is not None and owner != source:
            raise DocumentError(source, f"{document.doc_id} v{document.version} is already ingested from {owner}",
                                "give the new file a new version, or remove the old one first")
        clauses = mark_suspicious(clauses)
        if not clauses:
            raise DocumentError(source, "no clauses found in the text")
        embeddings = index.embed_clauses(clauses)
        index.replace_source(source, clauses, embeddings)
        report.embedded_clauses += len(clauses)
        status = "updated" if source in state.sources else "added"
        return FileOutcome(source, status, document.doc_id, document.version, len(clauses))
    except DocumentError as exc:
        return FileOutcome(source, "failed", reason=exc.reason + (f" ({exc.hint})" if exc.hint else ""))
    except XiaoshenError as exc:
        return FileOutcome(source, "failed", reason=str(exc))
    except Exception as exc:  # one odd file must never stop the batch
        return FileOutcome(source, "failed", reason=f"unexpected {type(exc).__name__}: {exc}")


def read_and_split(path: Path, limits: IngestSettings, ocr: OcrOptions | None = None) -> tuple[PolicyDocument, list[Clause]]:
    """Read one file and split it into clauses within the `ingest.*` bounds (ingest/limits.py); raises
    DocumentError, never anything else a file's content can cause."""
    source = str(path)

    def work() -> tuple[PolicyDocument, list[Clause]]:
        document = read_document(path, limits, ocr)
        return document, split_clauses(document, limits)

    budget = limits.parse_budget_s
    if budget and ocr is not None and ocr.settings.enabled and SUPPORTED_SUFFIXES.get(path.suffix.lower()) in {"pdf", "image"}:
        # Recognising scanned pages has its own, longer limit (ocr.time_limit_s), which stops OCRmyPDF's
        # whole process tree cleanly; the parse budget must not cut it short from outside.
        budget += ocr.settings.time_limit_s
    document, clauses = within_budget(source, budget, work)
    check_clauses(source, len(clauses), limits)
    return document, clauses


def refresh_statuses(index: ClauseIndex, today: date | None = None, doc_ids: Iterable[str] | None = None) -> None:
    """Per doc id, the newest version in force is current; earlier ones are superseded (see
    `version_statuses`). `doc_ids`: only these documents' clauses are read and updated (all when None)."""
    where = None
    if doc_ids is not None:
        wanted = sorted(set(doc_ids))
        if not wanted:
            return
        where = ClauseFilter(doc_ids=wanted).to_chroma_where()
    records = index.records(where, include_text=False)
    changes = version_statuses(((rid, meta) for rid, _, meta in records), today or date.today())
    for status in ("current", "superseded"):
        index.set_status([rid for rid, wanted in changes.items() if wanted == status], status)

