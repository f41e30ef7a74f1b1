"""Tamper-evident audit log: one JSON line per action, each holding a keyed hash of the line before.

Every entry's `hash` is an HMAC-SHA256, under a key kept outside the log's folder, of its fields and the
previous entry's hash; a head file beside the log holds the last sequence number and hash, signed the same
way; and signed checkpoints (entry count + chain head) are written to a second location every N entries
and on demand. Whoever can write the log's folder but not read the key cannot forge, edit, reorder, cut
or delete entries without `verify` saying so (docs/security/audit.md says what it cannot prove).
Logs written before the key existed (plain SHA-256 entries) still read and verify, reported as legacy.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import hmac
import io
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from xiaoshen.errors import AuditLogError, XiaoshenError
from xiaoshen.settings import AuditSettings

Action = Literal["sign_in", "sign_in_failed", "sign_in_refused", "sign_out", "session_resumed", "session_expired",
                 "ask", "search", "review", "batch", "ingest", "remove_document",
                 "audit_export", "audit_repair", "document_reviewed"]
GENESIS = "0" * 64
_log = logging.getLogger(__name__)

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


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()


@dataclass(frozen=True)
class AuditKey:
    """The chain's HMAC key; `key_id` names it in entries without revealing it."""

    secret: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"xiaoshen audit key id:" + self.secret).hexdigest()[:16]

    def mac(self, payload: dict[str, Any]) -> str:
        return hmac.new(self.secret, _canonical(payload), hashlib.sha256).hexdigest()

    def signs(self, payload: dict[str, Any], mac: str) -> bool:
        return hmac.compare_digest(self.mac(payload), mac)


def read_key(path: Path) -> AuditKey | None:
    """The key in `path` (64 hex digits), None if there is no such file; a damaged file is an error."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditLogError(f"Cannot read the audit key file {path}: {exc}",
                            "restore it from the bank's key backup") from exc
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise AuditLogError(f"The audit key file {path} does not hold a 64-hex-digit key",
                            "restore it from the bank's key backup")
    return AuditKey(secret)


def create_key(path: Path) -> AuditKey:
    """A new random key written to `path` readable by its owner only (0600); an existing one is kept."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        key = read_key(path)
        assert key is not None
        return key
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return AuditKey(secret)


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
    key_id: str | None = Field(default=None, description="The key whose HMAC `hash` is; None: a legacy, "
                               "unkeyed SHA-256 entry.")

    def _payload(self) -> dict[str, Any]:
        # A legacy entry's hash was computed before key_id existed: leave it out to recompute the same.
        exclude = {"hash"} if self.key_id is not None else {"hash", "key_id"}
        return self.model_dump(mode="json", exclude=exclude)

    def compute_hash(self, key: AuditKey | None = None) -> str:
        """The entry's HMAC under `key` (keyed entries), or its plain SHA-256 (legacy entries)."""
        if self.key_id is None:
            return hashlib.sha256(_canonical(self._payload())).hexdigest()
        if key is None:
            raise AuditLogError("A keyed audit entry cannot be checked without the key")
        return key.mac(self._payload())


class Head(BaseModel):
    """The last entry's sequence number and hash, signed (legacy heads carry no signature)."""

    seq: int
    hash: str
    key_id: str | None = None
    mac: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "key_id": self.key_id}


class Checkpoint(BaseModel):
    """A signed statement, kept away from the log, that it held `seq` entries ending in `hash` at `time`."""

    log: str
    seq: int
    hash: str
    time: str
    key_id: str
    mac: str = ""

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"mac"})


class ChainReport(BaseModel):
    """The result of checking the chain: ok, entries read, each problem with its line number, notes that
    do not break it (legacy entries, recorded damage) and the last checkpoint the log agrees with."""

    ok: bool
    entries: int
    problems: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    legacy_entries: int = 0
    checkpoint: Checkpoint | None = None

    def checkpoint_line(self) -> str:
        """One line on the last trusted checkpoint, for the CLI and the app."""
        if self.checkpoint is None:
            return "no trusted checkpoint: nothing kept outside the log vouches for it yet"
        return (f"last trusted checkpoint: entry {self.checkpoint.seq} at {self.checkpoint.time} "
                f"(head {self.checkpoint.hash[:12]})")


class AuditLog:
    """Append-only, HMAC-chained JSON-lines log; safe across threads and processes (file lock)."""

    def __init__(self, path: Path, settings: AuditSettings | None = None) -> None:
        self.path = path
        self.settings = settings or AuditSettings()
        self.head_path = path.with_name(path.name + ".head")
        self._lock_path = path.with_name(path.name + ".lock")
        if self.settings.key_file.expanduser().absolute().parent == path.absolute().parent:
            raise AuditLogError(f"The audit key {self.settings.key_file} sits in the log's own folder",
                                "keep it elsewhere (settings audit.key_file), out of reach of whoever can "
                                "write the log")

    @property
    def checkpoint_path(self) -> Path:
        """Where this log's checkpoints go: one file per log, named by the log's absolute path."""
        tag = hashlib.sha256(str(self.path.absolute()).encode()).hexdigest()[:12]
        return self.settings.checkpoint_dir.expanduser() / f"{self.path.stem}-{tag}.checkpoints.jsonl"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # --- the key and the head ---------------------------------------------------------------------

    def _key(self) -> AuditKey | None:
        return read_key(self.settings.key_file.expanduser())

    def _required_key(self, why: str) -> AuditKey:
        key = self._key()
        if key is None:
            raise AuditLogError(f"The audit key file {self.settings.key_file} is missing, but {why}",
                                "restore it from the bank's key backup, or point audit.key_file at it")
        return key

    def _head(self) -> Head | None:
        """The head file, None if there is none; a damaged one is a one-line error."""
        try:
            raw = self.head_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditLogError(f"Cannot read the audit head file {self.head_path}: {exc}") from exc
        try:
            return Head.model_validate_json(raw)
        except ValidationError as exc:
            raise AuditLogError(f"The audit head file {self.head_path} is damaged (not a head record)",
                                "run `xiaoshen audit verify`; nothing can be appended until it is restored") from exc

    def _write_head(self, head: Head) -> None:
        tmp = self.head_path.with_suffix(".tmp")
        tmp.write_text(head.model_dump_json(), encoding="utf-8")
        tmp.replace(self.head_path)

    def _key_for_append(self, head: Head | None) -> AuditKey:
        """The key to sign with: the log's own, or a new one for a new (or legacy) log."""
        if head is None and self.path.exists() and self.path.stat().st_size:
            raise AuditLogError(f"The audit log {self.path} has entries but no head file ({self.head_path})",
                                "run `xiaoshen audit verify`")
        key = self._key()
        if key is None:
            if head is not None and head.key_id is not None:
                key = self._required_key(f"the log {self.path} is signed with key {head.key_id}")
            elif self.checkpoint_path.exists():
                key = self._required_key(f"the log {self.path} has checkpoints in {self.checkpoint_path}")
            else:  # a new log, or one written before keys existed: from here on it is keyed
                key = create_key(self.settings.key_file.expanduser())
        if head is not None and head.key_id is not None:
            if head.key_id != key.key_id:
                raise AuditLogError(f"The audit log {self.path} is signed with key {head.key_id}, the key file "
                                    f"{self.settings.key_file} holds key {key.key_id}",
                                    "point audit.key_file at the log's key")
            if not head.mac or not key.signs(head.payload(), head.mac):
                raise AuditLogError(f"The audit head file {self.head_path} is not signed by the log's key "
                                    "(it was rewritten)", "run `xiaoshen audit verify`")
        return key

    def _cut_off_tail(self) -> tuple[int, bytes] | None:
        """(line number, bytes) of a last line cut off mid-write (no newline), if there is one."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        with self.path.open("rb") as fh:  # only the last byte, on every append; the whole file only if cut
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return None
        data = self.path.read_bytes()
        start = data.rfind(b"\n") + 1
        return data.count(b"\n") + 1, data[start:]

    # --- writing ----------------------------------------------------------------------------------

    def _write_entry(self, key: AuditKey, seq: int, prev: str, **fields: Any) -> AuditEntry:
        entry = AuditEntry(seq=seq, time=datetime.now(UTC).isoformat(timespec="seconds"), prev_hash=prev,
                           key_id=key.key_id, **fields)
        entry.hash = entry.compute_hash(key)
        with self.path.open("a", encoding="utf-8") as log:
            log.write(entry.model_dump_json() + "\n")
            log.flush()
        head = Head(seq=entry.seq, hash=entry.hash, key_id=key.key_id)
        head.mac = key.mac(head.payload())
        self._write_head(head)
        return entry

    def append(self, *, user: str, action: Action, subject: str = "", clause_ids: list[str] | None = None,
               documents: list[str] | None = None, backend: str | None = None, settings_hash: str | None = None,
               groundedness: float | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
        """Record one action; the subject is masked before it is written. A last line cut off by a crash
        is closed and recorded first, so the new entry starts a clean line."""
        with self._locked():
            head = self._head()
            key = self._key_for_append(head)
            seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
            cut = self._cut_off_tail()
            if cut is not None:
                line, tail = cut
                with self.path.open("ab") as log:
                    log.write(b"\n")
                repair = self._write_entry(
                    key, seq + 1, prev, user="xiaoshen", action="audit_repair",
                    subject=f"line {line} was cut off mid-write",
                    details={"damaged_line": line, "bytes": len(tail), "sha256": hashlib.sha256(tail).hexdigest()})
                seq, prev = repair.seq, repair.hash
            entry = self._write_entry(
                key, seq + 1, prev, user=user, action=action, subject=mask_identifiers(subject),
                clause_ids=clause_ids or [], documents=documents or [], backend=backend,
                settings_hash=settings_hash, groundedness=None if groundedness is None else round(groundedness, 3),
                details=details or {})
            if entry.seq % self.settings.checkpoint_every == 0:
                try:
                    self._write_checkpoint(key, entry.seq, entry.hash)
                except OSError as exc:
                    # The action is recorded; the missing checkpoint shows in `verify`.
                    _log.warning("audit checkpoint not written to %s: %s", self.checkpoint_path, exc)
        return entry

    def _write_checkpoint(self, key: AuditKey, seq: int, chain_head: str) -> Checkpoint:
        checkpoint = Checkpoint(log=str(self.path.absolute()), seq=seq, hash=chain_head,
                                time=datetime.now(UTC).isoformat(timespec="seconds"), key_id=key.key_id)
        checkpoint.mac = key.mac(checkpoint.payload())
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        with self.checkpoint_path.open("a", encoding="utf-8") as fh:
            fh.write(checkpoint.model_dump_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return checkpoint

    def checkpoint(self) -> Checkpoint:
        """Verify the chain and write a signed checkpoint of its head to the checkpoint folder."""
        with self._locked():
            report = self._verify()
            if not report.ok:
                raise AuditLogError(f"The audit log {self.path} does not verify ({report.problems[0]})",
                                    "a checkpoint would vouch for a broken chain; run `xiaoshen audit verify`")
            head = self._head()
            if head is None:
                raise AuditLogError(f"The audit log {self.path} is empty: there is nothing to checkpoint")
            key = self._key_for_append(head)
            return self._write_checkpoint(key, head.seq, head.hash)

    # --- reading ----------------------------------------------------------------------------------

    def _lines(self) -> list[bytes]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AuditLogError(f"Cannot read the audit log {self.path}: {exc}") from exc
        lines = data.split(b"\n")
        return lines[:-1] if data.endswith(b"\n") or not data else lines

    def entries(self) -> list[AuditEntry]:
        """Every entry that parses, oldest first (use `verify` to know whether they can be trusted)."""
        result = []
        for line in self._lines():
            try:
                result.append(AuditEntry.model_validate_json(line.decode("utf-8")))
            except (UnicodeDecodeError, ValidationError):
                continue
        return result

    def _checkpoints(self) -> list[tuple[int, Checkpoint | None]]:
        try:
            lines = self.checkpoint_path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AuditLogError(f"Cannot read the audit checkpoints {self.checkpoint_path}: {exc}") from exc
        out: list[tuple[int, Checkpoint | None]] = []
        for number, line in enumerate(lines, start=1):
            try:
                out.append((number, Checkpoint.model_validate_json(line)))
            except ValidationError:
                out.append((number, None))
        return out

    def verify(self) -> ChainReport:
        """Recompute every HMAC and link, check the signed head and every checkpoint; report each edited,
        forged, inserted, deleted or truncated line, and the last checkpoint the log agrees with."""
        try:
            lock = self._lock_path.open("a")
        except OSError:  # a log on read-only media (an archive) has no writers to wait for
            return self._verify()
        with lock:
            # Shared: writers wait, so no entry is read without its head, but verifiers do not queue.
            fcntl.flock(lock, fcntl.LOCK_SH)
            try:
                return self._verify()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _verify(self) -> ChainReport:
        problems: list[str] = []
        warnings: list[str] = []
        key = self._key()
        checkpoints = self._checkpoints()
        if key is None and checkpoints:
            key = self._required_key(f"the log {self.path} has checkpoints in {self.checkpoint_path}")
        lines = self._lines()
        damaged: dict[int, tuple[str, str]] = {}  # line number: (problem, SHA-256 of its bytes)
        hashes: dict[int, str] = {}
        prev, seq, count, legacy, keyed = GENESIS, 0, 0, 0, False
        for number, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                damaged[number] = (f"line {number}: not valid UTF-8 (its bytes were altered)",
                                   hashlib.sha256(raw).hexdigest())
                continue
            try:
                entry = AuditEntry.model_validate_json(text)
            except ValidationError:
                damaged[number] = (f"line {number}: not a valid audit entry", hashlib.sha256(raw).hexdigest())
                continue
            count += 1
            if entry.seq != seq + 1:
                problems.append(f"line {number}: sequence jumps from {seq} to {entry.seq} (entries deleted or inserted)")
            if entry.prev_hash != prev:
                problems.append(f"line {number}: does not link to the entry before it (an entry was removed or edited)")
            if entry.key_id is None:
                if keyed:
                    problems.append(f"line {number}: an unkeyed entry after keyed ones (written without the key)")
                else:
                    legacy += 1
                if entry.compute_hash() != entry.hash:
                    problems.append(f"line {number}: contents do not match its hash (the entry was edited)")
            else:
                keyed = True
                if key is None:
                    key = self._required_key(f"the log {self.path} has entries signed with key {entry.key_id}")
                if entry.key_id != key.key_id:
                    problems.append(f"line {number}: signed with key {entry.key_id}, not the configured key "
                                    f"{key.key_id} (written without the log's key)")
                elif not hmac.compare_digest(entry.compute_hash(key), entry.hash):
                    problems.append(f"line {number}: contents do not match its HMAC (edited, or written "
                                    "without the key)")
            if entry.action == "audit_repair":
                line = entry.details.get("damaged_line")
                # Only the fragment the repair entry describes, byte for byte, is excused.
                if line in damaged and damaged[line][1] == entry.details.get("sha256"):
                    warnings.append(f"line {line}: cut off mid-write, recorded by entry {entry.seq}")
                    del damaged[line]
            hashes[entry.seq] = entry.hash
            prev, seq = entry.hash, entry.seq
        if lines and not self.path.read_bytes().endswith(b"\n") and len(lines) in damaged:
            # A crash mid-write: the entry never reached the head, and the next append records it.
            warnings.append(f"line {len(lines)}: cut off mid-write (the next entry will record it)")
            del damaged[len(lines)]
        problems = [damaged[n][0] for n in sorted(damaged)] + problems
        self._check_head(problems, key, seq, prev, keyed, count)
        trusted = self._check_checkpoints(problems, checkpoints, key, seq, hashes)
        if legacy:
            warnings.insert(0, f"entries 1–{legacy} are unkeyed (written before the log was keyed): their hashes "
                               "show order and edits, not who wrote them")
        return ChainReport(ok=not problems, entries=count, problems=problems, warnings=warnings,
                           legacy_entries=legacy, checkpoint=trusted)

    def _check_head(self, problems: list[str], key: AuditKey | None, seq: int, prev: str, keyed: bool,
                    count: int) -> None:
        try:
            head = self._head()
        except AuditLogError as exc:
            problems.append(exc.message)
            return
        if head is None:
            if count:
                problems.append(f"the head file {self.head_path.name} is missing (it was deleted)")
            return
        if (head.seq, head.hash) != (seq, prev):
            problems.append(f"the log ends at entry {seq} but its head records entry {head.seq} "
                            "(entries cut off the end, or the head file was changed)")
        if head.key_id is None:
            if keyed:
                problems.append("the head file is not signed (it was rewritten without the key)")
        elif key is None or head.key_id != key.key_id or not head.mac or not key.signs(head.payload(), head.mac):
            problems.append("the head file's signature does not match the key (it was rewritten)")

    def _check_checkpoints(self, problems: list[str], checkpoints: list[tuple[int, Checkpoint | None]],
                           key: AuditKey | None, seq: int, hashes: dict[int, str]) -> Checkpoint | None:
        trusted: Checkpoint | None = None
        where = self.checkpoint_path.name
        for number, checkpoint in checkpoints:
            if checkpoint is None:
                problems.append(f"checkpoint {number} in {where}: not a valid checkpoint")
                continue
            assert key is not None  # checked before: checkpoints need the key
            if checkpoint.key_id != key.key_id or not key.signs(checkpoint.payload(), checkpoint.mac):
                problems.append(f"checkpoint {number} in {where}: not signed by the log's key (forged)")
            elif checkpoint.seq > seq:
                problems.append(f"checkpoint of {checkpoint.time} records {checkpoint.seq} entries but the log "
                                f"holds {seq} (entries after entry {seq} were cut off, or the log was deleted)")
            elif hashes.get(checkpoint.seq) != checkpoint.hash:
                problems.append(f"entry {checkpoint.seq} is not the one the checkpoint of {checkpoint.time} "
                                "signed (the log was rewritten)")
            elif trusted is None or checkpoint.seq >= trusted.seq:
                trusted = checkpoint
        return trusted

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


def open_audit_log(path: Path, settings: AuditSettings | None = None) -> AuditLog:
    """The audit log at `path`, keyed and checkpointed as `settings` say; refuses a path that is a directory."""
    if path.is_dir():
        raise XiaoshenError(f"Audit log path {path} is a directory", "set XIAOSHEN_ACCESS__AUDIT_LOG to a file")
    return AuditLog(path, settings)
