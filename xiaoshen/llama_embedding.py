"""A packaged model behind LlamaIndex's embedding interface, for LlamaIndex's own components
(`VectorStoreIndex`, its retrievers). Kept apart from xiaoshen/embeddings.py so that answering a question
never imports `llama_index.core`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

if TYPE_CHECKING:
    from xiaoshen.embeddings import PackagedEmbedding


class LlamaIndexEmbedding(BaseEmbedding):
    """LlamaIndex's view of a `PackagedEmbedding`: the same vectors, batched the same way."""

    _model: Any = PrivateAttr()

    def __init__(self, model: PackagedEmbedding, **kwargs: Any) -> None:
        super().__init__(model_name=model.model_name, embed_batch_size=model.embed_batch_size, **kwargs)
        self._model = model

    @classmethod
    def class_name(cls) -> str:
        return "XiaoshenPackagedEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._model.get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._model._get_text_embeddings(texts)
