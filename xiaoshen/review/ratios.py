"""Figures a credit officer computes from an application, each with its formula and inputs shown.

Every number in a review note comes from here and only from the application data (plus the FX
reference rates in settings). A figure that cannot be computed says why (`value` None, `note` set)
instead of guessing: a missing input makes a check "not assessable", never a pass.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field, model_validator

from xiaoshen.review.application import Application
from xiaoshen.review.messages import Arg, Day, Money, render_arg

PROPERTY_COLLATERAL = {"residential_property", "commercial_property", "land"}
STRESS_POINTS = Decimal("2.00")  # the CRE interest-rate stress (NCB-CRE-002 cl. 5.9)


class Figure(BaseModel):
    """One computed figure: value, unit, formula and the inputs it used."""

    key: str = Field(description="Stable name, e.g. 'dscr', 'ltv'.")
    label: str
    value: Decimal | None = Field(description="None when it cannot be computed (see note).")
    unit: str = Field(description="'x', '%', 'points', 'months', 'years', 'age' (years of age), or a currency code.")
    formula: str
    inputs: dict[str, str] = Field(default_factory=dict, description="The inputs in English (as `input_values` "
                                   "writes them in English, when those are given).")
    input_values: dict[str, Arg] = Field(default_factory=dict, description="The inputs as typed values (amounts "
                                         "with their currency, dates), so each language writes them its own way.")
    note: str = ""

    @model_validator(mode="after")
    def _english_inputs(self) -> Figure:
        if self.input_values and not self.inputs:
            self.inputs = {name: render_arg(value, "en") for name, value in self.input_values.items()}
        return self

    def display(self, lang: str = "en") -> str:
        """Ratios to 2 decimals (1.20x), percentages to 1 decimal (75.0%), amounts with separators; in Chinese,
        money as 人民币800.00万元."""
        from xiaoshen.review.messages import quantity  # messages imports nothing of the review package

        return quantity(self.value, self.unit, lang)


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return f"{_round(value, 2):,}"


def _cash(value: Decimal, currency: str) -> Money:
    """An amount input: 'USD 1,234.56' in English, '人民币123.46万元' in Chinese."""
    return Money(amount=value, currency=currency, places=2)


def monthly_payment(amount: Decimal, rate_pct: Decimal, months: int) -> Decimal:
    """Level monthly payment of an amortising loan (annuity formula); straight-line when the rate is 0."""
    r = rate_pct / Decimal(1200)
    if r == 0:
        return amount / months
    return amount * r / (1 - (1 + r) ** -months)


def new_loan_debt_service(app: Application) -> Figure:
    """Annual principal and interest on the requested loan."""
    req = app.request
    inputs: dict[str, Arg] = {"amount": _cash(req.amount, req.currency), "rate": f"{req.rate_pct}%",
                              "repayment": req.repayment}
    if req.repayment == "amortising":
        months = req.amortisation_months or req.tenor_months
        inputs["amortisation months"] = str(months)
        value = monthly_payment(req.amount, req.rate_pct, months) * 12
        formula = "12 × amount × r / (1 − (1 + r)^−n), r = rate / 12, n = amortisation months"
    else:
        value = req.amount * req.rate_pct / 100
        formula = "amount × rate (interest only)"
    return Figure(key="new_debt_service", label="Annual debt service on the new loan", value=value,
                  unit=req.currency, formula=formula, input_values=inputs)


def compute_figures(app: Application, fx_to_usd: dict[str, Decimal], as_of: date | None = None,
                    haircuts: dict[str, Decimal] | None = None) -> list[Figure]:
    """All the figures relevant to the application's product, in the order a note presents them; with
    `haircuts` (collateral class -> percent) also the eligible collateral value."""
    from xiaoshen.review.terms import term_figures  # terms builds on this module's Figure

    figures = [new_loan_debt_service(app)]
    product = app.request.product
    if product.startswith("cre_") or product == "mortgage":
        figures += [_ltv(app), _combined_ltv(app)]
    if product == "cre_construction":
        figures.append(_loan_to_cost(app))
    if product in {"mortgage", "consumer_unsecured"}:
        figures += [_dti(app, figures[0]), _credit_score(app)]
    else:
        figures += [_dscr(app, figures[0]), _leverage(app), _interest_cover(app), _current_ratio(app)]
    if product.startswith("cre_"):
        figures.append(_stressed_dscr(app))
    if product == "sme_working_capital":
        figures += _working_capital(app)
    figures += [_exposure_after(app, fx_to_usd), _valuation_age(app, as_of or app.as_of)]
    return figures + term_figures(app, fx_to_usd, haircuts)


def _property(app: Application) -> tuple[Decimal, Decimal]:
    """(market value, prior liens) of the property collateral."""
    props = [c for c in app.collateral if c.type in PROPERTY_COLLATERAL]
    return sum((c.market_value for c in props), Decimal(0)), sum((c.prior_liens for c in props), Decimal(0))


def _ltv(app: Application) -> Figure:
    value, _ = _property(app)
    base = dict(key="ltv", label="Loan-to-value (LTV)", unit="%", formula="loan amount ÷ property market value × 100")
    if value == 0:
        return Figure(**base, value=None, note="no property collateral with a market value")
    cur = app.request.currency
    return Figure(**base, value=app.request.amount / value * 100,
                  input_values={"loan amount": _cash(app.request.amount, cur), "market value": _cash(value, cur)})


def _combined_ltv(app: Application) -> Figure:
    value, prior = _property(app)
    base = dict(key="cltv", label="Combined LTV (all liens)", unit="%",
                formula="(loan amount + prior and pari-passu liens) ÷ property market value × 100")
    if value == 0:
        return Figure(**base, value=None, note="no property collateral with a market value")
    cur = app.request.currency
    return Figure(**base, value=(app.request.amount + prior) / value * 100,
                  input_values={"loan amount": _cash(app.request.amount, cur), "other liens": _cash(prior, cur),
                                "market value": _cash(value, cur)})


def _loan_to_cost(app: Application) -> Figure:
    cost = app.request.construction_cost
    base = dict(key="ltc", label="Loan-to-cost (LTC)", unit="%", formula="loan amount ÷ total construction cost × 100")
    if not cost:
        return Figure(**base, value=None, note="construction cost not given")
    cur = app.request.currency
    return Figure(**base, value=app.request.amount / cost * 100,
                  input_values={"loan amount": _cash(app.request.amount, cur), "construction cost": _cash(cost, cur)})


def _dti(app: Application, debt_service: Figure) -> Figure:
    base = dict(key="dti", label="Debt-to-income (DTI)", unit="%",
                formula="(existing monthly debt payments + new monthly payment) ÷ gross monthly income × 100")
    if app.income is None or debt_service.value is None:
        return Figure(**base, value=None, note="income not given")
    new_monthly = debt_service.value / 12
    value = (app.income.monthly_debt_payments + new_monthly) / app.income.gross_monthly_income * 100
    cur = app.request.currency
    return Figure(**base, value=value, input_values={
        "existing monthly debts": _cash(app.income.monthly_debt_payments, cur),
        "new monthly payment": _cash(new_monthly, cur),
        "gross monthly income": _cash(app.income.gross_monthly_income, cur)})


def _credit_score(app: Application) -> Figure:
    score = app.credit.score if app.credit else None
    return Figure(key="credit_score", label="Credit score", unit="points", formula="as reported by the credit bureau",
                  value=Decimal(score) if score is not None else None, note="" if score is not None else "no score given",
                  inputs={"score": str(score)} if score is not None else {})


def _latest(app: Application):  # type: ignore[no-untyped-def]
    return app.financials[0] if app.financials else None


def _dscr(app: Application, debt_service: Figure) -> Figure:
    """DSCR as each product standard defines it (NCB-CRE-002 cl. 5.5–5.6, NCB-SME-003 cl. 7.2)."""
    period = _latest(app)
    product = app.request.product
    base = dict(key="dscr", label="Debt service coverage (DSCR)", unit="x")
    new_service, cur = debt_service.value or Decimal(0), app.request.currency
    if period is None:
        return Figure(**base, value=None, formula="cash flow ÷ debt service", note="no financial statements")
    if product in {"cre_investment", "cre_construction", "cre_land"}:
        if period.net_operating_income is None:
            return Figure(**base, value=None, formula="NOI ÷ new loan debt service", note="NOI not given")
        return Figure(**base, value=period.net_operating_income / new_service if new_service else None,
                      formula="property net operating income ÷ annual debt service on the new loan",
                      input_values={"NOI": _cash(period.net_operating_income, cur),
                                    "debt service": _cash(new_service, cur)})
    untaxed = "tax paid and maintenance capex are not in the application and are not deducted"
    if product == "cre_owner_occupied":
        cash_flow = period.ebitda - period.annual_debt_service
        return Figure(**base, value=cash_flow / new_service if new_service else None,
                      formula="(EBITDA − debt service on other borrowings) ÷ annual debt service on the new loan",
                      input_values={"EBITDA": _cash(period.ebitda, cur),
                                    "other debt service": _cash(period.annual_debt_service, cur),
                                    "new debt service": _cash(new_service, cur)}, note=untaxed)
    total = period.annual_debt_service + new_service
    return Figure(**base, value=period.ebitda / total if total else None,
                  formula="EBITDA ÷ (existing annual debt service + debt service on the new loan)",
                  input_values={"EBITDA": _cash(period.ebitda, cur),
                                "existing debt service": _cash(period.annual_debt_service, cur),
                                "new debt service": _cash(new_service, cur)},
                  note=untaxed if total else "no debt service")


def _stressed_dscr(app: Application) -> Figure:
    """DSCR with the new loan's rate 2.00 points higher, same amortisation profile (NCB-CRE-002 cl. 5.9)."""
    stressed = app.model_copy(update={"request": app.request.model_copy(
        update={"rate_pct": app.request.rate_pct + STRESS_POINTS})})
    figure = _dscr(stressed, new_loan_debt_service(stressed))
    return figure.model_copy(update={
        "key": "stressed_dscr", "label": "Stressed DSCR (rate + 2.00 points)",
        "formula": f"{figure.formula}, with debt service at the contract rate + {STRESS_POINTS} points",
        "inputs": {**figure.inputs, "stressed rate": f"{stressed.request.rate_pct}%"},
        "input_values": {**figure.input_values, "stressed rate": f"{stressed.request.rate_pct}%"}})


def _leverage(app: Application) -> Figure:
    period = _latest(app)
    base = dict(key="leverage", label="Leverage (total debt ÷ EBITDA)", unit="x",
                formula="(total debt + new loan) ÷ EBITDA")
    if period is None:
        return Figure(**base, value=None, note="no financial statements")
    cur = app.request.currency
    inputs: dict[str, Arg] = {"total debt": _cash(period.total_debt, cur), "new loan": _cash(app.request.amount, cur),
                              "EBITDA": _cash(period.ebitda, cur)}
    if period.ebitda <= 0:
        return Figure(**base, value=None, input_values=inputs, note="not meaningful: EBITDA is zero or negative")
    return Figure(**base, value=(period.total_debt + app.request.amount) / period.ebitda, input_values=inputs)


def _interest_cover(app: Application) -> Figure:
    period = _latest(app)
    base = dict(key="interest_cover", label="Interest cover (EBITDA ÷ interest)", unit="x",
                formula="EBITDA ÷ (interest expense + interest on the new loan)")
    if period is None:
        return Figure(**base, value=None, note="no financial statements")
    interest = period.interest_expense + app.request.amount * app.request.rate_pct / 100
    cur = app.request.currency
    inputs: dict[str, Arg] = {"EBITDA": _cash(period.ebitda, cur), "interest expense": _cash(period.interest_expense, cur),
                              "new loan interest": _cash(app.request.amount * app.request.rate_pct / 100, cur)}
    if interest == 0:
        return Figure(**base, value=None, input_values=inputs, note="no interest expense")
    return Figure(**base, value=period.ebitda / interest, input_values=inputs)


def _current_ratio(app: Application) -> Figure:
    period = _latest(app)
    base = dict(key="current_ratio", label="Current ratio", unit="x", formula="current assets ÷ current liabilities")
    if period is None or period.current_liabilities == 0:
        return Figure(**base, value=None, note="no financial statements" if period is None else "no current liabilities")
    cur = app.request.currency
    return Figure(**base, value=period.current_assets / period.current_liabilities,
                  input_values={"current assets": _cash(period.current_assets, cur),
                                "current liabilities": _cash(period.current_liabilities, cur)})


def _working_capital(app: Application) -> list[Figure]:
    """Working-capital need and loan limit by the SME standard's formula (NCB-SME-003 ch. 5), and the facility
    requested, which the loan limit caps (cl. 5.6)."""
    period, cur = _latest(app), app.request.currency
    requested = Figure(key="wc_request", label="Working-capital facility requested", unit=cur,
                       value=app.request.amount, formula="as requested",
                       input_values={"amount": _cash(app.request.amount, cur)})
    need = dict(key="wc_need", label="Working-capital need", unit=app.request.currency,
                formula="revenue × (1 − sales margin) × (1 + growth) ÷ turnover; "
                        "turnover = 360 ÷ (inventory + receivable + prepayment − payable − advance-receipt days)")
    limit = dict(key="wc_limit", label="Working-capital loan limit", unit=app.request.currency,
                 formula="need − own working capital (current assets − current liabilities, not below 0) "
                         "− other working-capital financing")
    days = None if period is None else [period.inventory_days, period.receivable_days, period.prepayment_days,
                                        period.payable_days, period.advance_receipt_days]
    if period is None or days is None or any(d is None for d in days) or period.sales_margin_pct is None:
        missing = "no financial statements" if period is None else "turnover days or sales margin not given"
        return [Figure(**need, value=None, note=missing), Figure(**limit, value=None, note=missing), requested]
    inv, rec, pre, pay, adv = days  # type: ignore[misc]
    cycle = inv + rec + pre - pay - adv
    if cycle <= 0:
        note = "turnover days sum to zero or less: no working-capital need by formula"
        return [Figure(**need, value=None, note=note), Figure(**limit, value=None, note=note), requested]
    turnover = Decimal(360) / cycle
    growth = period.projected_growth_pct or Decimal(0)
    value = period.revenue * (1 - period.sales_margin_pct / 100) * (1 + growth / 100) / turnover
    own = max(period.current_assets - period.current_liabilities, Decimal(0))
    other = period.other_wc_financing or Decimal(0)
    inputs: dict[str, Arg] = {"revenue": _cash(period.revenue, cur), "sales margin": f"{period.sales_margin_pct}%",
                              "growth": f"{growth}%", "turnover": str(_round(turnover, 2)), "cycle days": str(cycle)}
    return [Figure(**need, value=value, input_values=inputs),
            Figure(**limit, value=value - own - other,
                   input_values={"need": _cash(value, cur), "own working capital": _cash(own, cur),
                                 "other financing": _cash(other, cur)}), requested]


def _exposure_after(app: Application, fx_to_usd: dict[str, Decimal]) -> Figure:
    currency = app.request.currency
    base = dict(key="exposure_after", label="Group exposure after the loan (USD)", unit="USD",
                formula="existing group exposure + new loan × FX rate to USD")
    rate = Decimal(1) if currency == "USD" else fx_to_usd.get(currency)
    if rate is None:
        return Figure(**base, value=None, note=f"no reference FX rate for {currency}")
    inputs: dict[str, Arg] = {"existing group exposure": _cash(app.exposure.existing_group_exposure, "USD"),
                              "new loan": _cash(app.request.amount, currency), "FX to USD": str(rate)}
    return Figure(**base, value=app.exposure.existing_group_exposure + app.request.amount * rate, input_values=inputs)


def _valuation_age(app: Application, as_of: date) -> Figure:
    base = dict(key="valuation_age", label="Age of the oldest collateral valuation", unit="months",
                formula="(as-of date − valuation date) in months (days ÷ 30.44)")
    if not app.collateral:
        return Figure(**base, value=None, note="no collateral")
    oldest = min(c.valuation_date for c in app.collateral)
    months = Decimal((as_of - oldest).days) / Decimal("30.44")
    return Figure(**base, value=months, input_values={"as of": Day(day=as_of), "oldest valuation": Day(day=oldest)})
