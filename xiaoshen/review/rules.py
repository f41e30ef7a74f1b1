"""Policy limits as code, each tied to the clause it rests on and verified against that clause.

After every ingest the rules are re-read against the index: a rule is `verified` when the current
version of its document has the clause and the clause still prints the threshold; otherwise it is
`drifted` (the policy changed and the rule did not), and every check that uses it says so.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.types import Clause


class ClauseRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc_id: str
    section: str


class ExceptionRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bound: Decimal = Field(description="How far an exception may go: a ceiling for a max limit, a floor for a min.")
    approver: str
    clause: ClauseRef


class PolicyRule(BaseModel):
    """One limit: which products, which figure, max or min, the value, and the clause that sets it."""

    model_config = ConfigDict(extra="forbid")
    id: str
    products: list[str]
    metric: str
    limit: Literal["max", "min"]
    value: Decimal
    text: str = Field(description="The threshold as the clause prints it, e.g. '75%'.")
    clause: ClauseRef
    exception: ExceptionRoute | None = None


class AuthorityMatrix(BaseModel):
    """The approval authority matrix: per grade band, the highest group exposure (USD) each level may approve."""

    model_config = ConfigDict(extra="forbid")
    clause: ClauseRef
    levels: list[str]
    grades: dict[str, list[Decimal | None]] = Field(description="'1-4' -> one cap per level; null = not authorised.")
    exception_clause: ClauseRef


class Rulebook(BaseModel):
    """Everything in the rules file, read and validated once."""

    model_config = ConfigDict(extra="forbid")
    rules: list[PolicyRule] = Field(default_factory=list)
    authority: AuthorityMatrix | None = None


class RuleStatus(BaseModel):
    rule: PolicyRule
    status: Literal["verified", "drifted"]
    reason: str = ""
    clause: Clause | None = Field(default=None, description="The current clause the rule was checked against.")


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


def verify_rules(rules: list[PolicyRule], index: ClauseIndex) -> list[RuleStatus]:
    """Check each rule against the current version of its clause in the index."""
    current = [c for c in index.keyword_index().clauses if c.status == "current"]
    statuses = []
    for rule in rules:
        clauses = [c for c in current if c.doc_id == rule.clause.doc_id and c.section == rule.clause.section]
        if not clauses:
            statuses.append(RuleStatus(rule=rule, status="drifted", reason=(
                f"{rule.clause.doc_id} clause {rule.clause.section} is not in the current version")))
            continue
        text = " ".join(c.text for c in sorted(clauses, key=lambda c: c.part))
        if _normalise(rule.text) in _normalise(text):
            statuses.append(RuleStatus(rule=rule, status="verified", clause=clauses[0]))
        else:
            statuses.append(RuleStatus(rule=rule, status="drifted", clause=clauses[0], reason=(
                f"{clauses[0].label} no longer states {rule.text!r}: the policy changed, the rule was not updated")))
    return statuses
