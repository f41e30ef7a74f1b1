"""The real public regulations in ../shared/corpora ingest without errors and are searchable (skipped
when the folder is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from tests.conftest import CORPORA, RETRIEVAL_CORPUS, make_settings, needs_corpora
from tests.test_crash_consistency import HashEmbedding
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import ClauseFilter, search

pytestmark = [
    pytest.mark.slow,
    needs_corpora,
]


@pytest.fixture(scope="module")
def every_regulation(tmp_path_factory: pytest.TempPathFactory) -> ClauseIndex:
    """Every corpus file through the whole pipeline (read, split, store, keyword index). Reading and clause
    numbering are under test here, not the vectors, so a hash embedding keeps this to seconds; `make bench`
    ingests the same files with the real model, and the retrieval tests below use it."""
    index = ClauseIndex(make_settings(tmp_path_factory.mktemp("corpora") / "index"), embedding=HashEmbedding())
    report = ingest([CORPORA / "en", CORPORA / "zh"], index=index)
    assert not report.failed, [f"{o.source}: {o.reason}" for o in report.failed]
    return index


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory: pytest.TempPathFactory, embedding) -> ClauseIndex:  # type: ignore[no-untyped-def]
    """The real model over the ObliQA document and every Chinese law (the distractors of the Chinese question).
    Search ranks by clause vectors and BM25 only, so the sentences answers quote are not embedded here."""
    settings = make_settings(tmp_path_factory.mktemp("corpora-real") / "index", ingest={"embed_units": False})
    index = ClauseIndex(settings, embedding=embedding)
    report = ingest(RETRIEVAL_CORPUS, index=index)
    assert not report.failed, [f"{o.source}: {o.reason}" for o in report.failed]
    return index


def test_every_regulation_ingests_with_numbered_sections(every_regulation: ClauseIndex) -> None:
    docs = every_regulation.documents()
    assert len(docs) == len(list((CORPORA / "en").glob("*.md"))) + len(list((CORPORA / "zh").glob("*.md")))
    clauses = every_regulation.clauses()
    sections = {c.section for c in clauses}
    assert {"第三十六条", "Article 395(1)", "Comment 9(b)(2)-1", "4.4.2.(1)"} <= sections
    assert any(s.startswith("§ 1026.43(c)") for s in sections)


def test_obliqa_recall_at_5(corpus_index: ClauseIndex) -> None:
    questions = json.loads((CORPORA / "qa" / "obliqa_dev_pru_ch4_subset.json").read_text())
    only_pru = ClauseFilter(doc_ids=["adgm-pru-ch4-credit-risk"])
    found = 0
    for q in questions:
        gold = {p["PassageID"] for p in q["Passages"]}
        hits = search(q["Question"], index=corpus_index, settings=corpus_index.settings, k=5, filters=only_pru)
        found += any(h.clause.section == g or h.clause.section.startswith((g + "(", g + ".(")) for h in hits
                     for g in gold)
    # 0.48 when measured (bench/RESULTS.md); well below that is a regression in splitting or retrieval.
    assert found / len(questions) >= 0.42


def test_chinese_law_article_is_found(corpus_index: ClauseIndex) -> None:
    hits = search("商业银行贷款 借款人应当提供担保", index=corpus_index, settings=corpus_index.settings, k=3)
    assert ("commercial-bank-law-2015", "第三十六条") in [(h.clause.doc_id, h.clause.section) for h in hits]


def test_the_corpus_path_is_untouched(every_regulation: ClauseIndex) -> None:
    assert all(Path(c.source).is_file() for c in every_regulation.clauses()[:50])
