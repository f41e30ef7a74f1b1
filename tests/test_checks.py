"""Policy checks tie each figure to the limit and clause that govern it; the approval authority follows
the authority matrix."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import load_application
from xiaoshen.review.checks import approval_authority, run_checks
from xiaoshen.review.ratios import compute_figures
from xiaoshen.review.rules import load_rulebook, load_rules, verify_rules

RULES = ROOT / "data" / "policy_rules.yaml"
AUTHORITY = load_rulebook(RULES).authority
APPS = ROOT / "data" / "sample_applications"


@pytest.fixture(scope="module")
def statuses(sample_index: ClauseIndex):  # type: ignore[no-untyped-def]
    return verify_rules(load_rules(RULES), sample_index)


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
