"""Answer backends behind one small protocol, registered by name.

A backend turns (question, numbered clauses) into answer text with [n] markers. Verification,
abstention and citation building are the engine's job and apply to every backend alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from xiaoshen.settings import Settings
from xiaoshen.types import Hit, Language

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

    def draft(self, question: str, context: list[Hit], language: Language, on_token: TokenSink | None = None) -> Draft:
        """Answer `question` from `context` (marker n = context[n-1])."""
        ...


BackendFactory = Callable[[Settings, object], AnswerBackend]
BACKENDS: dict[str, BackendFactory] = {}


def register(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Register a backend factory under `name` (the extractive backend registers the same way as LLMs)."""

    def decorator(factory: BackendFactory) -> BackendFactory:
        BACKENDS[name] = factory
        return factory

    return decorator
