"""Users, roles and document access: restricted clauses are filtered inside the store query."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from xiaoshen.access import UserDirectory, add_user
from xiaoshen.errors import XiaoshenError
from xiaoshen.retrieve import ClauseFilter, search
from xiaoshen.settings import PROJECT_ROOT

RESTRICTED = "NCB-RSK-009"
# Questions aimed squarely at the risk-only guidance, in the words of its clauses and in a user's own.
PROBES = [
    "What is the amber trigger for commercial real estate share of lending?",
    "red trigger 36 percent commercial real estate approvals Credit Committee",
    "When is a borrower placed on the watchlist?",
    "early warning indicators revenue fall 20 percent auditor resignation",
    "Who approves an internal rating override of more than one notch?",
    "What is the stress-loss appetite over 24 months?",
    "How does a borrower leave the watchlist?",
    "override rate ceiling 10 percent rating model review",
    "risk appetite triggers industry concentration 12 percent",
    "监察名单 预警指标",
]


def test_the_demo_users_sign_in_with_their_documented_passwords() -> None:
    directory = UserDirectory.load(PROJECT_ROOT / "config" / "users.toml")
    officer = directory.authenticate("officer", "demo-officer")
    assert officer is not None and officer.roles == ["officer"] and not officer.is_admin
    admin = directory.authenticate("admin", "demo-admin")
    assert admin is not None and admin.is_admin
    assert directory.authenticate("officer", "demo-risk") is None
    assert directory.authenticate("nobody", "demo-officer") is None


def test_passwords_are_stored_only_as_bcrypt_hashes(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    add_user(path, "li.wei", "Li Wei", ["officer", "risk"], "s3cret-passphrase", email="li.wei@example.com")
    text = path.read_text()
    assert "s3cret-passphrase" not in text and "$2b$" in text
    directory = UserDirectory.load(path)
    assert directory.authenticate("li.wei", "s3cret-passphrase").roles == ["officer", "risk"]  # type: ignore[union-attr]
    assert directory.by_email("LI.WEI@example.com").username == "li.wei"  # type: ignore[union-attr]


def test_a_bad_users_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text('[users.x]\nname = "X"\nroles = ["teller"]\npassword_hash = "plain"\n')
    with pytest.raises(XiaoshenError, match=r"users\.toml has an invalid entry"):
        UserDirectory.load(path)
    with pytest.raises(XiaoshenError, match="not found"):
        UserDirectory.load(tmp_path / "missing.toml")
    with pytest.raises(XiaoshenError, match="Unknown role"):
        add_user(path.with_name("new.toml"), "x", "X", ["teller"], "long-enough-password")


def test_role_filter_goes_into_the_chroma_query() -> None:
    where = ClauseFilter(current_only=True).for_roles(["officer"]).to_metadata_filters()
    assert where is not None
    nested = [f for f in where.filters if not hasattr(f, "key")]
    assert nested and {f.key for f in nested[0].filters} == {"access_public", "role_officer"}  # type: ignore[union-attr]


@pytest.mark.parametrize("clause_filter", [
    ClauseFilter(),
    ClauseFilter(current_only=True),
    ClauseFilter(doc_ids=["NCB-CRE-002"]),
    ClauseFilter(doc_ids=["NCB-CRE-002", "NCB-SME-003"], languages=["en"], sections=["4.2"]),
    ClauseFilter().for_roles([]),
    ClauseFilter().for_roles(["officer"]),
    ClauseFilter(formats=["md"], current_only=True).for_roles(["officer", "risk"]),
])
def test_the_chroma_filter_is_the_one_llamaindex_makes_of_the_same_filter(clause_filter: ClauseFilter) -> None:
    from llama_index.vector_stores.chroma.base import _to_chroma_filter

    filters = clause_filter.to_metadata_filters()
    expected = _to_chroma_filter(filters) if filters is not None else None
    assert clause_filter.to_chroma_where() == expected


def test_an_officer_never_retrieves_a_risk_only_clause(sample_index) -> None:  # type: ignore[no-untyped-def]
    settings = sample_index.settings
    officer = ClauseFilter().for_roles(["officer"])
    risk = ClauseFilter().for_roles(["risk"])
    seen_by_risk = 0
    for probe in PROBES:
        assert all(h.clause.doc_id != RESTRICTED for h in search(probe, index=sample_index, settings=settings,
                                                                  k=50, filters=officer)), probe
        seen_by_risk += any(h.clause.doc_id == RESTRICTED
                            for h in search(probe, index=sample_index, settings=settings, k=3, filters=risk))
    # The probes do reach the restricted document for a reader allowed to see it: the test can fail.
    assert seen_by_risk >= 8


def test_the_restricted_document_is_labelled_in_the_index(sample_index) -> None:  # type: ignore[no-untyped-def]
    docs = {d.doc_id: d for d in sample_index.documents()}
    assert docs[RESTRICTED].access == ["risk"]
    assert all(not d.access for doc_id, d in docs.items() if doc_id != RESTRICTED)


def test_cli_role_option_hides_restricted_clauses(sample_index) -> None:  # type: ignore[no-untyped-def]
    import json
    import os

    env = {**os.environ, "XIAOSHEN_CACHE_DIR": str(sample_index.settings.keyword_cache_dir)}
    runner = CliRunner(env=env)
    args = ["search", PROBES[0], "--index", str(sample_index.settings.index_dir), "--json", "-k", "20"]
    as_officer = json.loads(runner.invoke(app_cli(), [*args, "--role", "officer"]).output)
    as_risk = json.loads(runner.invoke(app_cli(), [*args, "--role", "risk"]).output)
    assert RESTRICTED not in {h["doc_id"] for h in as_officer["hits"]}
    assert as_risk["hits"][0]["doc_id"] == RESTRICTED
    bad = runner.invoke(app_cli(), [*args, "--role", "teller"])
    assert bad.exit_code == 1 and "Unknown role" in bad.output


def app_cli():  # type: ignore[no-untyped-def]
    from xiaoshen.cli import app

    return app


def test_a_review_note_never_cites_a_clause_its_reader_may_not_see(sample_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from xiaoshen.review.application import load_application
    from xiaoshen.review.note import draft_note

    # A rules file whose LTV limit rests on a clause of the risk-only document.
    rules = (PROJECT_ROOT / "data" / "policy_rules.yaml").read_text(encoding="utf-8")
    original = '''value: 75, text: "75%",
     clause: {doc_id: NCB-CRE-002, section: "4.2"},'''
    assert original in rules
    restricted_rules = tmp_path / "rules.yaml"
    restricted_rules.write_text(rules.replace(original, '''value: 75, text: "32 percent",
     clause: {doc_id: NCB-RSK-009, section: "2.1"},'''), encoding="utf-8")
    app = load_application(PROJECT_ROOT / "data" / "sample_applications" /
                           "APP-002_cre-owner-occupied-ltv-78-exception.json")
    settings = sample_index.settings

    as_risk = draft_note(app, index=sample_index, settings=settings, rules_path=restricted_rules, roles=["risk"])
    as_officer = draft_note(app, index=sample_index, settings=settings, rules_path=restricted_rules,
                            roles=["officer"])
    assert RESTRICTED in {c.doc_id for c in as_risk.citations}, "the rule's clause is cited for a risk reader"
    assert RESTRICTED not in {c.doc_id for c in as_officer.citations}
    assert as_officer.recommendation == as_risk.recommendation, "the figures and checks do not depend on the reader"
