"""Web sessions that survive a reload, sign-in rate limits and each user's unsaved work, on the server.

One small SQLite file (`access.sessions_db`) holds three tables:

- `sessions`: the SHA-256 of each session token (never the token itself), its user, client, and when it
  was created and last used. A session idle longer than `session_idle_hours`, or older than
  `session_max_hours`, is over; signing out ends every session of that user.
- `failures`: failed sign-ins by user and by client, for the rate limit.
- `work`: per user, the conversation and the last drafted and edited note, so a reload loses nothing.
  Only the author and administrators may read it (`load_work`).

The browser holds the token in a signed cookie (`sign` / `unsign`, HMAC-SHA256 with a key kept beside the
database); the web layer sets it HttpOnly and SameSite=Strict (see app/server.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from xiaoshen.errors import XiaoshenError
from xiaoshen.settings import AccessSettings

COOKIE_NAME = "xiaoshen_session"
HANDOFF_TTL_S = 120.0
WorkKind = Literal["chat", "note"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, client TEXT NOT NULL,
                                     created REAL NOT NULL, last_seen REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(username);
CREATE TABLE IF NOT EXISTS failures (subject TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_subject ON failures(subject, at);
CREATE TABLE IF NOT EXISTS work (username TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
                                 updated REAL NOT NULL, PRIMARY KEY (username, kind));
"""


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256 (a stolen database holds no usable session)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A live session: its id (the token's hash), its user and client, and when it began and was last used."""

    id: str
    username: str
    client: str
    created: float
    last_seen: float


@dataclass(frozen=True)
class Resolved:
    """What a presented token turned out to be: a live session, one that has just expired, or nothing."""

    session: Session | None
    expired: Session | None = None


@dataclass(frozen=True)
class SignInLimits:
    """Failed sign-ins allowed per user and per client within the window before sign-in is refused."""

    per_user: int = 5
    per_client: int = 20
    window_s: float = 15 * 60


class SessionStore:
    """Sessions, failed sign-ins and saved work in one SQLite file; safe across threads and processes."""

    def __init__(self, path: Path, *, idle_s: float = 8 * 3600, max_s: float = 24 * 3600,
                 limits: SignInLimits | None = None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.idle_s = idle_s
        self.max_s = max_s
        self.limits = limits or SignInLimits()
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)
        _owner_only(path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10)
            try:
                with db:
                    yield db
            finally:
                db.close()

    # --- sessions -------------------------------------------------------------------------------------

    def create(self, username: str, client: str) -> str:
        """Begin a session; returns the new token (256 random bits), which only the caller ever holds."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._db() as db:
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", (token_hash(token), username, client, now, now))
        return token

    def resolve(self, token: str, *, touch: bool = True) -> Resolved:
        """The session a token names, if still live (its idle clock restarts); an expired one is removed."""
        return self.resolve_id(token_hash(token), touch=touch)

    def resolve_id(self, session_id: str, *, touch: bool = True) -> Resolved:
        """As `resolve`, by session id (the token's hash), for a page checking its session is still on."""
        now = self._clock()
        with self._db() as db:
            row = db.execute("SELECT token_hash, username, client, created, last_seen FROM sessions "
                             "WHERE token_hash = ?", (session_id,)).fetchone()
            if row is None:
                return Resolved(None)
            session = Session(*row)
            if now - session.last_seen > self.idle_s or now - session.created > self.max_s:
                db.execute("DELETE FROM sessions WHERE token_hash = ?", (session_id,))
                return Resolved(None, expired=session)
            if touch:
                db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, session_id))
        return Resolved(Session(session.id, session.username, session.client, session.created,
                                now if touch else session.last_seen))

    def end_all(self, username: str) -> int:
        """Sign the user out everywhere: every session of theirs ends. Returns how many there were."""
        with self._db() as db:
            return db.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    def end(self, session_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE token_hash = ?", (session_id,))

    def sessions_of(self, username: str) -> list[Session]:
        with self._db() as db:
            rows = db.execute("SELECT token_hash, username, client, created, last_seen FROM sessions "
                              "WHERE username = ?", (username,)).fetchall()
        return [Session(*row) for row in rows]

    # --- failed sign-ins ------------------------------------------------------------------------------

    def record_failure(self, username: str, client: str) -> None:
        now = self._clock()
        with self._db() as db:
            db.executemany("INSERT INTO failures VALUES (?, ?)", [(f"user:{username}", now), (f"client:{client}", now)])
            db.execute("DELETE FROM failures WHERE at < ?", (now - self.limits.window_s,))

    def failures(self, username: str, client: str) -> tuple[int, int]:
        """Failed sign-ins within the window: (for this username, from this client)."""
        since = self._clock() - self.limits.window_s
        with self._db() as db:
            def count(subject: str) -> int:
                return int(db.execute("SELECT COUNT(*) FROM failures WHERE subject = ? AND at >= ?",
                                      (subject, since)).fetchone()[0])
            return count(f"user:{username}"), count(f"client:{client}")

    def blocked_for(self, username: str, client: str) -> float:
        """Seconds until this user may try again from this client; 0 when a try is allowed now."""
        now = self._clock()
        since = now - self.limits.window_s
        waits = [0.0]
        with self._db() as db:
            for subject, limit in ((f"user:{username}", self.limits.per_user),
                                   (f"client:{client}", self.limits.per_client)):
                times = [t for (t,) in db.execute("SELECT at FROM failures WHERE subject = ? AND at >= ? "
                                                  "ORDER BY at DESC", (subject, since))]
                if len(times) >= limit:
                    # Allowed again once the oldest failure that keeps the count at the limit leaves the window.
                    waits.append(times[limit - 1] + self.limits.window_s - now)
        return max(waits)

    def clear_failures(self, username: str) -> None:
        """A correct password clears the user's count (not the client's: a client guessing many names stays limited)."""
        with self._db() as db:
            db.execute("DELETE FROM failures WHERE subject = ?", (f"user:{username}",))

    # --- saved work -----------------------------------------------------------------------------------

    def save_work(self, username: str, kind: WorkKind, payload: Any) -> None:
        """Keep the user's latest conversation or note (JSON-serialisable), replacing the one before."""
        text = json.dumps(payload, ensure_ascii=False, default=str)
        with self._db() as db:
            db.execute("INSERT INTO work VALUES (?, ?, ?, ?) ON CONFLICT(username, kind) DO UPDATE SET "
                       "payload = excluded.payload, updated = excluded.updated", (username, kind, text, self._clock()))

    def load_work(self, owner: str, kind: WorkKind, *, reader: str, reader_is_admin: bool) -> Any:
        """The owner's saved work, for the owner or an administrator only; None if nothing is saved."""
        if reader != owner and not reader_is_admin:
            raise XiaoshenError(f"{reader} may not read {owner}'s saved work", "only its author and administrators may")
        with self._db() as db:
            row = db.execute("SELECT payload FROM work WHERE username = ? AND kind = ?", (owner, kind)).fetchone()
        return None if row is None else json.loads(row[0])

    def clear_work(self, username: str, kind: WorkKind) -> None:
        with self._db() as db:
            db.execute("DELETE FROM work WHERE username = ? AND kind = ?", (username, kind))


def _owner_only(path: Path) -> None:
    # Saved drafts hold borrower details: readable by the server's own account only.
    with suppress(OSError):
        os.chmod(path, 0o600)


# --- the cookie --------------------------------------------------------------------------------------

def signing_key(path: Path) -> bytes:
    """The server's cookie-signing key, made (256 random bits, owner-only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def sign(token: str, key: bytes) -> str:
    """The cookie value: the token and its HMAC, so a value not made by this server is refused unread."""
    return token + "." + hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def unsign(value: str, key: bytes) -> str | None:
    """The token inside a signed cookie value, or None if the signature does not match."""
    token, _, mac = value.rpartition(".")
    if not token or not hmac.compare_digest(mac, hmac.new(key, token.encode(), hashlib.sha256).hexdigest()):
        return None
    return token


# --- handing a new token to the browser --------------------------------------------------------------
# The Streamlit page that checks the password cannot set an HttpOnly cookie itself; it hands the new token
# to the cookie endpoint (app/server.py) under a one-time code the page's own browser posts back. The
# token never reaches the page or a URL; an unclaimed code lapses after HANDOFF_TTL_S.

_handoffs: dict[str, tuple[str, float]] = {}
_handoff_lock = threading.Lock()


def offer_token(token: str, *, clock: Callable[[], float] = time.monotonic) -> str:
    """A one-time code under which the cookie endpoint can claim `token` (within HANDOFF_TTL_S)."""
    code = secrets.token_urlsafe(32)
    with _handoff_lock:
        now = clock()
        for stale in [c for c, (_, until) in _handoffs.items() if until < now]:
            del _handoffs[stale]
        _handoffs[token_hash(code)] = (token, now + HANDOFF_TTL_S)
    return code


def claim_token(code: str, *, clock: Callable[[], float] = time.monotonic) -> str | None:
    """The token offered under `code`, once; None if unknown, already claimed or lapsed."""
    with _handoff_lock:
        offered = _handoffs.pop(token_hash(code), None)
    if offered is None or offered[1] < clock():
        return None
    return offered[0]


def is_offered(code: str) -> bool:
    """Whether the code still waits to be claimed (the page keeps offering it until then)."""
    with _handoff_lock:
        return token_hash(code) in _handoffs


def open_session_store(access: AccessSettings) -> SessionStore:
    """The session store the access settings name, with their idle, lifetime and sign-in limits."""
    return SessionStore(access.sessions_path(), idle_s=access.session_idle_hours * 3600,
                        max_s=access.session_max_hours * 3600,
                        limits=SignInLimits(per_user=access.sign_in_failures_per_user,
                                            per_client=access.sign_in_failures_per_client,
                                            window_s=access.sign_in_window_minutes * 60))
