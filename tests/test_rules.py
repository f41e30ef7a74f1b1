"""Rules-as-code are verified against their clauses; editing a policy threshold makes its rule drift."""

from __future__ import annotations

import shutil
from pathlib import Path

from ingest.pipeline import ingest
from tests.conftest import ROOT, SAMPLE_POLICIES, make_settings
from xiaoshen.index import ClauseIndex
from xiaoshen.review.rules import (
    ConditionRule,
    DocumentRule,
    Haircut,
    PolicyRule,
    Prohibition,
    Requirement,
    load_rulebook,
    load_rules,
    verify_rules,
)

RULES = ROOT / "data" / "policy_rules.yaml"


def test_every_rule_is_verified_against_the_sample_policies(sample_index: ClauseIndex) -> None:
    statuses = verify_rules(load_rules(RULES), sample_index)
    assert len(statuses) >= 15
    assert [s.rule.id for s in statuses if s.status != "verified"] == []
    assert all(s.clause is not None and s.clause.status == "current" for s in statuses)


def test_prohibitions_requirements_and_haircuts_are_verified_like_limits(sample_index: ClauseIndex) -> None:
    rulebook = load_rulebook(RULES)
    statuses = verify_rules(rulebook.all_rules(), sample_index)
    assert [s.rule.id for s in statuses if s.status != "verified"] == []
    kinds = {type(s.rule) for s in statuses}
    assert kinds == {PolicyRule, Prohibition, Requirement, DocumentRule, Haircut, ConditionRule}
    assert rulebook.haircut_pct()["cash_other_currency"] == 10


def test_editing_a_threshold_and_reingesting_makes_the_rule_drift(tmp_path: Path, embedding) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "policies"
    shutil.copytree(SAMPLE_POLICIES, folder)
    retail = next(folder.glob("NCB-RET-004*.md"))
    index = ClauseIndex(make_settings(tmp_path / "index"), embedding=embedding)
    ingest([folder], index=index)
    assert {s.rule.id: s.status for s in verify_rules(load_rules(RULES), index)}["mtg-dti"] == "verified"

    text = retail.read_text(encoding="utf-8")
    clause = next(line for line in text.splitlines() if line.startswith("3.3.1 "))
    retail.write_text(text.replace(clause, clause.replace("45%", "43%")), encoding="utf-8")
    report = ingest([folder], index=index)
    assert report.count("updated") == 1 and report.embedded_clauses < 150, "only the edited file is re-embedded"

    statuses = {s.rule.id: s for s in verify_rules(load_rules(RULES), index)}
    assert statuses["mtg-dti"].status == "drifted"
    assert "no longer states '45%'" in statuses["mtg-dti"].reason
    assert statuses["mtg-ltv"].status == "verified", "rules on unchanged clauses are unaffected"
