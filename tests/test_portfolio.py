"""The portfolio summary: one row per note, and charts of ratios against their limits that open offline."""

from __future__ import annotations

import re

from xiaoshen.review.portfolio import (
    PortfolioRow,
    RatioPoint,
    chart_caption,
    ratio_chart_svg,
    render_summary_html,
)


def row(app_id: str, ltv: float, limit: float = 75.0, recommendation: str = "approve",
        clause: str = "NCB-CRE-002 §5.3") -> PortfolioRow:
    point = RatioPoint(value=ltv, limit=limit, limit_kind="max", shown=f"{ltv:.1f}%", shown_limit=f"≤ {limit:.1f}%",
                       within=ltv <= limit, clause=clause)
    return PortfolioRow(id=app_id, borrower="Borrower", product="owner-occupied commercial real estate",
                        recommendation=recommendation, approval_authority="Chief Credit Officer",
                        ratios={"ltv": point.shown}, points={"ltv": point}, notes={"md": f"{app_id}.md"})


def test_a_bar_outside_its_limit_is_red_and_each_bar_has_its_own_limit_tick() -> None:
    svg = ratio_chart_svg([row("APP-A", 70.0), row("APP-B", 78.0), row("APP-C", 60.0, limit=65.0)], "ltv")
    assert svg.startswith("<svg") and svg.count("<rect") == 3 and svg.count("<line") == 3
    assert svg.count("#c0392b") == 1, "only APP-B is outside its limit"
    assert "APP-B: LTV 78.0%, limit ≤ 75.0%" in svg


def test_no_chart_when_no_application_has_the_ratio() -> None:
    assert ratio_chart_svg([row("APP-A", 70.0)], "dscr") == ""


def test_every_text_in_the_summary_is_escaped() -> None:
    hostile = row("APP-X", 70.0).model_copy(update={"borrower": "<script>alert(1)</script>",
                                                    "failed_checks": ["<b>x</b>"]})
    page = render_summary_html([hostile, row("APP-<i>", 50.0, recommendation="decline")])
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>x" not in page and "APP-<i>" not in page
    assert "1 approve, 0 approve with conditions, 1 decline" in page


def repeated_words(caption: str, title: str, run: int = 3) -> set[str]:
    """Every run of `run` words (or, in Chinese, characters) of the title that the caption says again."""
    def runs(text: str) -> set[str]:
        words = re.findall(r"[A-Za-z]+|[\u4e00-\u9fff]", text.lower())
        return {" ".join(words[i:i + run]) for i in range(len(words) - run + 1)}
    return runs(caption) & runs(title)


def test_a_chart_caption_says_what_its_title_does_not() -> None:
    rows = [row("APP-A", 70.0), row("APP-B", 78.0), row("APP-C", 60.0, limit=65.0, clause="NCB-RET-004 §3.2.1")]
    for lang in ("en", "zh"):
        svg = ratio_chart_svg(rows, "ltv", lang=lang)
        title = re.search(r'font-weight="bold">([^<]+)</text>', svg).group(1)  # type: ignore[union-attr]
        headline = re.split(r" \(|（", title)[0]  # "LTV against policy limits", before how to read the chart
        caption = chart_caption(rows, "ltv", lang)
        assert caption and not repeated_words(caption, headline), (headline, caption)
    assert chart_caption(rows, "ltv") == ("3 applications plotted, 1 outside their limit. Limits: ≤ 75.0% under "
                                          "NCB-CRE-002 §5.3 (2 applications); ≤ 65.0% under NCB-RET-004 §3.2.1 "
                                          "(1 application).")
    assert chart_caption(rows, "ltv", "zh") == ("图中3笔申请，其中1笔超出限额。限额：≤ 75.0%，依据NCB-CRE-002 §5.3（2笔申请）；"
                                                "≤ 65.0%，依据NCB-RET-004 §3.2.1（1笔申请）。")
    assert chart_caption(rows, "dscr") == "", "no chart, no caption"
