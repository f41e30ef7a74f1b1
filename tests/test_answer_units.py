"""The pieces the answer engine builds on: quotable units (list items keep their lead-in), acronyms the
policies define, and quantities in questions and clauses."""

from __future__ import annotations

from xiaoshen.answer.quantities import (
    Condition,
    Quantity,
    comparable_share,
    condition_share,
    conditions,
    quantities,
)
from xiaoshen.answer.references import referenced_by_others, references
from xiaoshen.answer.sentences import quotable_units
from xiaoshen.text import defined_acronyms, keyword_tokens, with_acronyms
from xiaoshen.types import Clause


def test_a_list_item_is_quoted_with_the_sentence_that_introduces_the_list() -> None:
    units = quotable_units("个人住房贷款的贷款成数上限如下：\n（一）首套住房：80%；\n（二）二套住房：70%；\n其他情形另行规定。")
    assert [u.text for u in units] == ["（一）首套住房：80%；", "（二）二套住房：70%；", "其他情形另行规定。"]
    assert units[1].full_text == "个人住房贷款的贷款成数上限如下： （二）二套住房：70%；"
    assert units[2].lead_in == "", "a plain sentence after the list is not an item"
    english = quotable_units("Restricted lending. It is permitted only as follows:\n(a) hotels, at 1.50x;\n(b) land.")
    assert [u.full_text for u in english] == ["Restricted lending.", "It is permitted only as follows: (a) hotels, at 1.50x;",
                                              "It is permitted only as follows: (b) land."]


def test_acronyms_are_mined_from_their_definitions_and_match_both_ways() -> None:
    found = defined_acronyms([
        'The debt service coverage ratio (DSCR) is tested yearly.',
        '2.5 "Loan-to-value ratio" (LTV) means the loan divided by the value.',
        'Risk-weighted assets (RWAs) are reported.',
        'See the annex (Annex B) and the Board (BCC).',  # neither spells its initials
    ])
    assert found["dscr"] == tuple(keyword_tokens("debt service coverage ratio", bigrams=False))
    assert found["ltv"] == tuple(keyword_tokens("loan value", bigrams=False))
    assert "rwa" in found and "bcc" not in found and "annex" not in found
    assert with_acronyms({"dscr"}, found) >= set(found["dscr"])
    assert "dscr" in with_acronyms(set(keyword_tokens("minimum debt service coverage ratio", bigrams=False)), found)


def test_quantities_are_read_by_kind_with_periods_in_months() -> None:
    assert quantities("The appraisal is 14 months old") == {Quantity("period", 14)}
    assert quantities("a USD 60,000 loan repaid over 6 years") == {Quantity("money", 60000), Quantity("period", 72)}
    assert quantities("付给供应商400万元人民币，信用评分为640分") == {Quantity("money", 4_000_000), Quantity("score", 640)}
    assert quantities("自2023年1月1日起施行") == set(), "dates are not periods"
    assert quantities("a DSCR of at least 1.25x and LTV of 75%") == {Quantity("multiple", 1.25), Quantity("percent", 75)}


def test_a_clause_with_a_comparable_threshold_scores_for_a_question_with_a_figure() -> None:
    asked = quantities("The appraisal in the file is 14 months old. Can I still use it?")
    assert comparable_share(asked, quantities("An appraisal older than 12 months may not support an approval.")) == 1.0
    assert comparable_share(quantities("评分为640分"), quantities("信用评分在620分至659分之间的")) == 1.0
    assert comparable_share(quantities("评分为640分"), quantities("贷款成数不得超过80%")) == 0.0, "another kind"
    assert comparable_share(asked, quantities("The maximum LTV is 75%.")) == 0.0
    assert comparable_share(set(), quantities("older than 12 months")) == 0.0


def test_cross_references_are_read_in_both_languages_and_point_within_the_document() -> None:
    text = ("The maximum facility is the lower of 80% of cost and 60% of value (clause 4.4), in line with "
            "NCB-COL-005 clause 5.4 and Rule 4.12.19; 借款用途符合本规程第七条规定。")
    assert references(text) == {(None, "4.4"), ("NCB-COL-005", "5.4"), (None, "4.12.19"), (None, "第七条")}


def test_the_clause_the_others_point_to_is_marked() -> None:
    def clause(doc: str, section: str, text: str) -> Clause:
        return Clause(clause_id=f"{doc}-{section}", doc_id=doc, title="t", version="1", source="s",
                      section=section, text=text)

    rule = clause("CRE", "4.4", "A construction loan must satisfy a maximum loan-to-cost of 80%.")
    part = clause("CRE", "5.6(b)", "Construction lending within the limit.")
    restated = clause("CRE", "8.2", "The maximum facility is 80% of development cost (clause 4.4). See clause 5.6.")
    elsewhere = clause("COL", "4.4", "Another document's clause 4.4.")
    assert referenced_by_others([rule, part, restated, elsewhere]) == [True, True, False, False]


def test_bands_are_read_from_ranges_and_from_the_words_around_a_bound() -> None:
    assert conditions("借款人信用评分在620分至659分之间的，仅可作为政策例外") == [Condition("score", 620, 659)]
    assert conditions("Exposures of USD 250,000 or less are not reviewed.") == [Condition("money", 0, 250_000)]
    assert conditions("Every exposure above USD 250,000 is reviewed.") == [Condition("money", 250_000, float("inf"))]
    assert conditions("信用评分不得低于660分") == [Condition("score", 660, float("inf"))], "a negated bound"
    assert conditions("The tenor must not exceed 60 months.") == [Condition("period", 0, 60)]
    assert conditions("The maximum LTV is 75%.") == [Condition("percent", 0, 75)]
    assert conditions("Collateral is valued at 75%.") == [], "a figure alone is no band"


def test_the_figure_in_a_question_falls_in_the_band_of_the_clause_that_describes_its_case() -> None:
    overdraft = quantities("My client only has a USD 200,000 overdraft. Do I still have to do an annual review?")
    assert condition_share(overdraft, conditions("Exposures of USD 250,000 or less are not subject to review.")) == 1
    assert condition_share(overdraft, conditions("Every credit exposure above USD 250,000 is reviewed.")) == 0
    assert condition_share(set(), conditions("above USD 250,000")) == 0
