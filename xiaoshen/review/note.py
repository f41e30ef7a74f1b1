"""The draft credit review note: figures from the application, checks tied to clauses, policy passages from
the answer engine, and a recommendation a person then decides on (sections as NCB-RNS-006 requires)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from xiaoshen.answer import answer
from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import ClauseFilter
from xiaoshen.review.application import Application
from xiaoshen.review.checks import (
    Authority,
    PolicyCheck,
    approval_authority,
    check_documents,
    run_checks,
    screen_prohibited,
    triggered_requirements,
)
from xiaoshen.review.mitigants import find_mitigants
from xiaoshen.review.ratios import Figure, compute_figures
from xiaoshen.review.rules import (
    ClauseRef,
    Requirement,
    Rulebook,
    current_clauses,
    find_clause,
    load_rulebook,
    verify_rules,
)
from xiaoshen.settings import PROJECT_ROOT, Settings
from xiaoshen.types import Answer, Citation

DEFAULT_RULES = PROJECT_ROOT / "data" / "policy_rules.yaml"
DISCLAIMER = ("Draft prepared by Xiaoshen for the credit officer. It is not a credit decision: the approval "
              "authority named below decides, after review by Credit Risk.")
Recommendation = Literal["approve", "approve_with_conditions", "decline"]
PRODUCT_STANDARD = {"cre_owner_occupied": "NCB-CRE-002", "cre_investment": "NCB-CRE-002",
                    "cre_construction": "NCB-CRE-002", "cre_land": "NCB-CRE-002",
                    "sme_working_capital": "NCB-SME-003", "mortgage": "NCB-RET-004", "consumer_unsecured": "NCB-RET-004"}
PRODUCT_NAME = {"cre_owner_occupied": "owner-occupied commercial real estate", "cre_investment":
                "income-producing commercial real estate", "cre_construction": "construction",
                "cre_land": "land", "sme_working_capital": "SME working-capital", "mortgage": "residential mortgage",
                "consumer_unsecured": "unsecured consumer"}


class NoteStatement(BaseModel):
    """A sentence of the note: a policy statement (cited), a computed figure, or the assistant's reasoning."""

    text: str
    kind: Literal["policy", "figure", "reasoning", "data"]
    citations: list[int] = Field(default_factory=list, description="Numbers into the note's citation list.")
    supported: bool = True


class ExceptionNote(BaseModel):
    """A policy exception as section 5 presents it: the requirement and its route, cited, and the mitigants."""

    rule_id: str
    label: str
    value: str
    limit: str
    approver: str | None
    requirement: NoteStatement
    mitigants: list[NoteStatement] = Field(default_factory=list, description="Computed facts, each cited.")


class ReviewNote(BaseModel):
    application_id: str
    borrower: str
    masked_id: str
    product: str
    request: str
    recommendation: Recommendation
    reasons: list[NoteStatement]
    figures: list[Figure]
    checks: list[PolicyCheck]
    authority: Authority
    conditions: list[NoteStatement]
    risks: list[NoteStatement]
    citations: list[Citation]
    exceptions: list[ExceptionNote] = Field(default_factory=list)
    drifted_rules: list[str] = Field(default_factory=list)
    disclaimer: str = DISCLAIMER
    backend: str
    settings_hash: str
    index_build: str
    drafted_at: str


def draft_note(app: Application, *, index: ClauseIndex, settings: Settings, rules_path: Path = DEFAULT_RULES,
               backend: str | None = None, roles: list[str] | None = None) -> ReviewNote:
    """Compute, check, retrieve and compose the draft note for one application; `roles` limits the clauses
    it may cite to those the reader may see (None: unrestricted)."""
    reader = ClauseFilter().for_roles(roles)
    rulebook = load_rulebook(rules_path)
    if rulebook.authority is None:
        raise XiaoshenError(f"{rules_path} has no authority matrix", "add the 'authority' section")
    fx = settings.review.fx_to_usd
    figures = compute_figures(app, fx, haircuts=rulebook.haircut_pct())
    statuses = verify_rules(rulebook.all_rules(), index)
    checks = run_checks(app, figures, statuses)
    prohibited = screen_prohibited(app, statuses)
    checks += [prohibited] if prohibited else []
    checks += check_documents(app, statuses)
    exposure = next((f.value for f in figures if f.key == "exposure_after"), None)
    authority = approval_authority(app, exposure, checks, rulebook.authority)
    clauses = current_clauses(index)

    citations: list[Citation] = []

    def cite(citation: Citation) -> int:
        for existing in citations:
            if existing.clause_id == citation.clause_id:
                return existing.n
        citations.append(citation.model_copy(update={"n": len(citations) + 1}))
        return len(citations)

    def cite_ref(ref: ClauseRef | None) -> list[int]:
        clause = find_clause(clauses, ref) if ref else None
        if clause is None or not reader.allows(clause):
            return []
        return [cite(Citation.for_clause(0, clause, clause.text[:300]))]

    reasons = []
    for check in checks:
        if check.result == "pass":
            continue
        marks = cite_ref(check.clause)
        verdict = {"fail": "breaches the limit", "exception_needed":
                   f"is outside the limit and needs an exception approved by the {check.approver}",
                   "not_assessable": "cannot be assessed"}[check.result]
        reason = f" ({check.reason})" if check.reason else ""
        reasons.append(NoteStatement(text=f"{check.label} {check.value} {verdict}: limit {check.limit}{reason}.",
                                     kind="policy", citations=marks))
    if authority.approver.startswith("none"):
        reasons.append(NoteStatement(text=f"No authority may approve new money: {authority.reason}.", kind="policy",
                                     citations=cite_ref(authority.clause)))

    exceptions = _exceptions(app, checks, rulebook, fx, cite_ref, authority)
    for item in exceptions:
        if not item.mitigants:
            reasons.append(NoteStatement(text=f"No mitigant for the {item.label} exception is found in the application: "
                                         "an exception without a documented mitigant may not be approved.",
                                         kind="policy", citations=cite_ref(rulebook.exceptions.mitigant
                                                                           if rulebook.exceptions else None)))
    required = [NoteStatement(text=f"{figure.label} {figure.display()} exceeds "
                              f"{figure.model_copy(update={'value': status.rule.above}).display()}: "
                              f"{status.rule.condition}.", kind="policy", citations=cite_ref(status.rule.clause))
                for status, figure in triggered_requirements(app, figures, statuses)
                if isinstance(status.rule, Requirement)]

    standard = PRODUCT_STANDARD[app.request.product]
    question = (f"What conditions precedent to drawdown and what covenants apply to "
                f"{PRODUCT_NAME[app.request.product]} loans?")
    covenants = _conditions_answer(question, standard, index=index, settings=settings, backend=backend,
                                   roles=roles)
    conditions = required
    if not covenants.abstained:
        numbering = {c.n: cite(c) for c in covenants.citations}
        conditions += [NoteStatement(text=s.text, kind="reasoning" if s.reasoning else "policy",
                                    citations=[numbering[n] for n in s.citations if n in numbering],
                                    supported=s.supported) for s in covenants.sentences]
    risks = [NoteStatement(text=f"{c.label} is {c.value} against {c.limit}; headroom is thin or negative.",
                           kind="reasoning") for c in checks if c.result in {"fail", "exception_needed"}]

    recommendation = _recommend(checks, authority, unmitigated=any(not e.mitigants for e in exceptions))
    req = app.request
    return ReviewNote(
        application_id=app.id, borrower=app.borrower.name, masked_id=app.borrower.masked_id,
        product=PRODUCT_NAME[req.product],
        request=f"{req.currency} {req.amount:,.2f} over {req.tenor_months} months at {req.rate_pct}% ({req.repayment}) "
                f"for {req.purpose}",
        recommendation=recommendation, reasons=reasons, figures=figures, checks=checks, authority=authority,
        conditions=conditions, risks=risks, citations=citations, exceptions=exceptions,
        drifted_rules=[s.rule.id for s in statuses if s.status == "drifted"],
        backend=covenants.backend, settings_hash=settings.fingerprint(), index_build=index.build_id,
        drafted_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


_CONDITIONS: dict[tuple[str, ...], Answer] = {}
_CONDITIONS_LOCK = threading.Lock()


def clear_conditions_cache() -> None:
    """Forget the conditions retrieved so far (benchmarks measure a cold batch with it)."""
    with _CONDITIONS_LOCK:
        _CONDITIONS.clear()


def _conditions_answer(question: str, standard: str, *, index: ClauseIndex, settings: Settings,
                       backend: str | None, roles: list[str] | None) -> Answer:
    """The answer engine's conditions for a product standard, asked once per index build, settings and backend:
    every application of a product asks the same question, so a batch need not repeat the retrieval."""
    key = (question, standard, index.build_id, settings.fingerprint(), backend or settings.answer.backend,
           ",".join(sorted(roles)) if roles is not None else "*")
    with _CONDITIONS_LOCK:
        cached = _CONDITIONS.get(key)
    if cached is None:
        cached = answer(question, index=index, settings=settings, backend=backend,
                        filters=ClauseFilter(doc_ids=[standard], current_only=True).for_roles(roles))
        with _CONDITIONS_LOCK:
            if len(_CONDITIONS) > 64:
                _CONDITIONS.clear()
            _CONDITIONS[key] = cached
    return cached


def _exceptions(app: Application, checks: list[PolicyCheck], rulebook: Rulebook, fx: dict[str, Decimal],
                cite_ref: Callable[[ClauseRef | None], list[int]], authority: Authority) -> list[ExceptionNote]:
    """Section 5: each exception with the clause it departs from, its route, and the mitigants found."""
    found = []
    for check in (c for c in checks if c.result == "exception_needed"):
        product_clause = rulebook.exceptions.by_product.get(app.request.product) if rulebook.exceptions else None
        mitigant_clause = rulebook.exceptions.mitigant if rulebook.exceptions else None
        marks = [*cite_ref(check.clause), *cite_ref(check.exception_clause), *cite_ref(mitigant_clause),
                 *cite_ref(product_clause)]
        # The authority named for the note already includes the one-level-up step for exceptions.
        level = f" (for this request: {authority.approver})" if check.approver != authority.approver else ""
        requirement = NoteStatement(kind="policy", citations=list(dict.fromkeys(marks)), text=(
            f"{check.label} {check.value} departs from the limit {check.limit} ({check.clause_label}); {check.reason}. "
            f"It may be approved only by the {check.approver}{level}, and only with at least one documented mitigant."))
        mitigants = [NoteStatement(text=m.text, kind="figure", citations=cite_ref(m.clause))
                     for m in find_mitigants(app, check, checks, rulebook, fx)]
        found.append(ExceptionNote(rule_id=check.rule_id, label=check.label, value=check.value, limit=check.limit,
                                   approver=check.approver, requirement=requirement, mitigants=mitigants))
    return found


def _recommend(checks: list[PolicyCheck], authority: Authority, unmitigated: bool = False) -> Recommendation:
    # An exception with no mitigant may not be approved (NCB-CPM-001 11.2), so the draft cannot propose approval.
    if authority.approver.startswith("none") or unmitigated or any(c.result == "fail" for c in checks):
        return "decline"
    if any(c.result in {"exception_needed", "not_assessable"} or c.rule_status == "drifted" for c in checks):
        return "approve_with_conditions"
    return "approve"
