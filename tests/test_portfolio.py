"""The portfolio summary: one row per note, and charts of ratios against their limits that open offline."""

from __future__ import annotations

from xiaoshen.review.portfolio import PortfolioRow, RatioPoint, ratio_chart_svg, render_summary_html


def row(app_id: str, ltv: float, limit: float = 75.0, recommendation: str = "approve") -> PortfolioRow:
    point = RatioPoint(value=ltv, limit=limit, limit_kind="max", shown=f"{ltv:.1f}%", shown_limit=f"≤ {limit:.1f}%",
                       within=ltv <= limit)
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
