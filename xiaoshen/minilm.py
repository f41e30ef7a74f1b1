"""all-MiniLM-L6-v2's forward pass in numpy, for the questions a process embeds on its own.

Written here, not taken from sentence-transformers, for one measured reason: importing
sentence-transformers (torch, transformers, scipy.stats, pandas…) and its first forward pass took 15–19 s
of a 26 s cold `xiaoshen ask` on the 2-core reference machine, to embed one question of twenty tokens.
The same weights (model.safetensors) and tokenizer (tokenizer.json, through the `tokenizers` library
sentence-transformers itself uses) run here in about 0.3 s from a cold start. sentence-transformers stays
the reference: ingest embeds clauses in batches through it, and tests hold the two to the same vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length: longer texts are cut, as sentence-transformers cuts them
_LAYER_NORM_EPS = 1e-12


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function (BERT's GELU is the exact one), by Abramowitz–Stegun 7.1.26: absolute error under
    1.5e-7, below what float32 activations resolve. numpy has no erf."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LAYER_NORM_EPS) * weight + bias


class NumpyMiniLM:
    """Mean-pooled, unit-norm sentence vectors of the packaged all-MiniLM-L6-v2 (BERT, 6 layers, 384-d)."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self._w = {k: v.astype(np.float32, copy=False) for k, v in load_file(str(folder / "model.safetensors")).items()
                   if not k.endswith("position_ids")}
        self._layers = 1 + max(int(k.split(".")[2]) for k in self._w if k.startswith("encoder.layer."))
        self._heads = 12  # config.json: num_attention_heads
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """One float32 row per text."""
        out = [self._batch(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.float32)
        for row, e in enumerate(encodings):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1.0
        w = self._w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:width]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        # Padding may not be attended to: a large negative score before the softmax, as BERT does.
        blocked = ((1.0 - mask) * np.float32(np.finfo(np.float32).min))[:, None, None, :]
        n, heads = len(texts), self._heads
        size = x.shape[-1] // heads
        for layer in range(self._layers):
            p = f"encoder.layer.{layer}."

            def dense(h: np.ndarray, name: str, prefix: str = p) -> np.ndarray:
                return h @ w[f"{prefix}{name}.weight"].T + w[f"{prefix}{name}.bias"]

            def split(h: np.ndarray) -> np.ndarray:
                return h.reshape(n, width, heads, size).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, width, heads * size)
            x = _layer_norm(dense(context, "attention.output.dense") + x,
                            w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"])
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(dense(hidden, "output.dense") + x, w[f"{p}output.LayerNorm.weight"],
                            w[f"{p}output.LayerNorm.bias"])
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
