"""Per-text work done once, at ingest: the keyword tokens and embeddings of every clause and of its
quotable sentences, kept on disk beside the keyword index.

Rerank, the evidence bar, the extractive draft and verification look at the same clauses question after
question; without this every new process re-ran jieba and the embedding model over each candidate sentence
(64% of a warm question's time at 100k clauses). Entries are content-addressed (BLAKE2b of the text, and
vectors also by embedding model), so an entry is right whichever write produced it: crash safety needs
nothing beyond SQLite's own, a missing entry is just computed again, and copies of a text share one entry.
SQLite rather than an mmap'd array file because writers add entries document by document while readers
read, and WAL mode gives both without a lock of ours.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from xiaoshen.text import keyword_token_pair

_SEPARATOR = "\x1f"
_BATCH = 500  # SQLite's default limit on bound variables is far above this
_MEMORY = 50_000  # token entries kept in memory (about 1 kB each)

TokenPair = tuple[tuple[str, ...], tuple[str, ...]]  # (with Chinese bigrams, without)


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class SentenceStore:
    """Keyword tokens and embeddings by text, in `path` (an SQLite file), with a memory cache in front.

    A store it cannot write to (a read-only index, a busy writer) still answers: what is missing is
    computed and kept in memory only.
    """

    def __init__(self, path: Path, model: str) -> None:
        self.path = path
        self.model = model
        self._lock = threading.Lock()
        self._tokens: OrderedDict[bytes, TokenPair] = OrderedDict()
        self._db: sqlite3.Connection | None = None
        self._writable = True
        self._opened = False

    # --- tokens -----------------------------------------------------------------------------------

    def token_pairs(self, texts: Sequence[str]) -> list[TokenPair]:
        """`keyword_token_pair(text)` of each text, from memory, disk, or computed (and stored)."""
        keys = [text_key(t) for t in texts]
        found: dict[bytes, TokenPair] = {}
        with self._lock:
            for key in keys:
                if key in self._tokens:
                    found[key] = self._tokens[key]
                    self._tokens.move_to_end(key)
        wanted = [k for k in dict.fromkeys(keys) if k not in found]
        if wanted:
            found.update(self._read_tokens(wanted))
        computed: dict[bytes, TokenPair] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found:
                full, plain = keyword_token_pair(text)
                found[key] = computed[key] = (tuple(full), tuple(plain))
        if computed:
            self._write("INSERT OR IGNORE INTO tokens VALUES (?, ?, ?)",
                        [(k, _SEPARATOR.join(f), _SEPARATOR.join(p)) for k, (f, p) in computed.items()])
        with self._lock:
            for key in wanted:
                self._tokens[key] = found[key]
            while len(self._tokens) > _MEMORY:
                self._tokens.popitem(last=False)
        return [found[k] for k in keys]

    def plain_tokens(self, text: str) -> tuple[str, ...]:
        """Keyword tokens without bigrams (`keyword_tokens(text, bigrams=False)`)."""
        return self.token_pairs([text])[0][1]

    def _read_tokens(self, keys: list[bytes]) -> dict[bytes, TokenPair]:
        out: dict[bytes, TokenPair] = {}
        for rows in self._select("SELECT key, full, plain FROM tokens WHERE key IN ({})", keys):
            for key, full, plain in rows:
                out[bytes(key)] = (_split(full), _split(plain))
        return out

    # --- vectors ----------------------------------------------------------------------------------

    def vectors(self, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray],
                model: str | None = None) -> dict[str, np.ndarray]:
        """Each distinct text's embedding (float32) by `model` (default: the store's), from disk or by
        `embed` (then stored)."""
        model = model or self.model
        distinct = list(dict.fromkeys(texts))
        by_key = {text_key(t): t for t in distinct}
        found: dict[str, np.ndarray] = {}
        for rows in self._select("SELECT key, vector FROM vectors WHERE model = ? AND key IN ({})",
                                 list(by_key), prefix=(model,)):
            for key, blob in rows:
                found[by_key[bytes(key)]] = np.frombuffer(blob, dtype=np.float32)
        missing = [t for t in distinct if t not in found]
        if missing:
            computed = np.asarray(embed(missing), dtype=np.float32).reshape(len(missing), -1)
            found.update(zip(missing, computed, strict=True))
            self._write("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                        [(model, text_key(t), v.tobytes()) for t, v in zip(missing, computed, strict=True)])
        return found

    def prepare(self, token_texts: Iterable[str], vector_texts: Iterable[str],
                embed: Callable[[list[str]], np.ndarray], model: str | None = None) -> None:
        """Compute and store what is not stored yet (ingest calls this while the document is in hand)."""
        self.token_pairs(list(dict.fromkeys(token_texts)))
        self.vectors(list(dict.fromkeys(vector_texts)), embed, model)

    # --- SQLite -----------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection | None:
        if self._opened:
            return self._db
        self._opened = True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS tokens (key BLOB PRIMARY KEY, full TEXT, plain TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key BLOB, vector BLOB, "
                       "PRIMARY KEY (model, key))")
        except (OSError, sqlite3.Error):
            db = self._read_only()
        self._db = db
        return db

    def _read_only(self) -> sqlite3.Connection | None:
        # A read-only index directory: read what ingest stored, write nothing.
        self._writable = False
        if not self.path.exists():
            return None
        try:
            return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=2.0, check_same_thread=False)
        except sqlite3.Error:
            return None

    def _select(self, sql: str, keys: list[bytes], prefix: tuple[str, ...] = ()) -> Iterable[list[tuple]]:
        with self._lock:
            db = self._connection()
            if db is None:
                return
            for start in range(0, len(keys), _BATCH):
                chunk = keys[start:start + _BATCH]
                try:
                    rows = db.execute(sql.format(",".join("?" * len(chunk))), (*prefix, *chunk)).fetchall()
                except sqlite3.Error:
                    return  # unreadable store: everything is computed instead
                yield rows

    def _write(self, sql: str, rows: list[tuple]) -> None:
        with self._lock:
            db = self._connection()
            if db is None or not self._writable:
                return
            try:
                with db:  # one transaction
                    db.execute("BEGIN")
                    db.executemany(sql, rows)
            except sqlite3.Error:
                pass  # a cache: a locked or read-only store only means the work is redone next time

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db, self._opened = None, False


def _split(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(_SEPARATOR)) if joined else ()
