"""Grounded answers: retrieval, an evidence bar, pluggable backends, and citation verification."""

from xiaoshen.answer import extractive as _extractive  # noqa: F401  (registers the default backend)
from xiaoshen.answer import openai_backend as _openai_backend  # noqa: F401  (registers "openai")
from xiaoshen.answer.engine import NOT_ADDRESSED, answer

__all__ = ["NOT_ADDRESSED", "answer"]
