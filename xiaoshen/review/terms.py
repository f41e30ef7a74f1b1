"""Figures about the loan's terms, the borrower's eligibility and the security, each with formula and inputs.

Like `ratios`, every value comes from the application alone, plus the FX reference rates in settings and the
collateral haircuts of the rules file (themselves verified against NCB-COL-005).
"""

from __future__ import annotations

from decimal import Decimal

from xiaoshen.review.application import Application, Collateral
from xiaoshen.review.messages import Arg, Message
from xiaoshen.review.ratios import Figure, _cash

# Collateral the product is secured on: for these products it is the primary security, not extra support.
PRIMARY_COLLATERAL = {"residential_property", "commercial_property", "land"}


def remaining_balance(amount: Decimal, rate_pct: Decimal, amortisation: int, after: int) -> Decimal:
    """Principal outstanding after `after` level monthly payments on an `amortisation`-month annuity."""
    r = rate_pct / Decimal(1200)
    if r == 0:
        return amount * (amortisation - after) / amortisation
    growth = (1 + r) ** amortisation
    return amount * (growth - (1 + r) ** after) / (growth - 1)


def term_figures(app: Application, fx_to_usd: dict[str, Decimal],
                 haircuts: dict[str, Decimal] | None = None) -> list[Figure]:
    """The term, eligibility and security figures that apply to the application's product."""
    product, req = app.request.product, app.request
    figures = [Figure(key="tenor_months", label="Tenor", value=Decimal(req.tenor_months), unit="months",
                      formula="as requested", inputs={"tenor months": str(req.tenor_months)})]
    if req.repayment == "amortising" and (product.startswith("cre_") or product == "mortgage"):
        months = req.amortisation_months or req.tenor_months
        figures.append(Figure(key="amortisation_months", label="Amortisation period", value=Decimal(months),
                              unit="months", formula="amortisation months (the tenor when none is given)",
                              inputs={"amortisation months": str(months)}))
    if product.startswith("cre_"):
        figures.append(_balloon(app))
    if product == "mortgage":
        figures.append(_age_at_maturity(app))
    usd = _to_usd(req.amount, req.currency, fx_to_usd)
    if product == "consumer_unsecured":
        base = dict(key="consumer_total_usd", label="Unsecured consumer lending after the loan (USD)", unit="USD",
                    formula="existing exposure to the borrower + new loan × FX rate to USD",
                    note="existing exposure is counted in full: the application does not split it by product")
        figures.append(Figure(**base, value=None if usd is None else app.exposure.existing_group_exposure + usd,
                              input_values={"existing exposure": _cash(app.exposure.existing_group_exposure, "USD"),
                                            "new loan": _cash(req.amount, req.currency)}))
    if product == "sme_working_capital":
        figures += _sme_figures(app, fx_to_usd)
    if haircuts is not None and (product == "sme_working_capital" or any(
            c.type not in PRIMARY_COLLATERAL for c in app.collateral)):
        figures += _security(app, fx_to_usd, haircuts, usd)
    return figures


def _to_usd(amount: Decimal, currency: str, fx_to_usd: dict[str, Decimal]) -> Decimal | None:
    rate = Decimal(1) if currency == "USD" else fx_to_usd.get(currency)
    return None if rate is None else amount * rate


def _balloon(app: Application) -> Figure:
    req = app.request
    base = dict(key="balloon_pct", label="Balloon at maturity", unit="%")
    if req.repayment in {"interest_only", "bullet"}:
        return Figure(**base, value=Decimal(100), formula="no principal repaid before maturity",
                      inputs={"repayment": req.repayment})
    if req.repayment == "revolving":
        return Figure(**base, value=None, formula="", note="revolving: no repayment schedule")
    months = req.amortisation_months or req.tenor_months
    left = remaining_balance(req.amount, req.rate_pct, months, min(req.tenor_months, months))
    return Figure(**base, value=left / req.amount * 100,
                  formula="principal outstanding after the tenor on the amortisation schedule ÷ amount × 100",
                  input_values={"amount": _cash(req.amount, req.currency), "rate": f"{req.rate_pct}%",
                                "amortisation months": str(months), "tenor months": str(req.tenor_months),
                                "balance at maturity": _cash(left, req.currency)})


def _age_at_maturity(app: Application) -> Figure:
    base = dict(key="age_at_maturity", label="Borrower's age at final maturity", unit="age",
                formula="age today + tenor months ÷ 12")
    if app.borrower.age is None:
        return Figure(**base, value=None, note="age not given")
    return Figure(**base, value=app.borrower.age + Decimal(app.request.tenor_months) / 12,
                  inputs={"age": str(app.borrower.age), "tenor months": str(app.request.tenor_months)})


def _sme_figures(app: Application, fx_to_usd: dict[str, Decimal]) -> list[Figure]:
    req, figures = app.request, []
    latest = app.financials[0] if app.financials else None
    years = app.borrower.years_in_business
    figures.append(Figure(key="years_in_business", label="Years trading in the current business", unit="years",
                          value=years, formula="as stated by the borrower",
                          inputs={"years in business": str(years)} if years is not None else {},
                          note="" if years is not None else "years in business not given"))
    # RMB thresholds apply to RMB loans, USD thresholds to every other currency (converted).
    if req.currency == "CNY":
        figures.append(Figure(key="revenue", label="Annual sales revenue (CNY)", unit="CNY",
                              value=latest.revenue if latest else None, formula="latest financial year",
                              input_values={"revenue": _cash(latest.revenue, "CNY")} if latest else {},
                              note="" if latest else "no financial statements"))
    else:
        revenue_usd = _to_usd(latest.revenue, req.currency, fx_to_usd) if latest else None
        figures.append(Figure(key="revenue_usd", label="Annual sales revenue (USD)", unit="USD", value=revenue_usd,
                              formula="latest financial year revenue × FX rate to USD",
                              input_values={"revenue": _cash(latest.revenue, req.currency)} if latest else {},
                              note="" if latest else "no financial statements"))
    if req.single_payment_max is not None:
        if req.currency == "CNY":
            figures.append(Figure(key="single_payment", label="Largest single payment (CNY)", unit="CNY",
                                  value=req.single_payment_max, formula="as stated in the drawdown plan",
                                  input_values={"largest single payment": _cash(req.single_payment_max, "CNY")}))
        else:
            figures.append(Figure(key="single_payment_usd", label="Largest single payment (USD)", unit="USD",
                                  value=_to_usd(req.single_payment_max, req.currency, fx_to_usd),
                                  formula="largest single payment × FX rate to USD (reference rate, not the "
                                          "payment-date rate)",
                                  input_values={"largest single payment": _cash(req.single_payment_max,
                                                                                req.currency)}))
    return figures


def eligible_value(collateral: Collateral, haircut_pct: Decimal) -> Decimal:
    """NCB-COL-005 clause 2.4: market value × (1 − haircut)."""
    return collateral.market_value * (1 - haircut_pct / 100)


def _security(app: Application, fx_to_usd: dict[str, Decimal], haircuts: dict[str, Decimal],
              loan_usd: Decimal | None) -> list[Figure]:
    """Eligible collateral value in USD and, for SME loans, the unsecured exposure it leaves."""
    eligible, missing = Decimal(0), []
    inputs: dict[str, Arg] = {}
    for number, item in enumerate(app.collateral, start=1):
        pct = haircuts.get(item.type)
        value = eligible_value(item, pct) if pct is not None else None
        value_usd = _to_usd(value, item.currency, fx_to_usd) if value is not None else None
        if value_usd is None:
            missing.append(item.type)
            continue
        eligible += value_usd
        # Keyed by the collateral class, a term the note translates; numbered only when a class repeats.
        key = item.type if [c.type for c in app.collateral].count(item.type) == 1 else f"{item.type} {number}"
        inputs[key] = Message(key="{value} × (1 − {pct}%) = {eligible}", args={
            "value": _cash(item.market_value, item.currency), "pct": str(pct), "eligible": _cash(value_usd, "USD")})
    note = f"no haircut or FX rate for: {', '.join(missing)}" if missing else ("" if app.collateral else "no collateral")
    figures = [Figure(key="eligible_collateral_usd", label="Eligible collateral value (USD)", unit="USD",
                      value=eligible, formula="Σ market value × (1 − haircut) × FX rate to USD",
                      input_values=inputs, note=note)]
    if app.request.product == "sme_working_capital":
        exposure = None if loan_usd is None else app.exposure.existing_group_exposure + loan_usd
        figures.append(Figure(key="unsecured_exposure_usd", label="Unsecured exposure after the loan (USD)", unit="USD",
                              value=None if exposure is None else max(exposure - eligible, Decimal(0)),
                              formula="group exposure after the loan − eligible collateral value (not below 0)",
                              input_values={"exposure after": _cash(exposure, "USD") if exposure is not None else "n/a",
                                            "eligible collateral": _cash(eligible, "USD")}))
    return figures
