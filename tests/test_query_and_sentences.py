"""Per-clause work is done once at ingest, and each question is tokenised and embedded once (issue 16 and
issue 12's one `Query`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_index.core.bridge.pydantic import Field

import xiaoshen.query
import xiaoshen.sentence_store
import xiaoshen.text
from ingest.pipeline import ingest
from tests.conftest import make_settings
from tests.test_crash_consistency import HashEmbedding, write_initial
from xiaoshen.answer import answer
from xiaoshen.index import ClauseIndex, clause_units, searchable_text
from xiaoshen.query import Query
from xiaoshen.retrieve import search
from xiaoshen.sentence_store import SentenceStore
from xiaoshen.text import keyword_token_pair
from xiaoshen.types import Clause

QUESTION = "What is the maximum LTV for an owner-occupied CRE loan, and who can approve an exception?"


def _no_tokenizing(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("tokenised again")


def test_the_store_gives_the_tokens_the_tokenizer_gives_and_keeps_them_on_disk(tmp_path: Path, monkeypatch) -> None:
    texts = ["The maximum loan-to-value ratio (LTV) is 75%.", "贷款成数上限为百分之七十。"]
    first = SentenceStore(tmp_path / "s.sqlite", model="m")
    assert first.token_pairs(texts) == [tuple(map(tuple, keyword_token_pair(t))) for t in texts]
    first.close()

    monkeypatch.setattr(xiaoshen.sentence_store, "keyword_token_pair", _no_tokenizing)
    again = SentenceStore(tmp_path / "s.sqlite", model="m")
    assert again.plain_tokens(texts[1]) == tuple(keyword_token_pair(texts[1])[1])


def test_vectors_are_stored_per_model_and_not_computed_twice(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.asarray([[len(t), 1.0] for t in texts])

    store = SentenceStore(tmp_path / "s.sqlite", model="m")
    assert store.vectors(["a", "bb", "a"], embed)["bb"].tolist() == [2.0, 1.0]
    assert calls == [["a", "bb"]]
    assert SentenceStore(tmp_path / "s.sqlite", model="m").vectors(["bb"], embed)["bb"].tolist() == [2.0, 1.0]
    assert len(calls) == 1
    SentenceStore(tmp_path / "s.sqlite", model="other").vectors(["bb"], embed)
    assert len(calls) == 2  # another model's vectors are never mixed in


def test_a_store_it_cannot_write_still_answers(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = SentenceStore(blocker / "s.sqlite", model="m")  # its folder cannot be made
    assert store.plain_tokens("debt service coverage") == tuple(keyword_token_pair("debt service coverage")[1])
    assert store.vectors(["x"], lambda ts: np.ones((len(ts), 3)))["x"].shape == (3,)


def test_after_ingest_an_answer_embeds_only_the_question(sample_index: ClauseIndex) -> None:
    # A new handle on the same index, as a new process has: nothing in memory.
    fresh = ClauseIndex(sample_index.settings, embedding=sample_index.embedding)
    embedded: list[str] = []
    model = fresh.embedding
    original = model.get_text_embedding_batch
    object.__setattr__(model, "get_text_embedding_batch", lambda texts, **kw: embedded.extend(texts) or original(texts, **kw))
    try:
        result = answer(QUESTION, index=fresh, settings=fresh.settings)
    finally:
        object.__delattr__(model, "get_text_embedding_batch")
    assert result.citations, result.answer
    assert embedded == []  # every clause sentence rerank, the draft and verification looked at was stored


def test_stored_sentences_cover_what_the_answer_stage_quotes(sample_index: ClauseIndex) -> None:
    clause = next(c for c in sample_index.clauses() if "\n" in c.text)
    units = clause_units(clause.text)
    # raises if any had to be embedded
    stored = sample_index.sentences.vectors(units, _no_tokenizing, sample_index.vector_model())
    assert set(stored) == set(units)


def test_the_question_is_tokenised_once_per_answer(sample_index: ClauseIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def counting(text: str, **kwargs: object):  # type: ignore[no-untyped-def]
        if text.strip() == QUESTION:
            seen.append(text)
        return keyword_token_pair(text, **kwargs)  # type: ignore[arg-type]

    for module in (xiaoshen.text, xiaoshen.query, xiaoshen.sentence_store):
        monkeypatch.setattr(module, "keyword_token_pair", counting)
    answer(QUESTION, index=sample_index, settings=sample_index.settings)
    assert len(seen) == 1


def test_a_query_carries_the_acronyms_the_policies_define(sample_index: ClauseIndex) -> None:
    query = sample_index.query("Minimum DSCR for a hotel?")
    assert query.language == "en"
    assert "dscr" in query.words and {"debt", "servic", "coverag"} <= query.words
    assert set(query.content) <= set(query.plain)
    assert isinstance(sample_index.query("小微企业贷款期限？"), Query)
    assert sample_index.query("小微企业贷款期限？").language == "zh"


def test_the_keyword_side_keeps_ids_and_what_its_filter_reads_not_the_clauses(sample_index: ClauseIndex) -> None:
    keyword = sample_index.keyword_index()
    rows = [keyword.filter_metadata(i) for i in range(len(keyword))]
    assert rows and all("_node_content" not in m and "text" not in m for m in rows)
    assert all({"doc_id", "status", "access_public", "section"} <= set(m) for m in rows)
    # The document-level fields are held once per distinct set (a document version), not once per clause.
    distinct = {tuple(sorted((k, v) for k, v in m.items() if k != "section")) for m in rows}
    assert len(keyword.fields) == len(distinct) < len(rows) / 10
    held = {k: type(v).__name__ for k, v in vars(keyword).items()}
    assert not any("Clause" in t for t in held.values()), held
    # What a hit needs comes from the store, by id.
    clause = sample_index.clause(keyword.clause_ids[0])
    assert clause is not None and clause.clause_id == keyword.clause_ids[0] and clause.text


def test_a_clause_shown_again_is_not_read_from_the_store_again_until_the_build_changes(
        tmp_path: Path, embedding, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "od.md").write_text("---\ndoc_id: OD-1\ntitle: Overdrafts\nversion: \"1.0\"\n---\n\n# Overdrafts\n\n"
                                  "## 1 Limits\n\n1.1 An overdraft may not exceed 50,000.\n", encoding="utf-8")
    index = ClauseIndex(make_settings(tmp_path / "index"), embedding=embedding)
    ingest([folder], index=index)
    clause_id = index.keyword_index().clause_ids[0]
    reads: list[list[str]] = []
    real_fetch = ClauseIndex.fetch

    def fetch(self: ClauseIndex, record_ids: list[str]) -> dict[str, Clause]:
        reads.append(record_ids)
        return real_fetch(self, record_ids)

    monkeypatch.setattr(ClauseIndex, "fetch", fetch)
    first = index.clause(clause_id)
    assert first is not None and index.clause(clause_id) is first and len(reads) == 1
    record = index.keyword_index().record_of[clause_id]
    index.set_status([record], "superseded")  # same record, new build: read again, with its new status
    again = index.clause(clause_id)
    assert len(reads) == 2 and again is not None and again.status == "superseded"


def test_vectors_of_another_embedding_object_are_kept_apart(tmp_path: Path) -> None:
    store = SentenceStore(tmp_path / "s.sqlite", model="m")
    store.vectors(["clause"], lambda ts: np.zeros((len(ts), 2)), model="m/HashEmbedding")
    real = store.vectors(["clause"], lambda ts: np.ones((len(ts), 2)), model="m/CombinedEmbedding")
    assert real["clause"].tolist() == [1.0, 1.0]


class CountingEmbedding(HashEmbedding):
    """The hash embedding, recording every text it is asked to embed."""

    seen: list[str] = Field(default_factory=list)

    def _get_text_embedding(self, text: str) -> list[float]:
        self.seen.append(text)
        return super()._get_text_embedding(text)


def _counting_index(index_dir: Path, store: Path, **overrides: object) -> ClauseIndex:
    settings = make_settings(index_dir, sentence_store=store, **overrides)
    return ClauseIndex(settings, embedding=CountingEmbedding())


def test_a_clause_whose_text_is_stored_is_not_embedded_again(tmp_path: Path) -> None:
    folder, store = tmp_path / "policies", tmp_path / "sentences.sqlite"
    write_initial(folder)
    first = _counting_index(tmp_path / "one", store)
    ingest([folder], index=first)
    assert first.embedding.seen, "the first index embeds its clauses"

    second = _counting_index(tmp_path / "two", store)
    ingest([folder], index=second)
    assert second.embedding.seen == [], "a second index of the same files reads every vector from the store"

    policy = folder / "edited.md"  # one clause of three edited: a new version of the file
    policy.write_text(policy.read_text(encoding="utf-8").replace("USD 50,000", "USD 75,000"), encoding="utf-8")
    report = ingest([folder], index=second)
    assert report.count("updated") == 1
    edited = [c for c in second.clauses() if c.doc_id == "TST-EDIT"]
    changed = {searchable_text(c) for c in edited if "USD 75,000" in c.text}
    assert changed and set(second.embedding.seen) >= changed, "the edited clause is embedded"
    assert not set(second.embedding.seen) & {searchable_text(c) for c in edited} - changed, "the other two are not"
    hits = search("overdraft of USD 75,000", index=second, settings=second.settings, k=3)
    assert hits and hits[0].clause.doc_id == "TST-EDIT"


def test_without_units_at_ingest_only_the_clauses_are_embedded(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    write_initial(folder)
    index = _counting_index(tmp_path / "index", tmp_path / "sentences.sqlite", ingest={"embed_units": False})
    ingest([folder], index=index)
    assert sorted(index.embedding.seen) == sorted({searchable_text(c) for c in index.clauses()})
