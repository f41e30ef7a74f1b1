"""Defined terms: the regulations define their words ("本法所称关系人是指……", "“Dwelling” means …"). Each
definition is mined at ingest and counted with the document's statistics; a question that describes a
defined term in the words of its definition, without naming it, also reaches the clauses that use the
term. A question that names the term, or shares only a word or two with a long definition, is left alone."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from tests.conftest import CORPORA, needs_corpora
from xiaoshen.index import CorpusStats, KeywordIndex, clause_metadata
from xiaoshen.query import Query
from xiaoshen.text import term_definitions
from xiaoshen.types import Clause

RELATED_PARTY = ("本法所称关系人是指:\n(一)商业银行的董事、监事、管理人员、信贷业务人员及其近亲属;\n"
                 "(二)前项所列人员投资或者担任高级管理职务的公司、企业和其他经济组织。")
RELATED_PARTY_RULE = "商业银行不得向关系人发放信用贷款;向关系人发放担保贷款的条件不得优于其他借款人同类贷款的条件。"


def terms(text: str) -> list[str]:
    return [" ".join(term) for term, _ in term_definitions(text)]


def test_chinese_definitions_are_found_with_their_whole_list() -> None:
    [(term, words)] = term_definitions(RELATED_PARTY)
    assert term == ("关系", "关系人")
    assert {"董事", "近亲属", "经济", "组织"} <= set(words), "the definition runs over its numbered list"
    assert terms("本条例所称融资担保，是指担保人为被担保人借款、发行债券等债务融资提供担保的行为。") == ["融资 担保"]
    assert terms("本规定所称的民间借贷，是指自然人、法人和非法人组织之间进行资金融通的行为。") == ["民间 借贷"]


def test_english_definitions_quoted_listed_or_introduced_by_the_term() -> None:
    assert terms("(2) *Dwelling.* The term “dwelling” means a residential structure that contains one to four "
                 "units.") == ["dwell"]
    assert terms("(e) Applicant means any person who requests or who has received an extension of credit.") == ["applic"]
    assert terms("For purposes of this section, the term standard mortgage means a covered transaction that "
                 "is secured by a dwelling.") == ["standard mortgag"]
    [(_, words)] = term_definitions('"Gross monthly income" means income before tax. Other rules follow.')
    assert words == ("befor", "tax"), "the definition ends with its sentence, and leaves out the term's own words"


def test_words_that_only_look_like_a_definition_are_not_terms() -> None:
    assert terms("(1) The term means: the following.") == []
    assert terms("This commentary is the means by which the Bureau interprets the rule.") == []
    assert terms("A lender may use any means of communication.") == []
    assert terms("本法所称") == []


def _clause(n: int, text: str, lang: str = "zh") -> Clause:
    return Clause(clause_id=f"c{n}", doc_id="LAW", title="商业银行法", version="1", source="s", format="md",
                  language=lang, section=f"第{n}条", text=text, content_hash="h")


def test_definitions_are_counted_with_the_statistics_and_subtract_exactly() -> None:
    one = CorpusStats.of([_clause(1, RELATED_PARTY)])
    assert list(one.terms) == ["关系 关系人"]
    assert CorpusStats.from_json(one.to_json()) == one
    total = CorpusStats.of([_clause(2, RELATED_PARTY_RULE)])
    total.add(one)
    total.add(one, -1)
    assert total.terms == {} and total == CorpusStats.of([_clause(2, RELATED_PARTY_RULE)])


def test_statistics_stored_before_terms_were_counted_are_recounted() -> None:
    old = json.dumps({"clauses": 1, "df": {"关系人": 1}, "acronyms": {}})
    assert CorpusStats.from_json(old) is None, "the caller recounts the document from its clauses"


def _keyword() -> KeywordIndex:
    """The Commercial Bank Law, one clause per article, with article 40's rule and its definition of
    关系人 as two clauses, so only the term links the rule to a question in the definition's words."""
    law = (CORPORA / "zh" / "commercial-bank-law-2015.md").read_text(encoding="utf-8")
    articles = [a for a in re.split(r"\n(?=第[一二三四五六七八九十百]+条)", law) if a.startswith("第")
                and not a.startswith("第四十条")]
    clauses = [_clause(n, t) for n, t in enumerate([RELATED_PARTY_RULE, RELATED_PARTY, *articles], start=1)]
    return KeywordIndex.build("b", [(c.clause_id, c.text, clause_metadata(c)) for c in clauses])


@needs_corpora
def test_a_question_in_the_words_of_a_definition_reaches_the_clause_that_uses_the_term() -> None:
    keyword = _keyword()
    query = Query.build("我们行董事的近亲属开的公司想来借钱，有什么限制？", keyword)
    assert query.terms == (("关系", "关系人"),)
    ranked = [rid for rid, _ in keyword.search(query, 5, lambda m: True)]
    assert ranked[0] == "c2", "the definition itself first"
    assert "c1" in ranked, "and the rule on 关系人, although the question never names it"
    unexpanded = replace(query, bm25_tokens=tuple(t for t in query.bm25_tokens if t not in {"关系", "关系人"}))
    assert "c1" not in [rid for rid, _ in keyword.search(unexpanded, 10, lambda m: True)]


@needs_corpora
def test_a_question_naming_the_term_or_sharing_a_word_implies_nothing() -> None:
    keyword = _keyword()
    assert Query.build("商业银行可以向关系人发放信用贷款吗？", keyword).terms == ()
    assert Query.build("商业银行的董事会负责什么？", keyword).terms == ()
    assert Query.build("借款人逾期不还款怎么办？", keyword).terms == ()
