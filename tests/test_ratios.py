"""Figures are computed from the application alone, each with its formula and inputs; missing data
makes a figure not assessable instead of a guess."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xiaoshen.review.application import Application
from xiaoshen.review.ratios import compute_figures, monthly_payment

FX = {"CNY": Decimal("0.14")}


def sme(**overrides: object) -> Application:
    data: dict[str, object] = {
        "id": "T-SME-1", "as_of": "2025-09-30",
        "borrower": {"name": "Harbour Tools Ltd", "type": "sme", "masked_id": "HK****5521", "industry": "wholesale",
                     "years_in_business": 6},
        "request": {"product": "sme_working_capital", "amount": 2_000_000, "currency": "USD", "tenor_months": 12,
                    "purpose": "inventory financing", "rate_pct": 6, "repayment": "revolving"},
        "financials": [{"period_end": "2024-12-31", "revenue": 24_000_000, "ebitda": 2_000_000,
                        "net_income": 900_000, "interest_expense": 300_000, "total_debt": 4_000_000,
                        "current_assets": 9_000_000, "current_liabilities": 6_500_000, "equity": 5_000_000,
                        "annual_debt_service": 600_000, "sales_margin_pct": 10, "projected_growth_pct": 15,
                        "inventory_days": 60, "receivable_days": 50, "payable_days": 30, "prepayment_days": 10,
                        "advance_receipt_days": 0, "other_wc_financing": 1_200_000}],
        "exposure": {"risk_grade": 5, "existing_group_exposure": 1_800_000},
    }
    data.update(overrides)
    return Application.model_validate(data)


def by_key(app: Application) -> dict[str, object]:
    return {f.key: f for f in compute_figures(app, FX)}


def test_working_capital_need_follows_the_sme_standard_worked_example() -> None:
    # NCB-SME-003 clause 5.7: 24,000,000 × 0.90 × 1.15 ÷ 4.0 = 6,210,000; limit 6,210,000 − 2,500,000 − 1,200,000.
    figures = by_key(sme())
    assert figures["wc_need"].value == Decimal("6210000")
    assert figures["wc_limit"].value == Decimal("2510000")
    assert figures["wc_request"].value == Decimal(2_000_000), "the facility requested, checked against the limit"
    assert "turnover" in figures["wc_need"].formula


def test_sme_ratios_with_their_inputs() -> None:
    figures = by_key(sme())
    assert figures["leverage"].value == Decimal(6_000_000) / Decimal(2_000_000)
    assert figures["interest_cover"].value == Decimal(2_000_000) / Decimal(420_000)
    assert figures["current_ratio"].display() == "1.38x"
    assert figures["dscr"].value == Decimal(2_000_000) / Decimal(720_000)  # revolving: interest only on the new loan
    assert figures["exposure_after"].value == Decimal(3_800_000)
    assert figures["leverage"].inputs["EBITDA"] == "USD 2,000,000.00", "an amount input names its currency"


def test_zero_ebitda_makes_leverage_not_meaningful_instead_of_infinite() -> None:
    app = sme()
    app.financials[0].ebitda = Decimal(0)
    leverage = by_key(app)["leverage"]
    assert leverage.value is None and "EBITDA" in leverage.note


def test_missing_statements_make_figures_not_assessable() -> None:
    figures = by_key(sme(financials=[]))
    assert all(figures[k].value is None for k in ("dscr", "leverage", "wc_need", "wc_limit"))


def test_annuity_payment() -> None:
    assert monthly_payment(Decimal(120_000), Decimal(0), 120) == Decimal(1000)
    assert round(monthly_payment(Decimal(100_000), Decimal(6), 360), 2) == Decimal("599.55")


@pytest.mark.parametrize(("currency", "expected"), [("USD", Decimal(3_800_000)), ("CNY", Decimal(2_080_000))])
def test_exposure_is_converted_to_usd_at_the_reference_rate(currency: str, expected: Decimal) -> None:
    app = sme()
    app.request.currency = currency  # type: ignore[assignment]
    assert by_key(app)["exposure_after"].value == expected


def test_every_sample_application_gets_its_figures_without_error() -> None:
    from tests.conftest import ROOT
    from xiaoshen.review.application import load_application

    for path in sorted((ROOT / "data" / "sample_applications").iterdir()):
        app = load_application(path)
        figures = compute_figures(app, FX)
        assert {"new_debt_service", "exposure_after"} <= {f.key for f in figures}
        assert all(f.value is not None or f.note for f in figures), path.name


def test_amount_and_date_inputs_are_typed_so_a_chinese_note_writes_them_the_chinese_way() -> None:
    from xiaoshen.review.render import input_texts

    app = sme(collateral=[{"type": "inventory", "description": "stock", "market_value": 3_000_000, "currency": "CNY",
                           "valuation_date": "2025-06-30"}])
    app.request.currency = "CNY"  # type: ignore[assignment]
    figures = by_key(app)
    leverage = dict(input_texts(figures["leverage"], "zh"))
    assert leverage["新增贷款"] == "人民币200.00万元" and leverage["EBITDA"] == "人民币200.00万元"
    exposure = dict(input_texts(figures["exposure_after"], "zh"))
    assert exposure["现有集团授信敞口"] == "美元180.00万元", "the group exposure is in USD, the loan in CNY"
    assert exposure["新增贷款"] == "人民币200.00万元"
    age = dict(input_texts(figures["valuation_age"], "zh"))
    assert (age["审查日期"], age["最早评估日期"]) == ("2025年9月30日", "2025年6月30日")
    # English as the policies write them: the currency code, ISO dates.
    assert dict(input_texts(figures["exposure_after"], "en"))["new loan"] == "CNY 2,000,000.00"
    assert dict(input_texts(figures["valuation_age"], "en"))["as of"] == "2025-09-30"
