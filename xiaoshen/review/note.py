"""The draft credit review note: figures from the application, checks tied to clauses, policy passages from
the answer engine, and a recommendation a person then decides on (sections as NCB-RNS-006 requires)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from xiaoshen.answer import answer
from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import ClauseFilter
from xiaoshen.review.application import Application, note_language
from xiaoshen.review.checks import (
    Authority,
    PolicyCheck,
    approval_authority,
    check_documents,
    check_limit,
    check_value,
    run_checks,
    screen_prohibited,
    triggered_requirements,
)
from xiaoshen.review.messages import Arg, Bilingual, Language, Message, Money, Quantity, Term, say, translate
from xiaoshen.review.mitigants import find_mitigants
from xiaoshen.review.ratios import Figure, compute_figures
from xiaoshen.review.rules import (
    ClauseRef,
    ClauseRule,
    ConditionRule,
    Requirement,
    Rulebook,
    RuleStatus,
    current_clauses,
    find_clause,
    load_rulebook,
    referenced_documents,
    verify_rules,
)
from xiaoshen.settings import PROJECT_ROOT, Settings
from xiaoshen.types import Answer, Citation, Clause

DEFAULT_RULES = PROJECT_ROOT / "data" / "policy_rules.yaml"
DISCLAIMER = ("Draft prepared by Xiaoshen for the credit officer. It is not a credit decision: the approval "
              "authority named below decides, after review by Credit Risk.")
Recommendation = Literal["approve", "approve_with_conditions", "decline", "refer"]
RECOMMENDATIONS: dict[str, str] = {"approve": "Approve", "approve_with_conditions": "Approve with conditions",
                                   "decline": "Decline", "refer": "Refer"}
PRODUCT_STANDARD = {"cre_owner_occupied": "NCB-CRE-002", "cre_investment": "NCB-CRE-002",
                    "cre_construction": "NCB-CRE-002", "cre_land": "NCB-CRE-002",
                    "sme_working_capital": "NCB-SME-003", "mortgage": "NCB-RET-004", "consumer_unsecured": "NCB-RET-004"}
# The Chinese procedures: a Chinese note asks them, and cites them, where they cover the product.
PRODUCT_STANDARD_ZH = {"sme_working_capital": "NCB-SME-ZH-007", "mortgage": "NCB-MTG-ZH-008"}
PRODUCT_NAME = {"cre_owner_occupied": "owner-occupied commercial real estate", "cre_investment":
                "income-producing commercial real estate", "cre_construction": "construction",
                "cre_land": "land", "sme_working_capital": "SME working-capital", "mortgage": "residential mortgage",
                "consumer_unsecured": "unsecured consumer"}
INGEST_HINT = "ingest the policies with `xiaoshen ingest PATH` (the samples: `xiaoshen ingest data/sample_policies`)"


def recommendation_label(value: str, lang: str = "en") -> str:
    """'approve_with_conditions' -> 'Approve with conditions' (or 附条件同意): what a reader sees."""
    return translate(RECOMMENDATIONS.get(value, value), lang)


class NoteStatement(BaseModel):
    """A sentence of the note: a policy statement (cited), a computed figure, or the assistant's reasoning.

    `message` is the sentence, language-neutral; `text` is its English rendering (or, for a sentence quoted
    from a retrieved clause, the sentence itself, in the clause's language)."""

    text: str = ""
    kind: Literal["policy", "figure", "reasoning", "data"]
    citations: list[int] = Field(default_factory=list, description="Numbers into the note's citation list.")
    supported: bool = True
    message: Message | None = None
    mandatory: bool = Field(default=False, description="A condition a rule makes mandatory for this application.")

    @model_validator(mode="after")
    def _english(self) -> NoteStatement:
        if self.message is not None and not self.text:
            self.text = say(self.message, "en")
        return self

    def render(self, lang: str) -> str:
        return say(self.message, lang) if self.message is not None else self.text


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
    product: str = Field(description="The product's name (an English msgid, translated when rendered).")
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
    drifted_rules: list[str] = Field(default_factory=list, description="Rules whose clause changed, by title.")
    disclaimer: str = DISCLAIMER
    backend: str
    settings_hash: str
    index_build: str
    drafted_at: str
    language: Language = Field(default="en", description="The language it was drafted for (its citations' language).")
    prepared_by: str = Field(default="", description="The credit officer's display name.")
    as_of: date | None = Field(default=None, description="The decision date of the application.")
    request_message: Message | None = None


def draft_note(app: Application, *, index: ClauseIndex, settings: Settings, rules_path: Path = DEFAULT_RULES,
               backend: str | None = None, roles: list[str] | None = None, language: Language | None = None,
               prepared_by: str = "") -> ReviewNote:
    """Compute, check, retrieve and compose the draft note for one application; `roles` limits the clauses
    it may cite to those the reader may see (None: unrestricted); `language` overrides the application's.
    Refuses (XiaoshenError) when the index lacks the policies the checks rest on."""
    lang: Language = language or note_language(app)
    zh = lang == "zh"
    reader = ClauseFilter().for_roles(roles)
    rulebook = load_rulebook(rules_path)
    if rulebook.authority is None:
        raise XiaoshenError(f"{rules_path} has no authority matrix", "add the 'authority' section")
    clauses = current_clauses(index, referenced_documents(rulebook))
    _require_policies(rulebook, app.request.product, clauses)
    fx = settings.review.fx_to_usd
    figures = compute_figures(app, fx, haircuts=rulebook.haircut_pct())
    statuses = verify_rules(rulebook.all_rules(), index, clauses)
    checks = run_checks(app, figures, statuses)
    prohibited = screen_prohibited(app, statuses)
    checks += [prohibited] if prohibited else []
    checks += check_documents(app, statuses)
    exposure = next((f.value for f in figures if f.key == "exposure_after"), None)
    authority = approval_authority(app, exposure, checks, rulebook.authority)
    product = app.request.product

    citations: list[Citation] = []

    def cite(citation: Citation) -> int:
        for existing in citations:
            if existing.clause_id == citation.clause_id:
                return existing.n
        citations.append(citation.model_copy(update={"n": len(citations) + 1}))
        return len(citations)

    def cite_ref(ref: ClauseRef | None, zh_ref: ClauseRef | None = None) -> list[int]:
        """Cite the clause; a Chinese note cites the Chinese policy's clause instead, where there is one."""
        for candidate in ([zh_ref] if zh and zh_ref else []) + [ref]:
            clause = find_clause(clauses, candidate) if candidate else None
            if clause is not None and reader.allows(clause):
                return [cite(Citation.for_clause(0, clause, clause.text[:300]))]
        return []

    # Every check rests on its clause: cite it, so Sources quotes it and the audit entry records it.
    for check in checks:
        check.citations = cite_ref(check.clause, check.zh_clause)

    reasons = []
    for check in checks:
        if check.result == "pass":
            continue
        verdict = {"fail": Message(key="breaches the limit"),
                   "exception_needed": Message(key="is outside the limit and needs an exception approved by the "
                                                   "{approver}", args={"approver": Term(term=check.approver or "")}),
                   "not_assessable": Message(key="cannot be assessed")}[check.result]
        reason = Message(key=" ({reason})", args={"reason": check.reason_message}) if check.reason_message else ""
        reasons.append(NoteStatement(kind="policy", citations=list(check.citations), message=Message(
            key="{label} {value} {verdict}: limit {limit}{reason}.", args={
                "label": Term(term=check.label), "value": check_value(check), "verdict": verdict,
                "limit": check_limit(check), "reason": reason})))
    authority_zh = rulebook.authority.zh_by_product.get(product)
    if not authority.decides:
        reasons.append(NoteStatement(kind="policy", citations=cite_ref(authority.clause, authority_zh), message=Message(
            key="No authority may approve new money: {reason}.", args={"reason": _authority_reason(authority)})))

    exceptions = _exceptions(app, checks, rulebook, fx, cite_ref, authority)
    for item in exceptions:
        if not item.mitigants:
            mitigant = rulebook.exceptions.mitigant if rulebook.exceptions else None
            reasons.append(NoteStatement(kind="policy", citations=cite_ref(mitigant), message=Message(
                key="No mitigant for the {label} exception is found in the application: an exception without a "
                    "documented mitigant may not be approved.", args={"label": Term(term=item.label)})))
    required = [NoteStatement(kind="policy", mandatory=True,
                              citations=cite_ref(status.rule.clause, status.rule.zh_clause if status.zh_verified else None),
                              message=Message(key="{label} {value} exceeds {threshold}: {condition}.", args={
                                  "label": Term(term=figure.label), "value": Quantity(value=figure.value, unit=figure.unit),
                                  "threshold": Quantity(value=status.rule.above, unit=figure.unit),
                                  "condition": Term(term=status.rule.condition)}))
                for status, figure in triggered_requirements(app, figures, statuses)
                if isinstance(status.rule, Requirement)]
    conditions = required + _standard_conditions(app, statuses, cite_ref)

    standard = (PRODUCT_STANDARD_ZH.get(product) if zh else None) or PRODUCT_STANDARD[product]
    asked_in_zh = zh and product in PRODUCT_STANDARD_ZH
    question = (f"{translate(PRODUCT_NAME[product], 'zh')}贷款的放款前提条件和财务约束条款有哪些？" if asked_in_zh else
                f"What conditions precedent to drawdown and what covenants apply to {PRODUCT_NAME[product]} loans?")
    answered_backend = backend or settings.answer.backend
    if not zh or asked_in_zh:  # a Chinese note quotes no English passage where the Chinese procedure is silent
        covenants = _conditions_answer(question, standard, index=index, settings=settings, backend=backend,
                                       roles=roles)
        answered_backend = covenants.backend
        if not covenants.abstained:
            numbering = {c.n: cite(c) for c in covenants.citations}
            conditions += [NoteStatement(text=s.text, kind="reasoning" if s.reasoning else "policy",
                                         citations=[numbering[n] for n in s.citations if n in numbering],
                                         supported=s.supported) for s in covenants.sentences
                           if not _for_other_occupancy(s.text, _occupancy(app))]
    risks = [NoteStatement(kind="reasoning", message=Message(
        key="{label} is {value} against {limit}; headroom is thin or negative.",
        args={"label": Term(term=c.label), "value": check_value(c), "limit": check_limit(c)}))
        for c in checks if c.result in {"fail", "exception_needed"}]

    recommendation = _recommend(checks, authority, unmitigated=any(not e.mitigants for e in exceptions),
                                mandatory=bool(required))
    req = app.request
    request_message = Message(key="{amount} over {tenor} months at {rate}% ({repayment}) for {purpose}", args={
        "amount": Money(amount=req.amount, currency=req.currency, places=2), "tenor": str(req.tenor_months),
        "rate": str(req.rate_pct), "repayment": Term(term=req.repayment), "purpose": req.purpose})
    return ReviewNote(
        application_id=app.id, borrower=app.borrower.name, masked_id=app.borrower.masked_id,
        product=PRODUCT_NAME[product], request=say(request_message, "en"), request_message=request_message,
        recommendation=recommendation, reasons=reasons, figures=figures, checks=checks, authority=authority,
        conditions=conditions, risks=risks, citations=citations, exceptions=exceptions,
        drifted_rules=[_rule_title(s.rule, figures) for s in statuses if s.status == "drifted"],
        backend=answered_backend, settings_hash=settings.fingerprint(), index_build=index.build_id,
        drafted_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), language=lang, prepared_by=prepared_by,
        as_of=app.as_of,
    )


def _require_policies(rulebook: Rulebook, product: str, clauses: dict[tuple[str, str], list[Clause]]) -> None:
    """Refuse to draft on policies that are not in the index: a note with every rule drifted and no sources
    would read as a real note."""
    if not clauses:
        raise XiaoshenError("Cannot draft a review note: the index holds no current policy clauses", INGEST_HINT)
    present = {doc_id for doc_id, _ in clauses}
    missing = sorted(rulebook.documents_needed(product) - present)
    if missing:
        raise XiaoshenError(f"Cannot draft a review note: the index lacks {', '.join(missing)}, which the policy "
                            f"checks for {PRODUCT_NAME.get(product, product)} loans rest on", INGEST_HINT)


def _authority_reason(authority: Authority) -> Arg:
    return authority.reason_message or authority.reason


def _rule_title(rule: ClauseRule, figures: list[Figure]) -> str:
    """A rule as a reader knows it: what it limits and its clause, never its id in the rules file."""
    labels = {f.key: f.label for f in figures}
    what = labels.get(getattr(rule, "metric", ""), "") or rule.text
    return f"{what} ({rule.clause.doc_id} §{rule.clause.section})"


def _standard_conditions(app: Application, statuses: list[RuleStatus],
                         cite_ref: Callable[[ClauseRef | None, ClauseRef | None], list[int]]) -> list[NoteStatement]:
    """The conditions precedent and covenants the product's standard lists, each item cited to its clause."""
    found = []
    for status in statuses:
        rule = status.rule
        if not (isinstance(rule, ConditionRule) and rule.applies_to(app)):
            continue
        marks = cite_ref(rule.clause, rule.zh_clause if status.zh_verified else None)
        kind = "Condition precedent to first drawdown" if rule.kind == "precedent" else "Financial covenant"
        for item in rule.items_for(app):
            found.append(NoteStatement(kind="policy", citations=list(marks), message=Message(
                key="{kind}: {item}.", args={"kind": Term(term=kind), "item": Bilingual(en=item.en, zh=item.zh)})))
    return found


_CONDITIONS: dict[tuple[str, ...], Answer] = {}
_CONDITIONS_LOCK = threading.Lock()


# How the mortgage standards name each use of the home. A retrieved condition scoped to another use ("借款人申请
# 出租型住房贷款的，……还应提交" in a first-home note) is not a condition of this loan.
OCCUPANCY_WORDS = {"first_home": ("first home", "owner-occupied", "首套", "自住"),
                   "second_home": ("second home", "二套"), "buy_to_let": ("buy-to-let", "let to tenants", "出租型")}


def _occupancy(app: Application) -> str | None:
    return app.request.occupancy if app.request.product == "mortgage" else None


def _for_other_occupancy(text: str, occupancy: str | None) -> bool:
    """Whether a condition sentence names only other uses of the home than the application's."""
    if occupancy is None:
        return False
    lowered = text.lower()
    named = {use for use, words in OCCUPANCY_WORDS.items() if any(w in lowered for w in words)}
    return bool(named) and occupancy not in named


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
                cite_ref: Callable[..., list[int]], authority: Authority) -> list[ExceptionNote]:
    """Section 5: each exception with the clause it departs from, its route, and the mitigants found."""
    found = []
    for check in (c for c in checks if c.result == "exception_needed"):
        product = app.request.product
        product_clause = rulebook.exceptions.by_product.get(product) if rulebook.exceptions else None
        product_zh = rulebook.exceptions.zh_by_product.get(product) if rulebook.exceptions else None
        mitigant_clause = rulebook.exceptions.mitigant if rulebook.exceptions else None
        marks = [*check.citations, *cite_ref(check.exception_clause), *cite_ref(mitigant_clause),
                 *cite_ref(product_clause, product_zh)]
        # The authority named for the note already includes the one-level-up step for exceptions.
        level: Arg = Message(key=" (for this request: {approver})", args={"approver": Term(term=authority.approver)}) \
            if check.approver != authority.approver else ""
        requirement = NoteStatement(kind="policy", citations=list(dict.fromkeys(marks)), message=Message(
            key="{label} {value} departs from the limit {limit} ({clause}); {reason}. It may be approved only by the "
                "{approver}{level}, and only with at least one documented mitigant.",
            args={"label": Term(term=check.label), "value": check_value(check), "limit": check_limit(check),
                  "clause": check.clause_label, "reason": check.reason_message or check.reason,
                  "approver": Term(term=check.approver or ""), "level": level}))
        mitigants = [NoteStatement(text=m.text, message=m.message, kind="figure", citations=cite_ref(m.clause))
                     for m in find_mitigants(app, check, checks, rulebook, fx)]
        found.append(ExceptionNote(rule_id=check.rule_id, label=check.label, value=check.value, limit=check.limit,
                                   approver=check.approver, requirement=requirement, mitigants=mitigants))
    return found


def _recommend(checks: list[PolicyCheck], authority: Authority, unmitigated: bool = False,
               mandatory: bool = False) -> Recommendation:
    """One vocabulary (NCB-RNS-006 7.1, plus "refer"): decline on a breach; refer when an input is missing or a
    check cannot be computed or trusted; approve with conditions for any exception or mandatory condition."""
    # An exception with no mitigant may not be approved (NCB-CPM-001 11.2), so the draft cannot propose approval.
    if not authority.decides or unmitigated or any(c.result == "fail" for c in checks):
        return "decline"
    if authority.kind == "not_determinable" or any(
            c.result == "not_assessable" or c.rule_status == "drifted" for c in checks):
        return "refer"
    if mandatory or any(c.result == "exception_needed" for c in checks):
        return "approve_with_conditions"
    return "approve"
