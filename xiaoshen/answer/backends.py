"""Answer backends behind one small protocol, registered by name.

A backend turns (query, numbered clauses) into answer text with [n] markers. Verification,
abstention and citation building are the engine's job and apply to every backend alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from xiaoshen.query import Query
from xiaoshen.settings import Settings
from xiaoshen.types import Hit

TokenSink = Callable[[str], None]


@dataclass
class Draft:
    """What a backend produced: text with [n] markers, and whether it declined to answer."""

    text: str
    declined: bool = False
    quotes: dict[int, str] | None = None  # marker -> exact span, when the backend knows it


class AnswerBackend(Protocol):
    name: str
    # Whether the context is given in reranked order (xiaoshen/answer/rerank.py) rather than fused order.
    reranked_context: bool

    def draft(self, query: Query, context: list[Hit], on_token: TokenSink | None = None) -> Draft:
        """Answer `query` from `context` (marker n = context[n-1]), in the question's language."""
        ...


BackendFactory = Callable[[Settings, object], AnswerBackend]
BACKENDS: dict[str, BackendFactory] = {}


def register(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Register a backend factory under `name` (the extractive backend registers the same way as LLMs)."""

    def decorator(factory: BackendFactory) -> BackendFactory:
        BACKENDS[name] = factory
        return factory

    return decorator
