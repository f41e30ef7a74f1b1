"""Bounds on one policy file: how big it may unpack, how much text and how many clauses it may yield, how
long its lines may be, and how long reading and splitting it may take.

A file over a bound is refused by name with the bound and what was measured
("policy.docx: expands to 212 MB, over the 50 MB limit (ingest.max_decompressed_mb)"), like any other
file that cannot be read: the rest of the ingest goes on and nothing of the refused file is written. The
checks run in order of cost — bytes on disk, the zip directory's declared sizes (before anything is
unzipped), the text's length, the clause count — so a hostile file is refused before the work it would
cause, and the parse budget is the backstop for whatever slowness the sizes do not predict.
"""

from __future__ import annotations

import ctypes
import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import TypeVar

from xiaoshen.errors import DocumentError
from xiaoshen.settings import IngestSettings

T = TypeVar("T")
_MB = 1024 * 1024
# A part smaller than this may compress as well as it likes (a page of repeated table markup does).
_RATIO_FLOOR_BYTES = 1 * _MB


class LimitExceeded(DocumentError):
    """A file is over one of the `ingest.*` bounds; `setting` names it, `limit` and `measured` give the
    numbers in the bound's own unit."""

    def __init__(self, source: str, reason: str, setting: str, limit: float, measured: float) -> None:
        super().__init__(source, reason, f"ingest.{setting}")
        self.setting = setting
        self.limit = limit
        self.measured = measured


def _mb(size: float) -> str:
    value = size / _MB
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def check_packed(source: str, kind: str, data: bytes, limits: IngestSettings) -> None:
    """Refuse a file whose bytes, or for a DOCX the declared sizes of its zipped parts, are over the
    bounds. Nothing is unzipped here: zipfile reads the sizes from the central directory and, when a
    part is later read, stops at its declared size (a part that inflates further fails its CRC check),
    so the declared sizes bound what python-docx can ever unpack."""
    limit = limits.max_decompressed_mb * _MB
    if len(data) > limit:
        raise LimitExceeded(source, f"is {_mb(len(data))} MB, over the {limits.max_decompressed_mb:g} MB limit",
                            "max_decompressed_mb", limits.max_decompressed_mb, len(data) / _MB)
    if kind != "docx":
        return
    try:
        parts = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return  # the reader names the damage
    total = sum(p.file_size for p in parts)
    if total > limit:
        raise LimitExceeded(source, f"expands to {_mb(total)} MB, over the {limits.max_decompressed_mb:g} MB limit",
                            "max_decompressed_mb", limits.max_decompressed_mb, total / _MB)
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            raise LimitExceeded(
                source, f"part {part.filename} unzips to {ratio:.0f} times its packed size "
                f"({_mb(part.file_size)} MB from {part.compress_size:,} bytes), over the "
                f"{limits.max_compression_ratio:g}x limit — a zip bomb?",
                "max_compression_ratio", limits.max_compression_ratio, ratio)


def check_text(source: str, text: str, limits: IngestSettings) -> None:
    """Refuse a file whose text is longer than `ingest.max_chars`."""
    if len(text) > limits.max_chars:
        raise LimitExceeded(source, f"has {len(text):,} characters of text, over the {limits.max_chars:,} limit",
                            "max_chars", limits.max_chars, len(text))


def check_clauses(source: str, count: int, limits: IngestSettings) -> None:
    """Refuse a document that splits into more than `ingest.max_clauses` clauses."""
    if count > limits.max_clauses:
        raise LimitExceeded(source, f"yields {count:,} clauses, over the {limits.max_clauses:,} limit",
                            "max_clauses", limits.max_clauses, count)


# Over-long lines are cut, not refused: a policy pasted as one line (common for Chinese text copied from
# a web page) is still a policy, and cutting it loses nothing. What must not happen is one giant line
# reaching the clause parser's per-line regexes and LlamaIndex's SentenceSplitter, whose sentence
# tokenizer is superlinear on one huge paragraph (800k characters: 5.6 s as one line, 0.1 s as lines).
_SENTENCE_BREAKS = ("。", "；", "！", "？", ". ", "; ", "! ", "? ")


def bounded_lines(text: str, max_chars: int) -> Iterator[tuple[int, str]]:
    """Each line of `text` with its offset; a line longer than `max_chars` comes as pieces of at most that
    many characters, cut after the last sentence end in reach, else at a space, else anywhere. Linear in
    the length of the text, so offsets (and so pages) stay those of the original text."""
    offset = 0
    for raw in text.split("\n"):
        pos = 0
        while len(raw) - pos > max_chars:
            window = raw[pos:pos + max_chars]
            cut = max(window.rfind(mark) + len(mark) if window.rfind(mark) > 0 else 0 for mark in _SENTENCE_BREAKS)
            if cut < max_chars // 4:
                cut = max(window.rfind(" "), window.rfind("\t"), window.rfind("\u3000")) + 1
            if cut < max_chars // 4:
                cut = max_chars
            yield offset + pos, window[:cut]
            pos += cut
        yield offset + pos, raw[pos:]
        offset += len(raw) + 1


class _BudgetSpent(BaseException):
    """Raised inside the parsing thread when its budget runs out. A BaseException, like KeyboardInterrupt,
    so that a library's `except Exception` cannot swallow it."""


def within_budget(source: str, seconds: float, work: Callable[[], T]) -> T:
    """Run `work` (reading and splitting one file), refusing the file if it takes over `seconds` (0: no limit).

    Why a watchdog that raises in the working thread: it stops a loop anywhere, in our code or inside
    pypdf or python-docx, and works in the app, which ingests in a worker thread where SIGALRM cannot
    reach. A child process per file would stop even C code, but on this 2-core machine forking a
    process that holds torch and Chroma threads is unsafe and spawning one re-imports LlamaIndex (~8 s)
    for every file. What the watchdog cannot stop is one long C call (lxml parsing a part, one regex
    match); the size bounds, checked before those calls, keep each of them short. Embedding is not
    covered: its time follows the clause count, which `max_clauses` bounds, and a large genuine policy
    must not be refused for being slow to embed on a busy machine.
    """
    if seconds <= 0:
        return work()
    thread_id = threading.get_ident()
    lock = threading.Lock()
    armed, fired = [True], [False]

    def expire() -> None:
        with lock:
            if armed[0]:  # fires at most once, and never after the work has ended
                fired[0] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(_BudgetSpent))

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    results: list[T] = []
    failure: BaseException | None = None
    spent, started = False, False
    # The exception may land a few instructions late, even after the work has returned: one loop runs the
    # work, disarms the timer and, if the exception was sent but has not landed yet, waits for it, catching
    # it wherever it lands in between. It is sent at most once, so the loop ends. It is never withdrawn with
    # PyThreadState_SetAsyncExc(id, NULL): under a tracer or profiler (a debugger, coverage, cProfile)
    # CPython 3.11 then spins for ever in the thread's next call.
    while True:
        try:
            if not started:
                started = True
                timer.start()
                try:
                    results.append(work())
                except _BudgetSpent:
                    raise
                except BaseException as exc:  # raised again once the timer is disarmed
                    failure = exc
            with lock:
                armed[0] = False
                pending = fired[0] and not spent
            # Bounded: work that swallowed the exception (a bare `except:` in a library) leaves none to land.
            deadline = time.monotonic() + 1.0
            while pending and time.monotonic() < deadline:
                time.sleep(0)
            spent = spent or fired[0]
            break
        except _BudgetSpent:
            spent = True
    timer.cancel()
    if spent:
        raise LimitExceeded(source, f"reading and splitting it took over the {seconds:g} s limit",
                            "parse_budget_s", seconds, seconds)
    if failure is not None:
        raise failure
    return results[0]
