"""Warming the models at server start, in the background, so the first question is not the one that waits;
and, until they are warm, saying on every page what is still loading.

One warm-up per settings fingerprint per server process: it opens the index, loads the embedding model,
loads (or builds) the keyword index and runs one search, which loads what retrieval loads lazily (the
Chinese word splitter, the reranker's tables). Pages take the index from here (`shell.index`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import search
from xiaoshen.settings import Settings

OPENING = "Opening the policy index…"
EMBEDDING = "Loading the embedding model (first use, a few seconds)…"
KEYWORDS = "Loading the keyword index…"
SEARCH = "Preparing search (word splitter and ranking, first use)…"
# Chinese renderings of the phases, shown beside the English (the app is bilingual where it matters).
CHINESE = {OPENING: "正在打开政策索引…", EMBEDDING: "正在加载向量模型（首次需数秒）…",
           KEYWORDS: "正在加载关键词索引…", SEARCH: "正在准备检索…"}


@dataclass
class Warmup:
    """The warm-up of one settings fingerprint: its current phase, the index once open, or the error."""

    settings: Settings
    phase: str = OPENING
    index: ClauseIndex | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    ready_after_s: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    @property
    def ready(self) -> bool:
        return self.done.is_set() and self.error is None

    def run(self) -> None:
        try:
            index = ClauseIndex(self.settings)
            self.index = index
            self.opened.set()
            if index.count():  # an empty index has nothing to warm; its pages say so
                self.phase = EMBEDDING
                index.embedding.get_query_embedding("loan-to-value ratio 贷款成数")
                self.phase = KEYWORDS
                index.keyword_index()
                self.phase = SEARCH
                search("maximum loan-to-value for owner-occupied commercial real estate", index=index,
                       settings=self.settings, k=1)
            self.ready_after_s = time.monotonic() - self.started
        except XiaoshenError as exc:
            self.error = str(exc)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.phase = "ready" if self.error is None else "failed"
            took = time.monotonic() - self.started
            # One line in the server log: how long after start the first question stops waiting.
            print(f"xiaoshen: models ready after {took:.1f} s" if self.error is None
                  else f"xiaoshen: warm-up failed after {took:.1f} s: {self.error}", flush=True)
            self.opened.set()
            self.done.set()


_warmups: dict[str, Warmup] = {}
_lock = threading.Lock()


def start(settings: Settings) -> Warmup:
    """The warm-up for these settings, started in a background thread if it is not running or done
    (a failed one is started again, so fixing the cause and reloading the page is enough)."""
    key = settings.fingerprint()
    with _lock:
        current = _warmups.get(key)
        if current is not None and not (current.done.is_set() and current.error):
            return current
        warmup = Warmup(settings)
        _warmups[key] = warmup
    threading.Thread(target=warmup.run, name="xiaoshen-warmup", daemon=True).start()
    return warmup


def label(phase: str) -> str:
    """A phase in English and Chinese, for a spinner."""
    return f"{phase} {CHINESE.get(phase, '')}".strip()
