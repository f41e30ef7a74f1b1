"""Policy checks tie each figure to the limit and clause that govern it; the approval authority follows
the authority matrix."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import load_application
from xiaoshen.review.checks import approval_authority, run_checks
from xiaoshen.review.ratios import compute_figures
from xiaoshen.review.rules import load_rulebook, verify_rules

RULES = ROOT / "data" / "policy_rules.yaml"
AUTHORITY = load_rulebook(RULES).authority
APPS = ROOT / "data" / "sample_applications"


@pytest.fixture(scope="module")
def statuses(sample_index: ClauseIndex):  # type: ignore[no-untyped-def]
    return verify_rules(load_rulebook(RULES).all_rules(), sample_index)


def review(name: str, statuses):  # type: ignore[no-untyped-def]
    app = load_application(next(APPS.glob(f"{name}*")))
    figures = compute_figures(app, sample_fx())
    checks = run_checks(app, figures, statuses)
    exposure = next(f.value for f in figures if f.key == "exposure_after")
    return app, {c.rule_id: c for c in checks}, approval_authority(app, exposure, checks, AUTHORITY)


def sample_fx():  # type: ignore[no-untyped-def]
    from xiaoshen.settings import load_settings

    return load_settings().review.fx_to_usd


def test_a_clean_owner_occupied_cre_loan_passes_every_check(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-001", statuses)
    assert {c.result for c in checks.values()} == {"pass"}
    assert checks["cre-oo-ltv"].clause_label.startswith("NCB-CRE-002 v3.0 §4.2")


def test_ltv_78_needs_an_exception_approved_at_least_by_the_chief_credit_officer(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, authority = review("APP-002", statuses)
    ltv = checks["cre-oo-ltv"]
    assert (ltv.result, ltv.approver, ltv.limit) == ("exception_needed", "Chief Credit Officer", "≤ 75.0%")
    assert ltv.value == "78.0%"
    assert authority.approver in {"Chief Credit Officer", "Credit Committee", "Board Credit Committee"}


def test_ltv_85_fails_beyond_the_exception_ceiling(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-003", statuses)
    assert checks["cre-oo-ltv"].result == "fail"


def test_missing_statements_are_not_assessable_not_passed(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-020", statuses)
    for rule in ("sme-dscr", "sme-leverage", "sme-interest-cover", "sme-current-ratio"):
        assert checks[rule].result == "not_assessable" and checks[rule].reason


def test_stale_valuation_fails_the_12_month_rule(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-004", statuses)
    assert checks["valuation-age"].result == "fail"


def test_grade_8_has_no_approval_authority_for_new_money(statuses) -> None:  # type: ignore[no-untyped-def]
    _, _, authority = review("APP-018", statuses)
    assert authority.approver.startswith("none")


def test_authority_follows_the_matrix_at_its_boundaries(statuses) -> None:  # type: ignore[no-untyped-def]
    assert review("APP-009", statuses)[2].approver == "Credit Committee"
    assert review("APP-010", statuses)[2].approver == "Board Credit Committee"


def test_a_drifted_rule_says_so_on_its_check(statuses) -> None:  # type: ignore[no-untyped-def]
    drifted = [s.model_copy(update={"status": "drifted", "reason": "clause changed"}) if s.rule.id == "mtg-dti"
               else s for s in statuses]
    _, checks, _ = review("APP-031", drifted)
    assert checks["mtg-dti"].rule_status == "drifted" and "rule drifted" in checks["mtg-dti"].reason


def test_mortgage_score_640_is_an_exception_for_the_retail_credit_manager_570_is_a_decline(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-032", statuses)
    assert (checks["mtg-score"].result, checks["mtg-score"].approver) == ("exception_needed", "Retail Credit Manager")
    _, checks, _ = review("APP-033", statuses)
    assert checks["mtg-score"].result == "fail"


def test_age_at_maturity_above_70_fails_the_retail_limit(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-037", statuses)
    age = checks["mtg-age-at-maturity"]
    assert (age.result, age.value, age.limit) == ("fail", "77 years", "≤ 70 years")
    assert age.clause_label.startswith("NCB-RET-004 v4.0 §3.4.2")
    assert (age.shown_value("zh"), age.shown_limit("zh")) == ("77岁", "≤ 70岁")  # an age in 岁, not 年


def test_loan_terms_are_checked_against_the_product_standards(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-001", statuses)
    assert {rule: checks[rule].result for rule in ("cre-tenor", "cre-amortisation", "cre-balloon")} == {
        "cre-tenor": "pass", "cre-amortisation": "pass", "cre-balloon": "pass"}
    _, checks, _ = review("APP-042", statuses)
    assert checks["consumer-amount"].result == "fail" and checks["consumer-tenor"].result == "pass"
    _, checks, _ = review("APP-023", statuses)
    assert checks["sme-revolving-availability"].result == "pass" and "sme-tenor" not in checks


def test_sme_eligibility_revenue_in_its_own_currency_and_years_trading(statuses) -> None:  # type: ignore[no-untyped-def]
    assert review("APP-025", statuses)[1]["sme-revenue"].result == "fail"
    _, checks, _ = review("APP-024", statuses)
    assert checks["sme-revenue-cny"].result == "pass" and "sme-revenue" not in checks, "RMB threshold for RMB"
    assert review("APP-029", statuses)[1]["sme-trading-years"].result == "fail"


def test_prohibited_lending_is_screened_from_the_purpose_and_is_never_an_exception(statuses) -> None:  # type: ignore[no-untyped-def]
    from xiaoshen.review.checks import screen_prohibited

    crypto = screen_prohibited(load_application(next(APPS.glob("APP-019*"))), statuses)
    assert crypto is not None and crypto.result == "fail" and crypto.approver is None
    assert crypto.clause_label.startswith("NCB-CPM-001 v5.0 §6.1")
    land = screen_prohibited(load_application(next(APPS.glob("APP-015*"))), statuses)
    assert land is not None and land.result == "fail" and "land banking" in land.reason
    clean = screen_prohibited(load_application(next(APPS.glob("APP-014*"))), statuses)
    assert clean is not None and clean.result == "pass"


def test_second_home_ltv_above_70_is_an_exception_for_the_chief_credit_officer(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, authority = review("APP-036", statuses)
    ltv = checks["mtg-ltv-second-home"]
    assert (ltv.result, ltv.approver, ltv.limit) == ("exception_needed", "Chief Credit Officer", "≤ 70.0%")
    assert checks["mtg-ltv"].result == "pass" and "mtg-ltv-buy-to-let" not in checks
    assert authority.approver in {"Chief Credit Officer", "Credit Committee", "Board Credit Committee"}


def test_an_sme_covenant_miss_at_origination_is_an_exception_not_a_decline(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-017", statuses)
    assert checks["sme-leverage"].result == "exception_needed"
    assert checks["sme-leverage"].exception_clause is not None
    assert checks["sme-leverage"].exception_clause.section == "7.3"


def test_entrusted_payment_is_required_above_the_threshold_in_the_payment_currency(statuses) -> None:  # type: ignore[no-untyped-def]
    from xiaoshen.review.checks import triggered_requirements

    def required(name: str) -> set[str]:
        app = load_application(next(APPS.glob(f"{name}*")))
        return {s.rule.id for s, _ in triggered_requirements(app, compute_figures(app, sample_fx()), statuses)}

    assert "sme-entrusted-payment" in required("APP-023")  # USD 720,000 > USD 500,000
    assert "sme-entrusted-payment-cny" in required("APP-024")  # RMB 3,600,000 > RMB 3,000,000
    assert not required("APP-016") & {"sme-entrusted-payment", "sme-entrusted-payment-cny"}  # USD 420,000


def test_a_hotel_needs_dscr_of_1_50_and_every_income_loan_passes_the_rate_stress(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-008", statuses)
    assert (checks["cre-hotel-dscr"].result, checks["cre-inv-dscr"].result) == ("fail", "pass")
    assert checks["cre-stress-dscr"].clause_label.startswith("NCB-CRE-002 v3.0 §5.9")
    _, checks, _ = review("APP-006", statuses)
    assert checks["cre-stress-dscr"].result == "fail" and "cre-hotel-dscr" not in checks


def test_self_employed_income_without_two_years_of_tax_returns_is_not_verified(statuses) -> None:  # type: ignore[no-untyped-def]
    from xiaoshen.review.checks import check_documents

    def documents(name: str):  # type: ignore[no-untyped-def]
        return {c.rule_id: c for c in check_documents(load_application(next(APPS.glob(f"{name}*"))), statuses)}

    missing = documents("APP-039")["income-documents-self-employed"]
    assert missing.result == "not_assessable" and "tax_returns_2y" in missing.reason
    assert documents("APP-031")["income-documents-salaried"].result == "pass"


def test_the_request_is_checked_against_the_working_capital_loan_limit(statuses) -> None:  # type: ignore[no-untyped-def]
    # NCB-SME-003 5.6: the facility may not exceed the loan limit; the excess is an exception under chapter 13 (5.7(d)).
    _, checks, authority = review("APP-028", statuses)
    limit = checks["sme-wc-loan-limit"]
    assert (limit.result, limit.value, limit.limit) == ("exception_needed", "USD 1,800,000", "≤ USD 1,681,030")
    assert limit.approver == "approval authority one level up" and limit.exception_clause is not None
    assert (limit.exception_clause.doc_id, limit.exception_clause.section) == ("NCB-SME-003", "13.2")
    assert limit.clause_label.startswith("NCB-SME-003 v2.1 §5.6")
    assert limit.zh_clause is not None and limit.zh_clause.section == "第二十二条", "verified in the Chinese procedure"
    assert "Working-capital facility requested" in authority.reason
    _, checks, _ = review("APP-016", statuses)
    assert checks["sme-wc-loan-limit"].result == "pass"


def test_a_loan_limit_that_cannot_be_computed_is_not_assessable(statuses) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = review("APP-021", statuses)  # no turnover days
    limit = checks["sme-wc-loan-limit"]
    assert (limit.result, limit.limit, limit.limit_value) == ("not_assessable", "≤ Working-capital loan limit", None)
    assert limit.reason == "turnover days or sales margin not given"


def test_a_loan_limit_of_zero_or_less_bars_the_loan_with_no_exception(statuses) -> None:  # type: ignore[no-untyped-def]
    # 5.6: "where the loan limit is zero or negative no working-capital loan may be granted".
    app = load_application(next(APPS.glob("APP-016*")))
    app.financials[0].other_wc_financing = app.financials[0].revenue
    checks = {c.rule_id: c for c in run_checks(app, compute_figures(app, sample_fx()), statuses)}
    limit = checks["sme-wc-loan-limit"]
    assert limit.result == "fail" and limit.approver is None and limit.limit_value is not None and limit.limit_value < 0
    assert "no loan may be granted" in limit.reason


def test_a_rule_gives_its_limit_as_a_value_or_a_figure_not_both(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xiaoshen.errors import XiaoshenError

    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: x, products: [sme_working_capital], metric: wc_request, limit: max, value: 1,\n"
                    "     limit_metric: wc_limit, text: t, clause: {doc_id: D, section: '1'}}\n", encoding="utf-8")
    with pytest.raises(XiaoshenError, match="either as 'value' or as 'limit_metric'"):
        load_rulebook(path)
