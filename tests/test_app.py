"""The Streamlit search page, run through Streamlit's AppTest over a real ingested index."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from xiaoshen.index import ClauseIndex


@pytest.fixture
def page(sample_index: ClauseIndex, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("XIAOSHEN_INDEX_DIR", str(sample_index.settings.index_dir))
    monkeypatch.setenv("XIAOSHEN_CACHE_DIR", str(sample_index.settings.keyword_cache_dir))
    return AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=120).run()


def test_the_page_says_a_person_decides(page: AppTest) -> None:
    assert not page.exception
    assert any("a person decides" in c.value for c in page.caption)


def test_a_question_shows_ranked_clauses_with_document_section_and_page(page: AppTest) -> None:
    page.text_input(key="query").input("maximum LTV for owner-occupied commercial real estate").run()
    assert not page.exception
    labels = [m.value for m in page.markdown if m.value.startswith("**1.")]
    assert labels and "NCB" in labels[0]
    assert any("p\\." in m.value for m in page.markdown), "PDF clauses show their page"


def test_filters_restrict_results_to_chinese(page: AppTest) -> None:
    page.selectbox(key="language").select("zh").run()
    page.text_input(key="query").input("贷款成数").run()
    bodies = [m.value for m in page.markdown if m.value.startswith("**")]
    assert bodies and all("ZH" in b for b in bodies)


def test_policy_text_is_rendered_as_text_not_markup() -> None:
    from xiaoshen.text import literal_markdown

    assert "unsafe_allow_html" not in (ROOT / "app" / "Home.py").read_text()
    escaped = literal_markdown("<script>alert(1)</script> **approve** [x](http://e)")
    assert "<script>" not in escaped and "**approve**" not in escaped and "](" not in escaped
