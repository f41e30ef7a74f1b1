"""Mitigants for a policy exception, found in the application data: each is a computed fact with its inputs
and the clause that makes it count (the kinds NCB-CRE-002 4.7 and NCB-RET-004 3.5.2 name)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from xiaoshen.review.application import Application
from xiaoshen.review.checks import PolicyCheck, check_limit, check_value
from xiaoshen.review.messages import Message, Money, Term
from xiaoshen.review.ratios import _money, _property, _round
from xiaoshen.review.rules import ClauseRef, Rulebook
from xiaoshen.review.terms import PRIMARY_COLLATERAL, eligible_value, remaining_balance

# Figures whose headroom against a passing limit a credit officer would cite in support of an exception.
HEADROOM_METRICS = {"dscr", "ltv", "cltv", "dti", "leverage", "interest_cover", "current_ratio", "credit_score"}
GUARANTEE_MULTIPLE = Decimal(2)  # NCB-COL-005 clause 9.2: tangible net worth at least 2 × the guaranteed amount


class Mitigant(BaseModel):
    """One mitigant: a computed fact (numbers and their inputs in the text) and the clause it rests on."""

    text: str
    clause: ClauseRef | None = Field(default=None, description="The clause that makes it count as support.")
    message: Message | None = Field(default=None, description="`text`, for rendering in any language.")


def find_mitigants(app: Application, exception: PolicyCheck, checks: list[PolicyCheck],
                   rulebook: Rulebook, fx_to_usd: dict[str, Decimal]) -> list[Mitigant]:
    """Guarantees that meet the guarantor test, additional collateral at its eligible value, headroom on the
    other limits, and (for an LTV exception) the amortisation that brings LTV back within the limit."""
    return [*_guarantees(app, rulebook), *_collateral(app, rulebook, fx_to_usd), *_headroom(exception, checks),
            *_amortisation(app, exception)]


def _guarantees(app: Application, rulebook: Rulebook) -> list[Mitigant]:
    clause = rulebook.exceptions.guarantee if rulebook.exceptions else None
    found = []
    for g in app.guarantees:
        if g.tangible_net_worth is None or (g.type == "corporate" and not g.board_resolution):
            continue  # an untested guarantee, or a corporate one without its board resolution, is not support
        multiple = g.tangible_net_worth / g.amount
        if multiple >= GUARANTEE_MULTIPLE:
            cur = app.request.currency
            found.append(Mitigant(clause=clause, text=(
                f"{g.type.capitalize()} guarantee from {g.guarantor} for {cur} {_money(g.amount)}: tangible net worth "
                f"{cur} {_money(g.tangible_net_worth)} is {_round(multiple, 2)}× the guaranteed amount "
                f"(at least {GUARANTEE_MULTIPLE}× required)."), message=Message(
                key="{kind} guarantee from {guarantor} for {amount}: tangible net worth {worth} is {multiple}× the "
                    "guaranteed amount (at least {required}× required).",
                args={"kind": Term(term=g.type.capitalize()), "guarantor": g.guarantor,
                      "amount": Money(amount=g.amount, currency=cur, places=2),
                      "worth": Money(amount=g.tangible_net_worth, currency=cur, places=2),
                      "multiple": str(_round(multiple, 2)), "required": str(GUARANTEE_MULTIPLE)})))
    return found


def _collateral(app: Application, rulebook: Rulebook, fx_to_usd: dict[str, Decimal]) -> list[Mitigant]:
    """Collateral beyond the primary security (for SME loans every item is additional support)."""
    haircuts = {h.collateral: h for h in rulebook.haircuts}
    req = app.request
    loan_rate = Decimal(1) if req.currency == "USD" else fx_to_usd.get(req.currency)
    found = []
    for item in app.collateral:
        if item.type in PRIMARY_COLLATERAL and req.product != "sme_working_capital":
            continue
        rule = haircuts.get(item.type)
        if rule is None:
            continue
        value = eligible_value(item, rule.pct)
        text = (f"Additional collateral, {item.description} ({item.type}): market value {item.currency} "
                f"{_money(item.market_value)} × (1 − {rule.pct}%) = eligible value {item.currency} {_money(value)}")
        args = {"description": item.description, "type": Term(term=item.type),
                "value": Money(amount=item.market_value, currency=item.currency, places=2), "pct": str(rule.pct),
                "eligible": Money(amount=value, currency=item.currency, places=2)}
        key = ("Additional collateral, {description} ({type}): market value {value} × (1 − {pct}%) = eligible value "
               "{eligible}")
        item_rate = Decimal(1) if item.currency == "USD" else fx_to_usd.get(item.currency)
        if loan_rate is not None and item_rate is not None:
            cover = value * item_rate / (req.amount * loan_rate) * 100
            text += f", {_round(cover, 1)}% of the loan amount {req.currency} {_money(req.amount)}"
            key += ", {cover}% of the loan amount {amount}"
            args |= {"cover": str(_round(cover, 1)), "amount": Money(amount=req.amount, currency=req.currency, places=2)}
        found.append(Mitigant(text=text + ".", clause=rule.clause, message=Message(key=key + ".", args=args)))
    return found


def _headroom(exception: PolicyCheck, checks: list[PolicyCheck]) -> list[Mitigant]:
    found = []
    for check in checks:
        if (check is exception or check.result != "pass" or check.metric not in HEADROOM_METRICS
                or check.figure_value is None or check.limit_value is None or check.metric == exception.metric):
            continue
        value, limit = check.figure_value, check.limit_value
        # Clear headroom: 10 percentage points for a percentage (as NCB-RET-004 3.5.2 puts it for LTV), else 10%.
        margin = Decimal(10) if check.value.endswith("%") else abs(limit) / 10
        clear = value <= limit - margin if check.limit.startswith("≤") else value >= limit + margin
        if clear:
            found.append(Mitigant(clause=check.clause, text=(
                f"{check.label} {check.value} is well within the limit {check.limit} (computed in section 3)."),
                message=Message(key="{label} {value} is well within the limit {limit} (computed in section 3).",
                                args={"label": Term(term=check.label), "value": check_value(check),
                                      "limit": check_limit(check)})))
    return found


def _amortisation(app: Application, exception: PolicyCheck) -> list[Mitigant]:
    """For an LTV exception: the month in which scheduled amortisation brings LTV to the limit or below."""
    req = app.request
    value = _property(app)[0]
    if exception.metric != "ltv" or req.repayment != "amortising" or exception.limit_value is None or not value:
        return []
    months = req.amortisation_months or req.tenor_months
    for month in range(1, min(req.tenor_months, months) + 1):
        balance = remaining_balance(req.amount, req.rate_pct, months, month)
        if balance / value * 100 <= exception.limit_value:
            return [Mitigant(clause=exception.exception_clause or exception.clause, text=(
                f"Contracted amortisation brings LTV to {_round(balance / value * 100, 1)}% (within {exception.limit}) "
                f"after {month} months: balance {req.currency} {_money(balance)} on property value {req.currency} "
                f"{_money(value)}, at {req.rate_pct}% over {months} months."), message=Message(
                key="Contracted amortisation brings LTV to {ltv}% (within {limit}) after {month} months: balance "
                    "{balance} on property value {value}, at {rate}% over {months} months.",
                args={"ltv": str(_round(balance / value * 100, 1)), "limit": check_limit(exception), "month": str(month),
                      "balance": Money(amount=balance, currency=req.currency, places=2),
                      "value": Money(amount=value, currency=req.currency, places=2), "rate": str(req.rate_pct),
                      "months": str(months)}))]
    return []
