"""The clause splitter recognises the numbering schemes credit officers cite, in English and Chinese."""

from __future__ import annotations

import hashlib

import pytest

from ingest.clauses import split_clauses
from xiaoshen.settings import IngestSettings
from xiaoshen.types import PolicyDocument


def doc(text: str, fmt: str = "md", language: str = "en", page_starts: list[int] | None = None) -> PolicyDocument:
    return PolicyDocument(doc_id="T-1", title="Test policy", version="1.0", language=language, source="t.md",
                          format=fmt, content_hash=hashlib.sha256(text.encode()).hexdigest(), text=text,
                          page_starts=page_starts or [])


def sections(text: str, **kwargs: object) -> list[str]:
    return [c.section for c in split_clauses(doc(text, **kwargs))]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4.2.1 The maximum LTV is 75%.\n\n4.2.2 The minimum DSCR is 1.20x.", ["4.2.1", "4.2.2"]),
        ("Section 4 Lending limits apply to all loans.\n\nSection 5 Pricing follows the FTP.", ["Section 4", "Section 5"]),
        ("§ 1026.43(c)(2) A creditor must consider income.\n\n§ 1026.43(e) Qualified mortgages.",
         ["§ 1026.43(c)(2)", "§ 1026.43(e)"]),
        ("Article 395 An institution shall not incur an exposure above 25%.\n\nArticle 396 Compliance.",
         ["Article 395", "Article 396"]),
        ("**4.4.2.(1)** An Authorised Person must have a credit policy.\n\n**4.4.3** It must be reviewed.",
         ["4.4.2.(1)", "4.4.3"]),
        ("**APP4.A4.1.Guidance.13.** Risk assessment. Exposures are graded.\n\n"
         "**APP4.A4.1.Guidance.14.** Risk assessment: Derivative Counterparties. A policy is needed.",
         ["APP4.A4.1.Guidance.13", "APP4.A4.1.Guidance.14"]),
    ],
)
def test_english_numbering_schemes_become_section_ids(text: str, expected: list[str]) -> None:
    assert sections(text) == expected


def test_chinese_articles_under_chapters_keep_their_items_and_heading_path() -> None:
    text = (
        "## 第三章 贷款条件\n\n第十二条 借款人应当具备下列条件：\n（一）有稳定收入；\n（二）信用良好。\n\n"
        "第十三条 贷款成数不得超过80%。"
    )
    clauses = split_clauses(doc(text, language="zh"))
    assert [c.section for c in clauses] == ["第十二条", "第十三条"]
    assert "（二）信用良好" in clauses[0].text
    assert clauses[0].heading == "第三章 贷款条件"


def test_plain_chinese_chapter_lines_are_headings_not_clauses() -> None:
    text = "第一章 总则\n第一条 为规范贷款管理，制定本规程。\n第二章 借款人\n第二条 借款人应当依法登记。"
    clauses = split_clauses(doc(text, fmt="txt", language="zh"))
    assert [(c.section, c.heading) for c in clauses] == [("第一条", "第一章 总则"), ("第二条", "第二章 借款人")]


def test_sub_items_stay_with_their_clause_when_it_is_short() -> None:
    clauses = split_clauses(doc("6.1 The Bank does not lend for:\n(a) gambling;\n(b) weapons.\n\n6.2 Next."))
    assert clauses[0].section == "6.1"
    assert "(b) weapons" in clauses[0].text


def test_a_long_clause_is_cut_at_its_sub_items_which_extend_the_section_id() -> None:
    items = "\n".join(f"({chr(97 + i)}) " + "the borrower must comply with this requirement. " * 8 for i in range(6))
    text = f"## § 1026.43 Minimum standards.\n{items}"
    found = sections(text, )
    assert found[:3] == ["§ 1026.43(a)", "§ 1026.43(b)", "§ 1026.43(c)"]


def test_a_long_clause_without_items_is_split_with_overlap_and_keeps_its_section() -> None:
    settings = IngestSettings(max_clause_chars=300, overlap_chars=60)
    body = " ".join(f"Sentence number {i} states a requirement of the policy." for i in range(30))
    clauses = split_clauses(doc(f"7.3 {body}"), settings)
    assert len(clauses) > 2
    assert {c.section for c in clauses} == {"7.3"}
    assert [c.part for c in clauses] == list(range(len(clauses)))
    assert all(len(c.text) <= 300 for c in clauses)
    # Overlap: each part starts with words the previous part ended with.
    assert clauses[1].text.split()[0] in clauses[0].text


def test_a_numbered_title_with_children_is_a_heading_and_tiny_strays_merge() -> None:
    text = "4.2 Owner-occupied property\n\n4.2.1 The maximum LTV is 75%.\n\nSee also.\n\n4.2.2 DSCR 1.20x minimum."
    clauses = split_clauses(doc(text))
    assert [c.section for c in clauses] == ["4.2.1", "4.2.2"]
    assert clauses[0].heading == "4.2 Owner-occupied property"
    assert "See also." in clauses[0].text


def test_pdf_wrapped_lines_do_not_start_false_clauses_and_pages_are_kept() -> None:
    page1 = "3.1 Collateral is valued as set out in clause\n4.2.1 of the Collateral Policy, by an independent valuer."
    page2 = "3.2 Revaluation happens every 12 months."
    text = page1 + "\n" + page2
    clauses = split_clauses(doc(text, fmt="pdf", page_starts=[0, len(page1) + 1]))
    assert [(c.section, c.page_start) for c in clauses] == [("3.1", 1), ("3.2", 2)]
    assert "clause 4.2.1 of the Collateral Policy" in clauses[0].text


def test_next_prc_article_starts_a_clause_in_pdf_text_even_after_a_line_without_a_full_stop() -> None:
    # OCR reads "。" as "," or drops it; a cross-reference wrapped to a line start is not the next article.
    text = ("第十二条 借款人应提供财务报表,\n第十三条 贷款期限不超过12个月\n第十四条 按照本规程\n"
            "第十二条规定的借款人可以申请续贷。")
    assert sections(text, fmt="pdf", language="zh") == ["第十二条", "第十三条", "第十四条"]


def test_clause_ids_are_stable_and_distinct() -> None:
    text = "1.1 First.\n\n1.2 Second."
    first, second = split_clauses(doc(text)), split_clauses(doc(text))
    assert [c.clause_id for c in first] == [c.clause_id for c in second]
    assert len({c.clause_id for c in first}) == 2


def test_paragraph_numbers_alone_on_their_line_extend_the_article_and_keep_their_points() -> None:
    # The PRA Rulebook's layout: " 6." on a line of its own, the paragraph below, its points unindented.
    filler = "A firm must calculate the exposure value in the manner laid down in this Part. " * 9
    text = (f"### Article 390 Calculation of Exposure Value\n\n 1.\n\n {filler}\n\n 3.\n\n For exposures in the "
            f"trading book, a firm may:\n\n- (a) offset its long positions;\n\n- (b) offset its short positions.\n\n"
            f" 6.\n\n The term exposures does not include:\n\n- (a) in the case of foreign exchange transactions, "
            f"exposures incurred during the two business days following payment; {filler}\n\n- (b) other items.")
    clauses = split_clauses(doc(text))
    found = {c.section: c.text for c in clauses}
    assert list(found) == ["Article 390(1)", "Article 390(3)", "Article 390(6)"]
    assert "(a) offset its long positions" in found["Article 390(3)"]
    assert "foreign exchange transactions" in found["Article 390(6)"]


def test_official_interpretations_cite_each_comment_by_its_designation() -> None:
    # Long enough that a paragraph's comments do not fit in one clause together.
    comment = "The creditor must keep the notice and the reasons it gave for the decision. " * 12
    text = (f"## Section 1002.9—Notifications\n  1. *Use of the term.* {comment}\n  2. *Withdrawn.* {comment}\n"
            f"#### 9(b) Form of ECOA notice.\n  *Paragraph 9(b)(2).*\n    1. *Number of reasons.* {comment}\n"
            f"    2. *Source of reasons.* {comment}\n    3. *Description.* {comment}\n"
            f"  *9(b)(3) Reasons in general.*\n    1. *Only one.* {comment}\n")
    document = doc(text).model_copy(update={"title": "Supplement I to Part 1002 — Official Interpretations"})
    assert [c.section for c in split_clauses(document)] == [
        "Comment 9-1", "Comment 9-2", "Comment 9(b)(2)-1", "Comment 9(b)(2)-2", "Comment 9(b)(2)-3",
        "Comment 9(b)(3)-1"]
    # The same numbering in an ordinary policy stays the paragraph's own items.
    assert sections(text)[2:5] == ["9(b)(2)(1)", "9(b)(2)(2)", "9(b)(2)(3)"]
