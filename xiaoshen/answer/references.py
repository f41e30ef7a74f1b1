"""Cross-references between clauses: "(clause 4.4)", "Rule 4.12.19", "NCB-COL-005 clause 5.3", "本规程第七条".

Policies restate their rules elsewhere with a pointer back ("the maximum facility is … (clause 4.4)"),
so among the clauses retrieved for a question, the one the others point to is likely the one that lays
the rule down. (A second feature, "the clause is or points to the section the question names", was
tried on the ObliQA questions that name a Rule and changed no top-1 result, so it is not used.)
"""

from __future__ import annotations

import re

from xiaoshen.types import Clause

_EN_REFERENCE = re.compile(
    r"(?:\b([A-Z]{2,}(?:-[A-Z0-9]+)+)\s+)?"  # an optional document id: "NCB-COL-005 clause 5.3"
    r"\b(?:clauses?|sections?|rules?|paragraphs?|articles?|§)\s*((?:\d+\.)*\d+)(?!\.\d)", re.I)
_ZH_REFERENCE = re.compile(r"第([一二三四五六七八九十百零〇]+)条")

Reference = tuple[str | None, str]  # (document id or None for "this document", section)


def references(text: str) -> set[Reference]:
    """The (document, section) pairs `text` points to; the document is None when it is the same one."""
    found: set[Reference] = {(m.group(1), m.group(2)) for m in _EN_REFERENCE.finditer(text)}
    found |= {(None, f"第{m.group(1)}条") for m in _ZH_REFERENCE.finditer(text)}
    return found


def _section_root(section: str) -> str:
    """'5.6(b)' and '5.6.(b)' are parts of 5.6."""
    return re.split(r"\.?[(（]", section, maxsplit=1)[0]


def points_to(reference: Reference, source_doc: str, clause: Clause) -> bool:
    """Whether a reference written in `source_doc` names `clause`."""
    doc, section = reference
    return (doc or source_doc) == clause.doc_id and _section_root(clause.section) == section


def referenced_by_others(clauses: list[Clause]) -> list[bool]:
    """For each clause, whether another clause in the list points to it."""
    pointers = [(c.doc_id, c.clause_id, references(c.text)) for c in clauses]
    return [
        any(other_id != clause.clause_id and any(points_to(r, doc, clause) for r in refs)
            for doc, other_id, refs in pointers)
        for clause in clauses
    ]
