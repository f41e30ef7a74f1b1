"""Policy checks: each applicable rule against the application's figures, with the clause cited, and the
approval authority the request needs under the authority matrix."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from xiaoshen.review.application import Application
from xiaoshen.review.ratios import Figure
from xiaoshen.review.rules import AuthorityMatrix, ClauseRef, RuleStatus

CheckResult = Literal["pass", "fail", "exception_needed", "not_assessable"]


class PolicyCheck(BaseModel):
    """One limit checked: value against limit, the result, and the clause that sets the limit."""

    rule_id: str
    label: str
    value: str = Field(description="The figure as displayed, or 'n/a'.")
    limit: str = Field(description="e.g. '≤ 75.0%' or '≥ 1.20x'.")
    result: CheckResult
    clause: ClauseRef
    clause_label: str = ""
    reason: str = ""
    rule_status: Literal["verified", "drifted"] = "verified"
    approver: str | None = Field(default=None, description="Who may approve the exception, if one is possible.")


def run_checks(app: Application, figures: list[Figure], statuses: list[RuleStatus]) -> list[PolicyCheck]:
    """Every rule for the application's product, in rules-file order."""
    by_key = {f.key: f for f in figures}
    checks = []
    for status in statuses:
        rule = status.rule
        if app.request.product not in rule.products:
            continue
        figure = by_key.get(rule.metric)
        unit_figure = figure or Figure(key=rule.metric, label=rule.metric, value=None, unit="", formula="")
        shown_limit = unit_figure.model_copy(update={"value": rule.value}).display()
        limit = f"{'≤' if rule.limit == 'max' else '≥'} {shown_limit}"
        check = PolicyCheck(rule_id=rule.id, label=unit_figure.label, value=unit_figure.display(), limit=limit,
                            result="not_assessable", clause=rule.clause,
                            clause_label=status.clause.label if status.clause else f"{rule.clause.doc_id} §{rule.clause.section}",
                            rule_status=status.status)
        if figure is None or figure.value is None:
            check.reason = figure.note if figure else f"{rule.metric} does not apply to this application"
        elif _within(figure.value, rule.value, rule.limit):
            check.result = "pass"
        elif rule.exception and _within(figure.value, rule.exception.bound, rule.limit):
            check.result, check.approver = "exception_needed", rule.exception.approver
            bound = unit_figure.model_copy(update={"value": rule.exception.bound}).display()
            check.reason = f"outside the limit, within the exception {'ceiling' if rule.limit == 'max' else 'floor'} of {bound}"
        else:
            check.result = "fail"
        if status.status == "drifted":
            check.reason = f"{check.reason}; rule drifted: {status.reason}".lstrip("; ")
        checks.append(check)
    return checks


def _within(value: Decimal, bound: Decimal, limit: str) -> bool:
    return value <= bound if limit == "max" else value >= bound


class Authority(BaseModel):
    """The approval authority a request needs, and why."""

    approver: str
    reason: str
    clause: ClauseRef


def approval_authority(app: Application, exposure_usd: Decimal | None, checks: list[PolicyCheck],
                       matrix: AuthorityMatrix) -> Authority:
    """Lowest authority whose limit covers the group exposure at the borrower's grade; one level up for an
    exception (at least the Chief Credit Officer for an LTV exception)."""
    clause, levels = matrix.clause, matrix.levels
    grade = app.exposure.risk_grade
    row = next((limits for band, limits in matrix.grades.items() if _in_band(grade, band)), None)
    if row is None:
        return Authority(approver="none: no new money at this grade", clause=clause,
                         reason=f"risk grade {grade} has no approval authority for new lending")
    if exposure_usd is None:
        return Authority(approver="not determinable", clause=clause, reason="group exposure in USD not computable")
    index = next((i for i, cap in enumerate(row) if cap is not None and exposure_usd <= cap), None)
    if index is None:
        index = len(levels) - 1
    reason = f"group exposure USD {exposure_usd:,.0f} at grade {grade}"
    exceptions = [c for c in checks if c.result == "exception_needed"]
    if exceptions:
        index = min(index + 1, len(levels) - 1)
        if any(c.rule_id.endswith("ltv") for c in exceptions):
            index = max(index, levels.index("Chief Credit Officer"))
        reason += "; one level up for the policy exception(s): " + ", ".join(c.rule_id for c in exceptions)
    return Authority(approver=levels[index], reason=reason, clause=clause)


def _in_band(grade: int, band: str) -> bool:
    low, _, high = band.partition("-")
    return int(low) <= grade <= int(high or low)
