"""Tamper-evident audit log: one JSON line per action, each holding the hash of the line before.

Editing or deleting any line breaks the chain from that point; a head file beside the log keeps
the last sequence number and hash, so cutting lines off the end is detected too.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from xiaoshen.errors import XiaoshenError

Action = Literal["sign_in", "sign_in_failed", "sign_in_refused", "sign_out", "session_resumed", "session_expired",
                 "ask", "search", "review", "batch", "ingest", "remove_document",
                 "audit_export"]
GENESIS = "0" * 64

# Digit runs in free text (ID card, account and phone numbers, digits grouped by spaces or dashes)
# keep only their last 4 digits; 9 digits or more, so dates and amounts stay readable.
_DIGIT_RUN = re.compile(r"(?<![\d.,])\d[\d -]*\d(?![\d.,%])")


def _mask(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = sum(ch.isdigit() for ch in run)
    if digits < 9:
        return run
    keep, out = 4, []
    for ch in reversed(run):
        if ch.isdigit():
            out.append(ch if keep > 0 else "*")
            keep -= 1
        else:
            out.append(ch)
    return "".join(reversed(out))


def mask_identifiers(text: str) -> str:
    """Free text with identifier-like digit runs masked, e.g. 110101199001011234 → **************1234."""
    return _DIGIT_RUN.sub(_mask, text)


class AuditEntry(BaseModel):
    """One recorded action; `hash` covers every other field and the previous entry's hash."""

    seq: int
    time: str
    user: str
    action: Action
    subject: str = Field(default="", description="Question asked, application id or file name; identifiers masked.")
    clause_ids: list[str] = Field(default_factory=list)
    documents: list[str] = Field(default_factory=list, description="'DOC-ID vVERSION' of every document cited.")
    backend: str | None = None
    settings_hash: str | None = None
    groundedness: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str = ""

    def compute_hash(self) -> str:
        payload = self.model_dump(mode="json", exclude={"hash"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ChainReport(BaseModel):
    """The result of checking the chain: ok, entries read, and each problem with its line number."""

    ok: bool
    entries: int
    problems: list[str] = Field(default_factory=list)


class AuditLog:
    """Append-only, hash-chained JSON-lines log; safe across threads and processes (file lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")
        self._lock_path = path.with_name(path.name + ".lock")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _head(self) -> tuple[int, str]:
        if not self.head_path.exists():
            return 0, GENESIS
        head = json.loads(self.head_path.read_text(encoding="utf-8"))
        return int(head["seq"]), str(head["hash"])

    def append(self, *, user: str, action: Action, subject: str = "", clause_ids: list[str] | None = None,
               documents: list[str] | None = None, backend: str | None = None, settings_hash: str | None = None,
               groundedness: float | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
        """Record one action; the subject is masked before it is written."""
        with self._locked():
            seq, prev = self._head()
            entry = AuditEntry(
                seq=seq + 1, time=datetime.now(UTC).isoformat(timespec="seconds"), user=user, action=action,
                subject=mask_identifiers(subject), clause_ids=clause_ids or [], documents=documents or [],
                backend=backend, settings_hash=settings_hash,
                groundedness=None if groundedness is None else round(groundedness, 3),
                details=details or {}, prev_hash=prev)
            entry.hash = entry.compute_hash()
            with self.path.open("a", encoding="utf-8") as log:
                log.write(entry.model_dump_json() + "\n")
                log.flush()
            tmp = self.head_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"seq": entry.seq, "hash": entry.hash}), encoding="utf-8")
            tmp.replace(self.head_path)
        return entry

    def entries(self) -> list[AuditEntry]:
        """Every entry that parses, oldest first (use `verify` to know whether they can be trusted)."""
        if not self.path.exists():
            return []
        result = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                result.append(AuditEntry.model_validate_json(line))
            except ValidationError:
                continue
        return result

    def verify(self) -> ChainReport:
        """Recompute every hash and link; report each edited, inserted, deleted or truncated line."""
        problems: list[str] = []
        prev, seq, count = GENESIS, 0, 0
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        for number, line in enumerate(lines, start=1):
            try:
                entry = AuditEntry.model_validate_json(line)
            except ValidationError:
                problems.append(f"line {number}: not a valid audit entry")
                continue
            count += 1
            if entry.seq != seq + 1:
                problems.append(f"line {number}: sequence jumps from {seq} to {entry.seq} (entries deleted or inserted)")
            if entry.prev_hash != prev:
                problems.append(f"line {number}: does not link to the entry before it (an entry was removed or edited)")
            if entry.compute_hash() != entry.hash:
                problems.append(f"line {number}: contents do not match its hash (the entry was edited)")
            prev, seq = entry.hash, entry.seq
        head_seq, head_hash = self._head()
        if (head_seq, head_hash) != (seq, prev):
            problems.append(f"the log ends at entry {seq} but its head records entry {head_seq} "
                            "(entries cut off the end, or the head file was changed)")
        return ChainReport(ok=not problems, entries=count, problems=problems)

    def export(self, entries: list[AuditEntry], fmt: Literal["csv", "jsonl"]) -> str:
        """The given entries as CSV (lists joined with ';') or JSON lines."""
        if fmt == "jsonl":
            return "".join(e.model_dump_json() + "\n" for e in entries)
        out = io.StringIO()
        columns = list(AuditEntry.model_fields)
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for entry in entries:
            row = entry.model_dump(mode="json")
            writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list)
                             else json.dumps(v, ensure_ascii=False) if isinstance(v, dict)
                             else "" if v is None else v for k, v in row.items()})
        return out.getvalue()


def filter_entries(entries: list[AuditEntry], *, user: str | None = None, action: str | None = None,
                   since: str | None = None, until: str | None = None, text: str | None = None) -> list[AuditEntry]:
    """Entries matching every given criterion; dates compare as ISO strings (YYYY-MM-DD works)."""
    def keep(e: AuditEntry) -> bool:
        return ((not user or e.user == user) and (not action or e.action == action)
                and (not since or e.time >= since) and (not until or e.time[:len(until)] <= until)
                and (not text or text.lower() in e.subject.lower()))
    return [e for e in entries if keep(e)]


def cited_documents(citations: list[Any]) -> tuple[list[str], list[str]]:
    """Clause ids and 'DOC-ID vVERSION' labels of a list of Citation objects, for an audit entry."""
    clause_ids = [c.clause_id for c in citations]
    documents = sorted({f"{c.doc_id} v{c.version}" for c in citations})
    return clause_ids, documents


def record_answer(log: AuditLog, user: str, answer: Any, action: Action = "ask") -> AuditEntry:
    """Append one answered (or abstained) question: cited clauses, versions, backend, groundedness and
    confidence (kept in `details`, so entries written before it existed still verify)."""
    clause_ids, documents = cited_documents(answer.citations)
    return log.append(user=user, action=action, subject=answer.question, clause_ids=clause_ids,
                      documents=documents, backend=answer.backend, settings_hash=answer.settings_hash,
                      groundedness=answer.groundedness,
                      details={"abstained": answer.abstained, "index_build": answer.index_build,
                               "confidence": answer.confidence, "decline": answer.decline})


def record_note(log: AuditLog, user: str, note: Any, action: Action = "review") -> AuditEntry:
    """Append one drafted review note, identified by application id and the masked borrower id only."""
    clause_ids, documents = cited_documents(note.citations)
    return log.append(user=user, action=action, subject=note.application_id, clause_ids=clause_ids,
                      documents=documents, backend=note.backend, settings_hash=note.settings_hash,
                      details={"borrower_id": note.masked_id, "recommendation": note.recommendation,
                               "index_build": note.index_build})


def record_ingest(log: AuditLog, user: str, subject: str, report: Any, settings_hash: str,
                  **details: Any) -> AuditEntry | None:
    """Append one ingest that changed something: versions added or updated, files by outcome, failure reasons."""
    changed = [o for o in report.outcomes if o.status in {"added", "updated", "removed", "failed"}]
    if not changed:
        return None
    by_status = {status: [o.source for o in changed if o.status == status]
                 for status in sorted({o.status for o in changed})}
    return log.append(user=user, action="ingest", subject=subject,
                      documents=sorted({f"{o.doc_id} v{o.version}" for o in changed
                                        if o.status in {"added", "updated"}}),
                      settings_hash=settings_hash,
                      details={**by_status, "reasons": {o.source: o.reason for o in report.failed}, **details})


def record_batch(log: AuditLog, user: str, subject: str, report: Any, settings_hash: str,
                 formats: list[str]) -> AuditEntry:
    """Append one batch run: applications drafted, unchanged and failed, and the formats written."""
    return log.append(user=user, action="batch", subject=subject, settings_hash=settings_hash,
                      details={"drafted": report.written, "unchanged": report.skipped,
                               "failed": [name for name, _ in report.errors], "formats": formats})


def open_audit_log(path: Path) -> AuditLog:
    """The audit log at `path`; refuses a path that is a directory."""
    if path.is_dir():
        raise XiaoshenError(f"Audit log path {path} is a directory", "set XIAOSHEN_ACCESS__AUDIT_LOG to a file")
    return AuditLog(path)
