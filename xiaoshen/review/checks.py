"""Policy checks: each applicable rule against the application's figures, with the clause cited, and the
approval authority the request needs under the authority matrix."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from xiaoshen.review.application import Application
from xiaoshen.review.messages import Arg, Message, Money, Quantity, Term, Terms, say
from xiaoshen.review.ratios import Figure
from xiaoshen.review.rules import (
    AuthorityMatrix,
    ClauseRef,
    DocumentRule,
    PolicyRule,
    Prohibition,
    Requirement,
    RuleStatus,
)

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
    metric: str = Field(default="", description="The figure key checked, e.g. 'ltv' (for charts).")
    figure_value: Decimal | None = Field(default=None, description="The unrounded figure, for charts.")
    limit_value: Decimal | None = Field(default=None, description="The limit in the figure's unit, for charts.")
    exception_clause: ClauseRef | None = Field(default=None, description="The clause of the exception route.")
    unit: str = Field(default="", description="The figure's unit, so each language can write value and limit.")
    zh_clause: ClauseRef | None = Field(default=None, description="The Chinese policy's clause for the same rule, "
                                        "when it is in the index and still prints the threshold.")
    citations: list[int] = Field(default_factory=list, description="Numbers into the note's citation list: the "
                                 "clause the check rests on, quoted in Sources.")
    reason_message: Message | None = Field(default=None, description="`reason`, for rendering in any language.")
    value_message: Message | None = Field(default=None, description="`value`, when it is words rather than a figure.")
    limit_message: Message | None = Field(default=None, description="`limit`, when it is words rather than a figure.")

    def shown_value(self, lang: str) -> str:
        """The value as a note in `lang` writes it."""
        from xiaoshen.review.messages import quantity, say
        if self.value_message is not None:
            return say(self.value_message, lang)
        return quantity(self.figure_value, self.unit, lang) if self.unit else self.value

    def shown_limit(self, lang: str) -> str:
        from xiaoshen.review.messages import quantity, say
        if self.limit_message is not None:
            return say(self.limit_message, lang)
        if self.limit_value is None or not self.unit:
            return self.limit
        return f"{self.limit[:1]} {quantity(self.limit_value, self.unit, lang)}"


def check_value(check: PolicyCheck) -> Arg:
    """The check's value as a message argument: the figure in its unit, or the words it is."""
    if check.value_message is not None:
        return check.value_message
    return Quantity(value=check.figure_value, unit=check.unit) if check.unit else check.value


def check_limit(check: PolicyCheck) -> Arg:
    if check.limit_message is not None:
        return check.limit_message
    if check.limit_value is None or not check.unit:
        return check.limit
    return Message(key="{sign} {value}", args={"sign": check.limit[:1],
                                               "value": Quantity(value=check.limit_value, unit=check.unit)})


def run_checks(app: Application, figures: list[Figure], statuses: list[RuleStatus]) -> list[PolicyCheck]:
    """Every rule for the application's product, in rules-file order."""
    by_key = {f.key: f for f in figures}
    checks = []
    for status in statuses:
        rule = status.rule
        if not isinstance(rule, PolicyRule) or not rule.applies_to(app):
            continue
        figure = by_key.get(rule.metric)
        unit_figure = figure or Figure(key=rule.metric, label=rule.metric, value=None, unit="", formula="")
        # A limit the policy sets by formula is the computed figure `limit_metric` (None when it cannot be computed).
        limit_figure = by_key.get(rule.limit_metric) if rule.limit_metric else None
        bound = limit_figure.value if limit_figure else rule.value
        limit_label = limit_figure.label if limit_figure else (rule.limit_metric or "")
        sign = "≤" if rule.limit == "max" else "≥"
        shown_limit = unit_figure.model_copy(update={"value": bound}).display()
        check = PolicyCheck(rule_id=rule.id, label=unit_figure.label, value=unit_figure.display(),
                            limit=f"{sign} {shown_limit}", result="not_assessable", clause=rule.clause,
                            clause_label=status.clause.label if status.clause else f"{rule.clause.doc_id} §{rule.clause.section}",
                            rule_status=status.status, metric=rule.metric, limit_value=bound,
                            figure_value=figure.value if figure else None, unit=unit_figure.unit,
                            zh_clause=rule.zh_clause if status.zh_verified else None)
        if rule.limit_metric and bound is None:
            check.limit = f"{sign} {limit_label}"
            check.limit_message = Message(key="{sign} {value}", args={"sign": sign, "value": Term(term=limit_label)})
        if figure is None or figure.value is None:
            check.reason = figure.note if figure else f"{rule.metric} does not apply to this application"
            check.reason_message = Message(key="{note}", args={"note": Term(term=check.reason)})
        elif bound is None:
            # The policy's formula cannot be applied: a missing input, so the note refers (never a pass).
            check.reason = limit_figure.note if limit_figure else f"{rule.limit_metric} does not apply to this application"
            check.reason_message = Message(key="{note}", args={"note": Term(term=check.reason)})
        elif rule.zero_limit_bars and bound <= 0:
            check.result = "fail"
            check.reason_message = Message(key="{limit} is zero or negative: no loan may be granted", args={
                "limit": Term(term=limit_label)})
            check.reason = say(check.reason_message, "en")
        elif _within(figure.value, bound, rule.limit):
            check.result = "pass"
        elif rule.exception and (rule.exception.bound is None or _within(figure.value, rule.exception.bound, rule.limit)):
            check.result, check.approver = "exception_needed", rule.exception.approver
            check.exception_clause = rule.exception.clause
            if limit_figure is not None:
                check.reason_message = Message(
                    key="{excess} above the computed limit: reduced to the limit unless the excess is approved as a "
                        "policy exception", args={"excess": Quantity(value=abs(figure.value - bound), unit=unit_figure.unit)})
                check.reason = say(check.reason_message, "en")
            elif rule.exception.bound is None:
                check.reason = "outside the limit; approvable only as a policy exception"
                check.reason_message = Message(key=check.reason)
            else:
                ceiling = unit_figure.model_copy(update={"value": rule.exception.bound}).display()
                key = ("outside the limit, within the exception ceiling of {bound}" if rule.limit == "max" else
                       "outside the limit, within the exception floor of {bound}")
                check.reason_message = Message(key=key, args={"bound": Quantity(value=rule.exception.bound,
                                                                                 unit=unit_figure.unit)})
                check.reason = key.format(bound=ceiling)
        else:
            check.result = "fail"
        _mark_drift(check, status)
        checks.append(check)
    return checks


def _mark_drift(check: PolicyCheck, status: RuleStatus) -> None:
    if status.status != "drifted":
        return
    check.reason = f"{check.reason}; rule drifted: {status.reason}".lstrip("; ")
    before = [check.reason_message] if check.reason_message else []
    check.reason_message = Message(key="{before}rule drifted: {why}", args={
        "before": Message(key="{reason}; ", args={"reason": before[0]}) if before else "", "why": status.reason})


def screen_prohibited(app: Application, statuses: list[RuleStatus]) -> PolicyCheck | None:
    """One check for prohibited lending: fails when the purpose or industry names a prohibited activity."""
    rules = [(s, s.rule) for s in statuses if isinstance(s.rule, Prohibition)]
    if not rules:
        return None
    words = f"{app.request.purpose} {app.borrower.industry or ''}".lower()
    named = [(s, rule, term) for s, rule in rules for term in rule.terms if term.lower() in words]
    first_status, first = rules[0]
    drifted = [s for s, _ in rules if s.status == "drifted"]
    check = PolicyCheck(rule_id="prohibited-lending", label="Prohibited lending (purpose and industry screen)",
                        value="none named", limit=f"none of {first.clause.doc_id} §{first.clause.section}",
                        result="pass", clause=first.clause, metric="prohibited",
                        clause_label=first_status.clause.label if first_status.clause else
                        f"{first.clause.doc_id} §{first.clause.section}",
                        rule_status="drifted" if drifted else "verified",
                        reason="no prohibited activity named; the credit officer verifies the purpose",
                        value_message=Message(key="none named"),
                        limit_message=Message(key="none of {clause}", args={
                            "clause": f"{first.clause.doc_id} §{first.clause.section}"}))
    check.reason_message = Message(key=check.reason)
    if named:
        _, rule, term = named[0]
        check.result, check.value = "fail", f"'{term}' named"
        check.value_message = Message(key="'{term}' named", args={"term": term})
        check.reason = f"{rule.text} is prohibited lending, not open to exception"
        check.reason_message = Message(key="{activity} is prohibited lending, not open to exception",
                                       args={"activity": Term(term=rule.text)})
    if drifted:
        check.reason += "; rule drifted: " + "; ".join(s.reason for s in drifted)
        check.reason_message = Message(key="{before}rule drifted: {why}", args={
            "before": Message(key="{reason}; ", args={"reason": check.reason_message}),
            "why": "; ".join(s.reason for s in drifted)})
    return check


def check_documents(app: Application, statuses: list[RuleStatus]) -> list[PolicyCheck]:
    """Income evidence: missing documents make income unverified, so the check cannot pass."""
    checks = []
    for status in statuses:
        rule = status.rule
        if not (isinstance(rule, DocumentRule) and app.income and app.request.product in rule.products
                and app.income.employment == rule.employment):
            continue
        missing = [code for code in rule.required if code not in app.income.documents]
        check = PolicyCheck(rule_id=rule.id, label=f"Income documents ({rule.employment.replace('_', '-')})",
                            value=", ".join(app.income.documents) or "none", limit="all of " + ", ".join(rule.required),
                            result="not_assessable" if missing else "pass", clause=rule.clause, metric="documents",
                            clause_label=status.clause.label if status.clause else
                            f"{rule.clause.doc_id} §{rule.clause.section}", rule_status=status.status,
                            reason=f"income not verified: {', '.join(missing)} missing" if missing else "",
                            value_message=Message(key="{documents}", args={
                                "documents": Terms(terms=app.income.documents or ["none"])}),
                            limit_message=Message(key="all of {documents}", args={
                                "documents": Terms(terms=rule.required)}))
        if missing:
            check.reason_message = Message(key="income not verified: {documents} missing", args={
                "documents": Terms(terms=missing)})
        _mark_drift(check, status)
        checks.append(check)
    return checks


def triggered_requirements(app: Application, figures: list[Figure],
                           statuses: list[RuleStatus]) -> list[tuple[RuleStatus, Figure]]:
    """Requirements whose threshold the application's figure exceeds (e.g. entrusted payment)."""
    by_key = {f.key: f for f in figures}
    found = []
    for status in statuses:
        rule = status.rule
        if isinstance(rule, Requirement) and rule.applies_to(app):
            figure = by_key.get(rule.metric)
            if figure is not None and figure.value is not None and figure.value > rule.above:
                found.append((status, figure))
    return found


def _within(value: Decimal, bound: Decimal, limit: str) -> bool:
    return value <= bound if limit == "max" else value >= bound


class Authority(BaseModel):
    """The approval authority a request needs, and why."""

    approver: str
    reason: str
    clause: ClauseRef
    kind: Literal["matrix", "no_new_money", "not_determinable"] = "matrix"
    reason_message: Message | None = Field(default=None, description="`reason`, for rendering in any language.")

    @property
    def decides(self) -> bool:
        """Whether some authority may approve new money at all."""
        return self.kind != "no_new_money"


def approval_authority(app: Application, exposure_usd: Decimal | None, checks: list[PolicyCheck],
                       matrix: AuthorityMatrix) -> Authority:
    """Lowest authority whose limit covers the group exposure at the borrower's grade; one level up for an
    exception (at least the Chief Credit Officer for an LTV exception)."""
    clause, levels = matrix.clause, matrix.levels
    grade = app.exposure.risk_grade
    row = next((limits for band, limits in matrix.grades.items() if _in_band(grade, band)), None)
    if row is None:
        return Authority(approver="none: no new money at this grade", clause=clause, kind="no_new_money",
                         reason=f"risk grade {grade} has no approval authority for new lending",
                         reason_message=Message(key="risk grade {grade} has no approval authority for new lending",
                                                args={"grade": str(grade)}))
    if exposure_usd is None:
        return Authority(approver="not determinable", clause=clause, reason="group exposure in USD not computable",
                         kind="not_determinable", reason_message=Message(key="group exposure in USD not computable"))
    index = next((i for i, cap in enumerate(row) if cap is not None and exposure_usd <= cap), None)
    if index is None:
        index = len(levels) - 1
    reason = f"group exposure USD {exposure_usd:,.0f} at grade {grade}"
    message = Message(key="group exposure {exposure} at grade {grade}",
                      args={"exposure": Money(amount=exposure_usd, currency="USD"), "grade": str(grade)})
    exceptions = [c for c in checks if c.result == "exception_needed"]
    if exceptions:
        index = min(index + 1, len(levels) - 1)
        if any(c.metric == "ltv" for c in exceptions):
            index = max(index, levels.index("Chief Credit Officer"))
        # Rule titles, not rule ids: the reader of the note never sees the rules file.
        reason += "; one level up for the policy exception(s): " + ", ".join(c.label for c in exceptions)
        message = Message(key="{before}; one level up for the policy exception(s): {checks}", args={
            "before": message, "checks": Terms(terms=[c.label for c in exceptions])})
    return Authority(approver=levels[index], reason=reason, clause=clause, reason_message=message)


def _in_band(grade: int, band: str) -> bool:
    low, _, high = band.partition("-")
    return int(low) <= grade <= int(high or low)
