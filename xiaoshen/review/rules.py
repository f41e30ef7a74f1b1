"""Policy limits as code, each tied to the clause it rests on and verified against that clause.

After every ingest the rules are re-read against the index: a rule is `verified` when the current
version of its document has the clause and the clause still prints the threshold; otherwise it is
`drifted` (the policy changed and the rule did not), and every check that uses it says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, model_validator

from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import Application
from xiaoshen.types import Clause


class ClauseRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc_id: str
    section: str


class ExceptionRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bound: Decimal | None = Field(default=None, description="How far an exception may go: a ceiling for a max "
                                  "limit, a floor for a min; None when the clause sets no bound.")
    approver: str
    clause: ClauseRef


class ClauseRule(BaseModel):
    """Anything the rules file states on a clause's authority: verified by finding `text` in that clause."""

    model_config = ConfigDict(extra="forbid")
    id: str
    text: str = Field(description="The threshold or words as the clause prints them, e.g. '75%'.")
    clause: ClauseRef
    zh_clause: ClauseRef | None = Field(default=None, description="The clause of a Chinese policy that states the "
                                        "same rule; a Chinese note cites it instead of `clause`.")
    zh_text: str | None = Field(default=None, description="The words `zh_clause` prints, to verify it.")


class PolicyRule(ClauseRule):
    """One limit: which products (and terms), which figure, max or min, the value, and the clause that sets it."""

    products: list[str]
    metric: str
    limit: Literal["max", "min"]
    value: Decimal | None = Field(default=None, description="The limit in the figure's unit (or `limit_metric`).")
    limit_metric: str | None = Field(default=None, description="A computed figure that is the limit, for a limit the "
                                     "policy sets by formula (the working-capital loan limit), instead of `value`.")
    zero_limit_bars: bool = Field(default=False, description="A computed limit of zero or less means no loan may be "
                                  "granted at all: a breach, not open to exception.")
    exception: ExceptionRoute | None = None
    repayment: list[str] | None = Field(default=None, description="Only for these repayment types.")
    currencies: list[str] | None = Field(default=None, description="Only for loans in these currencies.")
    occupancy: list[str] | None = Field(default=None, description="Only for mortgages of these occupancy types.")
    industries: list[str] | None = Field(default=None, description="Only for borrowers whose industry names one "
                                         "of these words (e.g. 'hotel').")

    @model_validator(mode="after")
    def _one_limit(self) -> PolicyRule:
        if (self.value is None) == (self.limit_metric is None):
            raise ValueError("give the limit either as 'value' or as 'limit_metric', not both or neither")
        return self

    def applies_to(self, app: Application) -> bool:
        req, industry = app.request, (app.borrower.industry or "").lower()
        return (req.product in self.products and (self.repayment is None or req.repayment in self.repayment)
                and (self.currencies is None or req.currency in self.currencies)
                and (self.occupancy is None or req.occupancy in self.occupancy)
                and (self.industries is None or any(word in industry for word in self.industries)))


class Prohibition(ClauseRule):
    """Prohibited lending: the activity is named when one of `terms` appears in the purpose or industry."""

    terms: list[str] = Field(min_length=1, description="Lower-case words that name the activity (EN or ZH).")


class Requirement(ClauseRule):
    """A condition the policy imposes when a figure exceeds a threshold (e.g. entrusted payment)."""

    products: list[str]
    metric: str
    above: Decimal
    currencies: list[str] | None = None
    condition: str = Field(description="What must then be done, in the clause's words.")

    def applies_to(self, app: Application) -> bool:
        return app.request.product in self.products and (
            self.currencies is None or app.request.currency in self.currencies)


class DocumentRule(ClauseRule):
    """Evidence an application must carry, e.g. the income documents for a salaried applicant."""

    products: list[str]
    employment: str
    required: list[str] = Field(min_length=1, description="Document codes as applications list them.")


class Haircut(ClauseRule):
    """The collateral haircut of one class: eligible value = market value × (1 − pct / 100)."""

    collateral: str
    pct: Decimal


class ConditionItem(BaseModel):
    """One condition a clause lists, in English and Chinese, for the products (None: all the clause covers)."""

    model_config = ConfigDict(extra="forbid")
    en: str
    zh: str
    products: list[str] | None = None


class ConditionRule(ClauseRule):
    """Conditions precedent or covenants a clause states for some products, each item in the clause's words."""

    products: list[str]
    kind: Literal["precedent", "covenant"]
    items: list[ConditionItem] = Field(min_length=1)
    occupancy: list[str] | None = Field(default=None, description="Only for mortgages of these occupancy types.")

    def applies_to(self, app: Application) -> bool:
        return app.request.product in self.products and (self.occupancy is None or app.request.occupancy
                                                          in self.occupancy)

    def items_for(self, app: Application) -> list[ConditionItem]:
        return [i for i in self.items if i.products is None or app.request.product in i.products]


class ExceptionClauses(BaseModel):
    """Where the policies say how an exception is presented: the manual's mitigant rule and each product's."""

    model_config = ConfigDict(extra="forbid")
    mitigant: ClauseRef
    by_product: dict[str, ClauseRef]
    guarantee: ClauseRef = Field(description="The guarantor test a guarantee must meet to count as a mitigant.")
    zh_by_product: dict[str, ClauseRef] = Field(default_factory=dict, description="The Chinese procedure's clause.")


class AuthorityMatrix(BaseModel):
    """The approval authority matrix: per grade band, the highest group exposure (USD) each level may approve."""

    model_config = ConfigDict(extra="forbid")
    clause: ClauseRef
    levels: list[str]
    grades: dict[str, list[Decimal | None]] = Field(description="'1-4' -> one cap per level; null = not authorised.")
    exception_clause: ClauseRef
    zh_by_product: dict[str, ClauseRef] = Field(default_factory=dict, description="The Chinese procedure's matrix.")


class Rulebook(BaseModel):
    """Everything in the rules file, read and validated once."""

    model_config = ConfigDict(extra="forbid")
    rules: list[PolicyRule] = Field(default_factory=list)
    prohibitions: list[Prohibition] = Field(default_factory=list)
    requirements: list[Requirement] = Field(default_factory=list)
    documents: list[DocumentRule] = Field(default_factory=list)
    haircuts: list[Haircut] = Field(default_factory=list)
    conditions: list[ConditionRule] = Field(default_factory=list)
    exceptions: ExceptionClauses | None = None
    authority: AuthorityMatrix | None = None

    def all_rules(self) -> list[ClauseRule]:
        """Every clause-backed rule, for verification against the index."""
        return [*self.rules, *self.prohibitions, *self.requirements, *self.documents, *self.haircuts, *self.conditions]

    def documents_needed(self, product: str) -> set[str]:
        """The policy documents the rules for `product` rest on: drafting refuses without them."""
        needed = {r.clause.doc_id for r in self.all_rules()
                  if product in (getattr(r, "products", None) or [product])}
        if self.authority:
            needed |= {self.authority.clause.doc_id, self.authority.exception_clause.doc_id}
        if self.exceptions:
            needed.add(self.exceptions.mitigant.doc_id)
        return needed

    def haircut_pct(self) -> dict[str, Decimal]:
        return {h.collateral: h.pct for h in self.haircuts}


class RuleStatus(BaseModel):
    rule: SerializeAsAny[ClauseRule]
    status: Literal["verified", "drifted"]
    reason: str = ""
    clause: Clause | None = Field(default=None, description="The current clause the rule was checked against.")
    zh_verified: bool = Field(default=False, description="The Chinese clause exists and prints `zh_text`.")


def load_rulebook(path: Path) -> Rulebook:
    """Read the rules file; a malformed rule is an error naming the rule and the field."""
    try:
        return Rulebook.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError) as exc:
        raise XiaoshenError(f"Cannot read the policy rules {path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        raise XiaoshenError(f"{path}: invalid rule: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc


def load_rules(path: Path) -> list[PolicyRule]:
    """Just the limit rules of the rules file."""
    return load_rulebook(path).rules


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def referenced_documents(*models: BaseModel) -> set[str]:
    """The doc id of every clause reference anywhere in the given rules (nested routes and maps included)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, ClauseRef):
            found.add(value.doc_id)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for model in models:
        walk(model)
    return found


def current_clauses(index: ClauseIndex, doc_ids: Iterable[str]) -> dict[tuple[str, str], list[Clause]]:
    """The current clauses of these documents by (doc id, section), parts in order: what rules and
    citations are resolved against. Read from the store for just these documents, not the whole corpus."""
    wanted = sorted(set(doc_ids))
    if not wanted:
        return {}
    doc = {"doc_id": wanted[0]} if len(wanted) == 1 else {"doc_id": {"$in": wanted}}
    found: dict[tuple[str, str], list[Clause]] = {}
    for clause in index.clauses(where={"$and": [doc, {"status": "current"}]}):
        found.setdefault((clause.doc_id, clause.section), []).append(clause)
    return {key: sorted(parts, key=lambda c: c.part) for key, parts in found.items()}


def find_clause(clauses: dict[tuple[str, str], list[Clause]], ref: ClauseRef) -> Clause | None:
    """The current clause a reference names (its first part), or None if the current version lacks it."""
    parts = clauses.get((ref.doc_id, ref.section))
    return parts[0] if parts else None


def verify_rules(rules: Sequence[ClauseRule], index: ClauseIndex,
                 current: dict[tuple[str, str], list[Clause]] | None = None) -> list[RuleStatus]:
    """Check each rule against the current version of its clause in the index (`current`: those clauses,
    when the caller has already read them)."""
    if current is None:
        current = current_clauses(index, referenced_documents(*rules))
    statuses = []
    for rule in rules:
        clauses = current.get((rule.clause.doc_id, rule.clause.section))
        if not clauses:
            statuses.append(RuleStatus(rule=rule, status="drifted", reason=(
                f"{rule.clause.doc_id} clause {rule.clause.section} is not in the current version")))
            continue
        text = " ".join(c.text for c in clauses)
        zh_parts = current.get((rule.zh_clause.doc_id, rule.zh_clause.section)) if rule.zh_clause else None
        # A Chinese clause that moved or changed is not cited: the note falls back to the English clause.
        zh_ok = bool(zh_parts) and _normalise(rule.zh_text or "") in _normalise(" ".join(c.text for c in zh_parts or []))
        if _normalise(rule.text) in _normalise(text):
            statuses.append(RuleStatus(rule=rule, status="verified", clause=clauses[0], zh_verified=zh_ok))
        else:
            statuses.append(RuleStatus(rule=rule, status="drifted", clause=clauses[0], reason=(
                f"{clauses[0].label} no longer states {rule.text!r}: the policy changed, the rule was not updated")))
    return statuses
