"""Review notes as Markdown: a pure function of the note, in the section order of NCB-RNS-006."""

from __future__ import annotations

from xiaoshen.review.note import NoteStatement, ReviewNote

RECOMMENDATION = {"approve": "Approve", "approve_with_conditions": "Approve with conditions", "decline": "Decline"}
RESULT = {"pass": "pass", "fail": "**FAIL**", "exception_needed": "exception needed", "not_assessable": "not assessable"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _statement(s: NoteStatement) -> str:
    marks = "".join(f"[{n}]" for n in s.citations)
    if s.kind == "reasoning":
        return f"- *(assistant's reasoning)* {s.text} {marks}".rstrip()
    flag = "" if s.supported else " ⚠ not supported by the cited clause"
    return f"- {s.text} {marks}{flag}".rstrip()


def render_markdown(note: ReviewNote) -> str:
    """The note as Markdown; every policy statement carries its citation, every figure its inputs."""
    lines = [f"# Credit review note — {note.application_id} (DRAFT)", "", f"> {note.disclaimer}", "",
             "## 1 Summary and recommendation", "",
             f"**Draft recommendation: {RECOMMENDATION[note.recommendation]}.** Approval authority: "
             f"**{note.authority.approver}** ({note.authority.reason}; {note.authority.clause.doc_id} "
             f"§{note.authority.clause.section}).", ""]
    lines += [_statement(r) for r in note.reasons] or ["- Every policy check passed."]
    lines += ["", "## 2 Borrower and request", "", f"- Borrower: {note.borrower} (id {note.masked_id})",
              f"- Product: {note.product}", f"- Request: {note.request}", "",
              "## 3 Financial analysis", "", "| figure | value | formula | inputs |", "|---|---|---|---|"]
    for f in note.figures:
        inputs = "; ".join(f"{k} {v}" for k, v in f.inputs.items()) or f.note
        lines.append(f"| {_cell(f.label)} | {f.display()} | {_cell(f.formula)} | {_cell(inputs)} |")
    lines += ["", "## 4 Policy compliance", "", "| check | value | limit | result | clause |", "|---|---|---|---|---|"]
    for c in note.checks:
        result = RESULT[c.result] + (" (rule drifted)" if c.rule_status == "drifted" else "")
        lines.append(f"| {_cell(c.label)} | {c.value} | {c.limit} | {result} | {_cell(c.clause_label)} |")
    exceptions = [c for c in note.checks if c.result == "exception_needed"]
    lines += ["", "## 5 Exceptions and mitigants", ""]
    lines += [f"- E{i}: {c.label} {c.value} against {c.limit}; approver: {c.approver} ({c.clause_label}). "
              "Mitigants: to be documented by the credit officer." for i, c in enumerate(exceptions, start=1)]
    lines += [] if exceptions else ["- None."]
    lines += ["", "## 6 Key risks", ""] + ([_statement(r) for r in note.risks] or ["- No limit is breached or near."])
    lines += ["", "## 7 Conditions and covenants", ""]
    lines += [_statement(c) for c in note.conditions] or ["- The policies retrieved state no specific conditions."]
    lines += ["", "## 8 Sources and approvals", ""]
    lines += [f"[{c.n}] {c.label} — {c.title}: “{_cell(c.quote)}”" for c in note.citations]
    if note.drifted_rules:
        lines += ["", f"**Rules drifted from their clauses (policy changed, rule not updated):** "
                      f"{', '.join(note.drifted_rules)}."]
    lines += ["", f"Prepared by: credit officer (draft by Xiaoshen, backend {note.backend}, settings "
                  f"{note.settings_hash}, index {note.index_build}, {note.drafted_at}). Reviewed by: Credit Risk. "
                  f"Decision: {note.authority.approver}.", ""]
    return "\n".join(lines)
