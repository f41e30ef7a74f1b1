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
    lines += ["", "## 5 Exceptions and mitigants", ""]
    for i, e in enumerate(note.exceptions, start=1):
        lines.append(f"- **E{i}** " + _statement(e.requirement)[2:])
        lines += ["  - Mitigant: " + _statement(m)[2:] for m in e.mitigants] or [
            "  - Mitigant: none found in the application; the credit officer must document one or decline."]
    lines += [] if note.exceptions else ["- None."]
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


def render_html(note: ReviewNote) -> str:
    """The note as a standalone HTML page; every value is escaped (policy text never becomes markup)."""
    from html import escape

    def rows(header: list[str], body: list[list[str]]) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        cells = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"

    def items(statements: list[NoteStatement], empty: str) -> str:
        if not statements:
            return f"<p>{escape(empty)}</p>"
        out = []
        for s in statements:
            marks = "".join(f"[{n}]" for n in s.citations)
            prefix = "<em>(assistant's reasoning)</em> " if s.kind == "reasoning" else ""
            flag = "" if s.supported else " <strong>⚠ not supported by the cited clause</strong>"
            out.append(f"<li>{prefix}{escape(s.text)} {escape(marks)}{flag}</li>")
        return "<ul>" + "".join(out) + "</ul>"

    def exception_items() -> str:
        if not note.exceptions:
            return "<p>None.</p>"
        out = []
        for i, e in enumerate(note.exceptions, 1):
            mitigants = e.mitigants or [NoteStatement(text="none found in the application; the credit officer must "
                                                      "document one or decline.", kind="data")]
            out.append(f"<h3>E{i}: {escape(e.label)}</h3>" + items([e.requirement], "")
                       + "<p>Mitigants:</p>" + items(mitigants, ""))
        return "".join(out)

    parts = [
        f"<h1>Credit review note — {escape(note.application_id)} (DRAFT)</h1>",
        f"<p class='disclaimer'>{escape(note.disclaimer)}</p>",
        "<h2>1 Summary and recommendation</h2>",
        f"<p><strong>Draft recommendation: {escape(RECOMMENDATION[note.recommendation])}.</strong> Approval authority: "
        f"<strong>{escape(note.authority.approver)}</strong> ({escape(note.authority.reason)}).</p>",
        items(note.reasons, "Every policy check passed."),
        "<h2>2 Borrower and request</h2>",
        rows(["borrower", "id", "product", "request"], [[note.borrower, note.masked_id, note.product, note.request]]),
        "<h2>3 Financial analysis</h2>",
        rows(["figure", "value", "formula", "inputs"], [
            [f.label, f.display(), f.formula, "; ".join(f"{k} {v}" for k, v in f.inputs.items()) or f.note]
            for f in note.figures]),
        "<h2>4 Policy compliance</h2>",
        rows(["check", "value", "limit", "result", "clause"], [
            [c.label, c.value, c.limit, c.result.replace("_", " ") + (" (rule drifted)" if c.rule_status == "drifted" else ""),
             c.clause_label] for c in note.checks]),
        "<h2>5 Exceptions and mitigants</h2>",
        exception_items(),
        "<h2>6 Key risks</h2>", items(note.risks, "No limit is breached or near."),
        "<h2>7 Conditions and covenants</h2>",
        items(note.conditions, "The policies retrieved state no specific conditions."),
        "<h2>8 Sources and approvals</h2>",
        "<ol>" + "".join(f"<li value='{c.n}'>{escape(c.label)} — {escape(c.title)}: “{escape(c.quote)}”</li>"
                         for c in note.citations) + "</ol>",
        f"<p>Prepared by: credit officer (draft by Xiaoshen, backend {escape(note.backend)}, settings "
        f"{escape(note.settings_hash)}, index {escape(note.index_build)}, {escape(note.drafted_at)}). "
        f"Reviewed by: Credit Risk. Decision: {escape(note.authority.approver)}.</p>",
    ]
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #999;padding:.3em .5em;vertical-align:top}.disclaimer{background:#fff4d6;padding:.5em}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Review note {escape(note.application_id)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def render_docx(note: ReviewNote) -> bytes:
    """The note as a Word document with real tables and a citation appendix."""
    import io

    import docx

    document = docx.Document()
    document.add_heading(f"Credit review note — {note.application_id} (DRAFT)", level=0)
    document.add_paragraph(note.disclaimer).runs[0].bold = True

    def table(header: list[str], body: list[list[str]]) -> None:
        t = document.add_table(rows=1, cols=len(header))
        t.style = "Table Grid"
        for cell, text in zip(t.rows[0].cells, header, strict=True):
            cell.text = text
            cell.paragraphs[0].runs[0].bold = True
        for row in body:
            for cell, text in zip(t.add_row().cells, row, strict=True):
                cell.text = text

    def statements(items: list[NoteStatement], empty: str) -> None:
        for s in items or [NoteStatement(text=empty, kind="data")]:
            marks = "".join(f"[{n}]" for n in s.citations)
            prefix = "(assistant's reasoning) " if s.kind == "reasoning" else ""
            flag = "" if s.supported else " ⚠ not supported by the cited clause"
            document.add_paragraph(f"{prefix}{s.text} {marks}{flag}".strip(), style="List Bullet")

    document.add_heading("1 Summary and recommendation", level=1)
    document.add_paragraph(f"Draft recommendation: {RECOMMENDATION[note.recommendation]}. Approval authority: "
                           f"{note.authority.approver} ({note.authority.reason}).")
    statements(note.reasons, "Every policy check passed.")
    document.add_heading("2 Borrower and request", level=1)
    table(["borrower", "id", "product", "request"], [[note.borrower, note.masked_id, note.product, note.request]])
    document.add_heading("3 Financial analysis", level=1)
    table(["figure", "value", "formula", "inputs"],
          [[f.label, f.display(), f.formula, "; ".join(f"{k} {v}" for k, v in f.inputs.items()) or f.note]
           for f in note.figures])
    document.add_heading("4 Policy compliance", level=1)
    table(["check", "value", "limit", "result", "clause"],
          [[c.label, c.value, c.limit, c.result.replace("_", " "), c.clause_label] for c in note.checks])
    document.add_heading("5 Exceptions and mitigants", level=1)
    if not note.exceptions:
        statements([], "None.")
    for i, e in enumerate(note.exceptions, 1):
        statements([e.requirement.model_copy(update={"text": f"E{i}: {e.requirement.text}"})], "")
        statements([m.model_copy(update={"text": f"Mitigant: {m.text}"}) for m in e.mitigants],
                   "Mitigant: none found in the application; the credit officer must document one or decline.")
    document.add_heading("6 Key risks", level=1)
    statements(note.risks, "No limit is breached or near.")
    document.add_heading("7 Conditions and covenants", level=1)
    statements(note.conditions, "The policies retrieved state no specific conditions.")
    document.add_heading("8 Sources and approvals", level=1)
    document.add_paragraph(f"Prepared by: credit officer (draft by Xiaoshen, backend {note.backend}, settings "
                           f"{note.settings_hash}, index {note.index_build}, {note.drafted_at}). Reviewed by: Credit "
                           f"Risk. Decision: {note.authority.approver}.")
    document.add_heading("Appendix — citations", level=1)
    table(["#", "clause", "document", "quoted text"], [[str(c.n), c.label, c.title, c.quote] for c in note.citations])
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
