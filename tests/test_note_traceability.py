"""Notes for every sample application, drafted on the extractive backend: each number in the note is recomputed
here from the application's own data, by the policies' definitions and independently of the code that drafted it,
and every policy statement and check row cites a clause that exists in the index. The English rendering of every
note is checked, and the Chinese rendering of the Chinese applications' notes as it is drafted (授信审查报告)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import Application, load_application
from xiaoshen.review.note import ReviewNote, draft_note
from xiaoshen.review.render import render_markdown

APPS = sorted((ROOT / "data" / "sample_applications").iterdir())
RULEBOOK = yaml.safe_load((ROOT / "data" / "policy_rules.yaml").read_text(encoding="utf-8"))
RULES = {rule["id"]: rule for rule in RULEBOOK["rules"]}
HAIRCUT = {h["collateral"]: Decimal(str(h["pct"])) for h in RULEBOOK["haircuts"]}
PROPERTY = {"residential_property", "commercial_property", "land"}
FX = {"USD": Decimal(1), "CNY": Decimal("0.14"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "HKD": Decimal("0.128")}


@pytest.fixture(scope="module")
def drafted(sample_index: ClauseIndex) -> list[tuple[Application, ReviewNote, str]]:
    assert sample_index.settings.review.fx_to_usd == {k: v for k, v in FX.items() if k != "USD"}
    out = []
    for path in APPS:
        app = load_application(path)
        note = draft_note(app, index=sample_index, settings=sample_index.settings, backend="extractive")
        out.append((app, note, render_markdown(note, "en")))  # every note, in its English rendering
    return out


# --- the figures, by the policies' definitions -------------------------------------------------------------------

def rounded(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def shown(value: Decimal | None, unit: str) -> str:
    """How a review note prints a figure: ratios 2 decimals, percentages 1, periods and ages 1 unless whole, money
    whole."""
    if value is None:
        return "n/a"
    return {"x": lambda: f"{rounded(value, 2)}x", "%": lambda: f"{rounded(value, 1)}%",
            "points": lambda: str(rounded(value, 0)), "months": lambda: plural(period(value), "month"),
            "years": lambda: plural(period(value), "year"), "age": lambda: plural(period(value), "year"),
            }.get(unit, lambda: f"{unit} {rounded(value, 0):,}")()


def plural(number: str, unit: str) -> str:
    return f"{number} {unit}" if number == "1" else f"{number} {unit}s"


def period(value: Decimal) -> str:
    """A period or an age to one decimal, a whole one without its '.0' (120 months, 7.5 months)."""
    tenths = rounded(value, 1)
    return str(int(tenths)) if tenths == int(tenths) else str(tenths)


def balance_after(amount: Decimal, rate_pct: Decimal, months: int, paid: int) -> Decimal:
    """Month by month: interest added, the level payment taken off (the schedule a borrower receives)."""
    r = rate_pct / 1200
    payment = amount / months if r == 0 else amount * r / (1 - (1 + r) ** -months)
    balance = amount
    for _ in range(paid):
        balance = balance * (1 + r) - payment
    return balance


def annual_service(app: Application, stress: Decimal = Decimal(0)) -> Decimal:
    """First year's principal and interest on the new loan (at the contract rate + `stress` points)."""
    req, rate = app.request, app.request.rate_pct + stress
    if req.repayment != "amortising":
        return req.amount * rate / 100
    months = req.amortisation_months or req.tenor_months
    return (req.amount - balance_after(req.amount, rate, months, 12)) + sum(
        balance_after(req.amount, rate, months, k) * rate / 1200 for k in range(12))


def latest(app: Application) -> Any:
    return max(app.financials, key=lambda p: p.period_end) if app.financials else None


def property_value(app: Application) -> Decimal:
    return sum((c.market_value for c in app.collateral if c.type in PROPERTY), Decimal(0))


def dscr(app: Application, stress: Decimal = Decimal(0)) -> Decimal | None:
    p, service, product = latest(app), annual_service(app, stress), app.request.product
    if p is None:
        return None
    if product in {"cre_investment", "cre_construction", "cre_land"}:
        return None if p.net_operating_income is None else p.net_operating_income / service
    if product == "cre_owner_occupied":  # NCB-CRE-002 5.6: business cash flow after its other debt service
        return (p.ebitda - p.annual_debt_service) / service
    return p.ebitda / (p.annual_debt_service + service)  # NCB-SME-003 7.2


def wc_need(app: Application) -> Decimal | None:
    p = latest(app)
    days = None if p is None else [p.inventory_days, p.receivable_days, p.prepayment_days, p.payable_days,
                                   p.advance_receipt_days]
    if p is None or days is None or None in days or p.sales_margin_pct is None:
        return None
    cycle = days[0] + days[1] + days[2] - days[3] - days[4]
    if cycle <= 0:
        return None
    return p.revenue * (1 - p.sales_margin_pct / 100) * (1 + (p.projected_growth_pct or Decimal(0)) / 100) * cycle / 360


def usd(amount: Decimal, currency: str) -> Decimal:
    return amount * FX[currency]


def eligible_usd(app: Application) -> Decimal:
    return sum((c.market_value * (1 - HAIRCUT[c.type] / 100) * FX[c.currency] for c in app.collateral), Decimal(0))


Recompute = Callable[[Application], tuple[Decimal | None, str]]
FIGURES: dict[str, Recompute] = {
    "Annual debt service on the new loan": lambda a: (annual_service(a), a.request.currency),
    "Loan-to-value (LTV)": lambda a: (a.request.amount / property_value(a) * 100 if property_value(a) else None, "%"),
    "Combined LTV (all liens)": lambda a: ((a.request.amount + sum(c.prior_liens for c in a.collateral if c.type in PROPERTY))
                                           / property_value(a) * 100 if property_value(a) else None, "%"),
    "Loan-to-cost (LTC)": lambda a: (a.request.amount / a.request.construction_cost * 100
                                     if a.request.construction_cost else None, "%"),
    "Debt-to-income (DTI)": lambda a: ((a.income.monthly_debt_payments + annual_service(a) / 12)
                                       / a.income.gross_monthly_income * 100 if a.income else None, "%"),
    "Credit score": lambda a: (Decimal(a.credit.score) if a.credit and a.credit.score else None, "points"),
    "Debt service coverage (DSCR)": lambda a: (dscr(a), "x"),
    "Stressed DSCR (rate + 2.00 points)": lambda a: (dscr(a, Decimal(2)), "x"),  # NCB-CRE-002 5.9
    "Leverage (total debt ÷ EBITDA)": lambda a: ((latest(a).total_debt + a.request.amount) / latest(a).ebitda
                                                 if latest(a) and latest(a).ebitda > 0 else None, "x"),
    "Interest cover (EBITDA ÷ interest)": lambda a: (latest(a).ebitda / (latest(a).interest_expense + a.request.amount
                                                     * a.request.rate_pct / 100) if latest(a) else None, "x"),
    "Current ratio": lambda a: (latest(a).current_assets / latest(a).current_liabilities
                                if latest(a) and latest(a).current_liabilities else None, "x"),
    "Working-capital need": lambda a: (wc_need(a), a.request.currency),
    "Working-capital loan limit": lambda a: (None if wc_need(a) is None else wc_need(a) - max(
        latest(a).current_assets - latest(a).current_liabilities, Decimal(0)) - (latest(a).other_wc_financing or 0),
        a.request.currency),
    "Working-capital facility requested": lambda a: (a.request.amount, a.request.currency),
    "Group exposure after the loan (USD)": lambda a: (a.exposure.existing_group_exposure
                                                      + usd(a.request.amount, a.request.currency), "USD"),
    "Age of the oldest collateral valuation": lambda a: (Decimal((a.as_of - min(c.valuation_date for c in a.collateral)).days)
                                                         / Decimal("30.44") if a.collateral else None, "months"),
    "Tenor": lambda a: (Decimal(a.request.tenor_months), "months"),
    "Amortisation period": lambda a: (Decimal(a.request.amortisation_months or a.request.tenor_months), "months"),
    "Balloon at maturity": lambda a: (Decimal(100) if a.request.repayment in {"bullet", "interest_only"} else
                                      balance_after(a.request.amount, a.request.rate_pct, a.request.amortisation_months
                                                    or a.request.tenor_months, a.request.tenor_months)
                                      / a.request.amount * 100, "%"),
    "Borrower's age at final maturity": lambda a: (a.borrower.age + Decimal(a.request.tenor_months) / 12
                                                   if a.borrower.age else None, "age"),
    "Unsecured consumer lending after the loan (USD)": lambda a: (a.exposure.existing_group_exposure
                                                                  + usd(a.request.amount, a.request.currency), "USD"),
    "Years trading in the current business": lambda a: (a.borrower.years_in_business, "years"),
    "Annual sales revenue (CNY)": lambda a: (latest(a).revenue if latest(a) else None, "CNY"),
    "Annual sales revenue (USD)": lambda a: (usd(latest(a).revenue, a.request.currency) if latest(a) else None, "USD"),
    "Largest single payment (CNY)": lambda a: (a.request.single_payment_max, "CNY"),
    "Largest single payment (USD)": lambda a: (usd(a.request.single_payment_max or Decimal(0), a.request.currency), "USD"),
    "Eligible collateral value (USD)": lambda a: (eligible_usd(a), "USD"),
    "Unsecured exposure after the loan (USD)": lambda a: (max(a.exposure.existing_group_exposure + usd(
        a.request.amount, a.request.currency) - eligible_usd(a), Decimal(0)), "USD"),
}


LIMIT_LABEL = {"wc_limit": "Working-capital loan limit"}


def rule_limit(rule: dict[str, Any], app: Application) -> Decimal | None:
    """The rule's limit: its fixed value, or the figure the policy's formula gives (the working-capital loan limit)."""
    if "limit_metric" in rule:
        return FIGURES[LIMIT_LABEL[rule["limit_metric"]]](app)[0]
    return Decimal(str(rule["value"]))


ZH_PERIODS = {"months": "个月", "years": "年", "age": "岁"}  # an age in 岁 (45岁), a period in 年 (30年)


def shown_zh(value: Decimal | None, unit: str) -> str:
    """How a Chinese note prints a figure (NCB-RNS-ZH-010 第十四条): money in 万元 to 2 decimals with the currency."""
    if value is None:
        return "不适用"
    if unit in {"x", "%"}:
        return shown(value, unit)
    if unit == "points":
        return f"{rounded(value, 0)}分"
    if unit in ZH_PERIODS:
        return period(value) + ZH_PERIODS[unit]
    name = {"CNY": "人民币", "USD": "美元", "EUR": "欧元", "GBP": "英镑", "HKD": "港元"}[unit]
    return f"{name}{rounded(value / 10000, 2):,}万元" if abs(value) >= 10000 else f"{name}{rounded(value, 2):,}元"


def table(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # after the header
    return [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_notes_for_all_sample_applications_are_drafted(drafted) -> None:  # type: ignore[no-untyped-def]
    assert len(drafted) == len(APPS) >= 30
    assert {note.backend for _, note, _ in drafted} == {"extractive"}
    assert all("not a credit decision" in md for _, _, md in drafted)


def test_every_figure_in_every_note_is_recomputed_from_the_application(drafted) -> None:  # type: ignore[no-untyped-def]
    for app, _, md in drafted:
        for label, value, _formula, _inputs in table(md, "3 Financial analysis"):
            assert label in FIGURES, f"{app.id}: a figure the test does not know how to recompute: {label}"
            assert value == shown(*FIGURES[label](app)), f"{app.id}: {label}"


def test_every_check_is_recomputed_against_the_rules_file(drafted) -> None:  # type: ignore[no-untyped-def]
    for app, note, md in drafted:
        rows = table(md, "4 Policy compliance")
        assert len(rows) == len(note.checks), (app.id, rows)
        for row, check in zip(rows, note.checks, strict=True):
            if check.rule_id == "prohibited-lending":
                continue
            if check.metric == "documents":
                required = next(d["required"] for d in RULEBOOK["documents"] if d["id"] == check.rule_id)
                assert app.income is not None and row[1] == ", ".join(app.income.documents)
                assert row[3] == ("pass" if set(required) <= set(app.income.documents) else "not assessable")
                continue
            rule = RULES[check.rule_id]
            value, unit = FIGURES[row[0]](app)
            limit = rule_limit(rule, app)
            sign = "≤" if rule["limit"] == "max" else "≥"
            # A limit set by formula (NCB-SME-003 5.6) that cannot be computed is shown by its name.
            assert row[1] == shown(value, unit) and row[2] == (
                f"{sign} {shown(limit, unit)}" if limit is not None else f"{sign} {LIMIT_LABEL[rule['limit_metric']]}")
            within = (lambda v, b: v <= b) if rule["limit"] == "max" else (lambda v, b: v >= b)
            route = rule.get("exception")
            expected = ("not assessable" if value is None or limit is None else
                        "**FAIL**" if rule.get("zero_limit_bars") and limit <= 0 else
                        "pass" if within(value, limit) else
                        "exception needed" if route and ("bound" not in route or within(value, Decimal(str(route["bound"]))))
                        else "**FAIL**")
            assert row[3] == expected, f"{app.id}: {check.rule_id}"


def test_every_number_in_the_exceptions_section_is_recomputed(drafted) -> None:  # type: ignore[no-untyped-def]
    money = r"([\d,]+\.\d\d)"
    patterns = {
        "guarantee": re.compile(rf"guarantee from (.+) for \w+ {money}: tangible net worth \w+ {money} is ([\d.]+)× "),
        "collateral": re.compile(rf"\((\w+)\): market value (\w+) {money} × \(1 − ([\d.]+)%\) = eligible value \w+ "
                                 rf"{money}(?:, ([\d.]+)% of the loan amount)?"),
        "headroom": re.compile(r"^(.+) (\S+) is well within the limit (.+) \(computed"),
        "amortisation": re.compile(rf"brings LTV to ([\d.]+)% \(within ≤ ([\d.]+)%\) after (\d+) months: balance \w+ "
                                   rf"{money} on property value \w+ {money}"),
    }
    seen = set()
    for app, note, _ in drafted:
        figures = {f.label: f.display() for f in note.figures}
        for exception in note.exceptions:
            for mitigant in exception.mitigants:
                text = mitigant.text
                if m := patterns["guarantee"].search(text):
                    g = next(g for g in app.guarantees if g.guarantor == m[1])
                    assert m[2] == f"{rounded(g.amount, 2):,}" and m[3] == f"{rounded(g.tangible_net_worth, 2):,}"
                    assert Decimal(m[4]) == rounded(g.tangible_net_worth / g.amount, 2) >= 2
                elif m := patterns["collateral"].search(text):
                    c = next(c for c in app.collateral if c.type == m[1] and f"{rounded(c.market_value, 2):,}" == m[3])
                    assert Decimal(m[4]) == HAIRCUT[c.type]
                    assert m[5] == f"{rounded(c.market_value * (1 - HAIRCUT[c.type] / 100), 2):,}"
                    if m[6]:
                        share = c.market_value * (1 - HAIRCUT[c.type] / 100) * FX[c.currency] / usd(
                            app.request.amount, app.request.currency) * 100
                        assert Decimal(m[6]) == rounded(share, 1)
                elif m := patterns["headroom"].search(text):
                    assert figures[m[1]] == m[2], f"{app.id}: {text}"
                elif m := patterns["amortisation"].search(text):
                    months, req = int(m[3]), app.request
                    schedule = req.amortisation_months or req.tenor_months
                    balance = balance_after(req.amount, req.rate_pct, schedule, months)
                    before = balance_after(req.amount, req.rate_pct, schedule, months - 1)
                    assert m[4] == f"{rounded(balance, 2):,}" and m[5] == f"{rounded(property_value(app), 2):,}"
                    assert balance / property_value(app) * 100 <= Decimal(m[2]) < before / property_value(app) * 100
                else:
                    pytest.fail(f"{app.id}: a mitigant the test cannot recompute: {text}")
                seen.add(next(k for k, p in patterns.items() if p.search(text)))
    assert seen == set(patterns), "the samples exercise every kind of mitigant"


def test_every_policy_statement_and_check_cites_a_clause_in_the_index(drafted, sample_index: ClauseIndex) -> None:  # type: ignore[no-untyped-def]
    clauses = {(c.doc_id, c.section) for c in sample_index.clauses()}
    for app, note, md in drafted:
        numbers = {c.n for c in note.citations}
        assert all((c.doc_id, c.section) in clauses for c in note.citations), app.id
        assert all((c.clause.doc_id, c.clause.section) in clauses for c in note.checks), app.id
        statements = [*note.reasons, *note.conditions, *(e.requirement for e in note.exceptions),
                      *(m for e in note.exceptions for m in e.mitigants)]
        for statement in statements:
            if statement.kind in {"policy", "figure"}:
                assert statement.citations and set(statement.citations) <= numbers, f"{app.id}: {statement.text}"
        for e in note.exceptions:
            cited = {(note.citations[n - 1].doc_id, note.citations[n - 1].section) for n in e.requirement.citations}
            assert ("NCB-CPM-001", "11.2") in cited, "the manual's mitigant rule is cited with every exception"
        body = md.split("## 8 Sources and approvals")[0]
        assert {int(n) for n in re.findall(r"\[(\d+)\]", body)} <= numbers


def test_requirements_state_their_threshold_and_figure(drafted) -> None:  # type: ignore[no-untyped-def]
    thresholds = {r["id"]: r for r in RULEBOOK["requirements"]}
    found = 0
    for app, note, _ in drafted:
        for condition in note.conditions:
            m = re.match(r"(.+?) ((?:USD|CNY) [\d,]+) exceeds ((?:USD|CNY) [\d,]+): ", condition.text)
            if not m:
                continue
            found += 1
            value, unit = FIGURES[m[1]](app)
            assert m[2] == shown(value, unit)
            rule = next(r for r in thresholds.values() if shown(Decimal(str(r["above"])), unit) == m[3])
            assert value is not None and value > Decimal(str(rule["above"]))
    assert found >= 3



def test_every_note_cites_clauses_and_every_check_clause_is_quoted_in_sources(drafted) -> None:  # type: ignore[no-untyped-def]
    for app, note, _md in drafted:
        body = render_markdown(note).split("## 8 Sources and approvals")[0].split("## 八、依据条款与审批")[0]
        assert re.search(r"\[\d+\]", body), f"{app.id}: no [n] citation"
        sources = {(c.doc_id, c.section) for c in note.citations}
        for check in note.checks:
            refs = {(check.clause.doc_id, check.clause.section)}
            if check.zh_clause is not None:
                refs.add((check.zh_clause.doc_id, check.zh_clause.section))
            assert check.citations and refs & sources, f"{app.id}: {check.label}"
            assert all(note.citations[n - 1].quote for n in check.citations)


def test_the_chinese_notes_figures_and_checks_are_recomputed_from_the_application(drafted) -> None:  # type: ignore[no-untyped-def]
    from xiaoshen.review.catalog_zh import ZH
    from xiaoshen.review.messages import clause_label

    chinese = [(app, note) for app, note, _ in drafted if note.language == "zh"]
    assert {app.id for app, _ in chinese} >= {"APP-024", "APP-038"}
    for app, note in chinese:
        md = render_markdown(note)
        rows = table(md, "三、财务分析")
        assert len(rows) == len(note.figures)
        for row, figure in zip(rows, note.figures, strict=True):
            assert row[0] == ZH[figure.label], f"{app.id}: untranslated label {figure.label}"
            assert row[1] == shown_zh(*FIGURES[figure.label](app)), f"{app.id}: {figure.label}"
        checks = table(md, "四、政策符合性审查")
        assert len(checks) == len(note.checks)
        for row, check in zip(checks, note.checks, strict=True):
            if check.rule_id in RULES:
                value, unit = FIGURES[check.label](app)
                rule = RULES[check.rule_id]
                bound = rule_limit(rule, app)
                sign = "≤" if rule["limit"] == "max" else "≥"
                limit = f"{sign} {shown_zh(bound, unit)}" if bound is not None else \
                    f"{sign} {ZH[LIMIT_LABEL[rule['limit_metric']]]}"
                assert (row[0], row[1], row[2]) == (ZH[check.label], shown_zh(value, unit), limit), app.id
            assert row[3] in {"符合", "**不符合**", "需例外审批", "无法评估"}
            numbers = re.findall(r"\[(\d+)\]", row[4])
            # The cited clause as a Chinese reader sees it: its pages as 第N页 (messages.clause_label).
            assert numbers and all(clause_label(note.citations[int(n) - 1].label, "zh") in row[4]
                                   for n in numbers[:1])


# --- the working-capital loan limit (NCB-SME-003 5.6, NCB-SME-ZH-007 第二十二条) -----------------------------------

def note_of(drafted, app_id: str) -> tuple[Application, ReviewNote]:  # type: ignore[no-untyped-def]
    return next((app, note) for app, note, _ in drafted if app.id == app_id)


def cited_clauses(note: ReviewNote, numbers: list[int]) -> set[tuple[str, str]]:
    return {(note.citations[n - 1].doc_id, note.citations[n - 1].section) for n in numbers}


def test_a_request_above_the_working_capital_loan_limit_is_an_exception_cited_in_both_languages(
        drafted, sample_index: ClauseIndex) -> None:  # type: ignore[no-untyped-def]
    # 5.6: the facilities may not exceed the computed loan limit; 5.7(d) and 第二十三条(八): the excess is reduced to
    # the limit unless approved as a policy exception under chapter 13 (one level up, 13.2).
    app, note = note_of(drafted, "APP-028")
    limit = FIGURES["Working-capital loan limit"](app)[0]
    assert limit is not None and app.request.amount > limit
    check = next(c for c in note.checks if c.rule_id == "sme-wc-loan-limit")
    assert (check.result, check.approver) == ("exception_needed", "approval authority one level up")
    assert cited_clauses(note, check.citations) == {("NCB-SME-003", "5.6")}
    assert "must not exceed the loan limit" in note.citations[check.citations[0] - 1].quote
    row = next(r for r in table(render_markdown(note, "en"), "4 Policy compliance")
               if r[0] == "Working-capital facility requested")
    assert row[1:4] == [shown(app.request.amount, "USD"), f"≤ {shown(limit, 'USD')}", "exception needed"]
    assert row[1:3] == ["USD 1,800,000", "≤ USD 1,681,030"] and "§5.6" in row[4]
    exception = next(e for e in note.exceptions if e.rule_id == "sme-wc-loan-limit")
    assert ("NCB-SME-003", "13.2") in cited_clauses(note, exception.requirement.citations)
    assert "USD 118,970 above the computed limit" in exception.requirement.text
    assert "Working-capital facility requested" in note.authority.reason, "the exception takes it one level up"

    chinese = draft_note(app, index=sample_index, settings=sample_index.settings, backend="extractive", language="zh")
    check = next(c for c in chinese.checks if c.rule_id == "sme-wc-loan-limit")
    assert cited_clauses(chinese, check.citations) == {("NCB-SME-ZH-007", "第二十二条")}
    assert "不得超过按本条计算的额度" in chinese.citations[check.citations[0] - 1].quote
    md = render_markdown(chinese)
    row = next(r for r in table(md, "四、政策符合性审查") if r[0] == "申请流动资金贷款金额")
    assert row[1:4] == ["美元180.00万元", "≤ 美元168.10万元", "需例外审批"] and "第二十二条" in row[4]
    assert "超过测算额度美元11.90万元，应核减至测算额度" in md


def test_a_working_capital_loan_limit_that_cannot_be_computed_makes_the_note_refer(
        drafted, sample_index: ClauseIndex) -> None:  # type: ignore[no-untyped-def]
    # 5.1: no working-capital loan may be approved until the need is calculated; APP-021 gives no turnover days.
    app, note = note_of(drafted, "APP-021")
    assert app.financials[0].inventory_days is None and FIGURES["Working-capital loan limit"](app)[0] is None
    check = next(c for c in note.checks if c.rule_id == "sme-wc-loan-limit")
    assert check.result == "not_assessable" and "turnover days" in check.reason
    assert note.recommendation == "refer" and not any(c.result == "fail" for c in note.checks)
    reason = next(r for r in note.reasons if "Working-capital facility requested" in r.text)
    assert "cannot be assessed" in reason.text and cited_clauses(note, reason.citations) == {("NCB-SME-003", "5.6")}
    row = next(r for r in table(render_markdown(note, "en"), "4 Policy compliance")
               if r[0] == "Working-capital facility requested")
    assert row[2:4] == ["≤ Working-capital loan limit", "not assessable"]

    chinese = draft_note(app, index=sample_index, settings=sample_index.settings, backend="extractive", language="zh")
    md = render_markdown(chinese)
    assert chinese.recommendation == "refer" and "审查建议：退回补充" in md
    row = next(r for r in table(md, "四、政策符合性审查") if r[0] == "申请流动资金贷款金额")
    assert row[2:4] == ["≤ 流动资金贷款额度", "无法评估"] and "第二十二条" in row[4]
    assert "未提供周转天数或销售利润率" in md


def test_chinese_notes_write_dates_and_amounts_as_chinese_credit_papers_do(drafted) -> None:  # type: ignore[no-untyped-def]
    # 2025年9月30日 and 人民币800.00万元, in the figures' inputs too; the sources quote the clauses verbatim.
    for app_id in ("APP-024", "APP-038"):
        app, note = note_of(drafted, app_id)
        assert note.language == "zh"
        md = render_markdown(note)
        body, sources = md.split("## 八、依据条款与审批")
        prepared = sources.strip().splitlines()[-1]
        for text in (body, prepared):
            assert not re.search(r"\d{4}-\d\d-\d\d", text), f"{app_id}: an ISO date in a Chinese note"
            assert not re.search(r"\b(?:CNY|USD|EUR|GBP|HKD) ?[\d,]+", text), f"{app_id}: an English amount"
            assert not re.search(r"(?<![\d.])\d{1,3}(?:,\d{3})+\.\d\d(?![万元])", text), f"{app_id}: a bare amount"
        inputs = {row[0]: row[3] for row in table(md, "三、财务分析")}
        assert "审查日期 2025年9月30日" in inputs["最早一份抵押物评估的账龄"]
        amount = shown_zh(app.request.amount, "CNY")
        assert f"新增贷款 {amount}" in inputs["新增贷款后集团授信敞口（折合美元）"]
        assert "现有集团授信敞口 美元" in inputs["新增贷款后集团授信敞口（折合美元）"], "group exposure is in USD"
    assert shown_zh(note_of(drafted, "APP-024")[0].request.amount, "CNY") == "人民币800.00万元"
