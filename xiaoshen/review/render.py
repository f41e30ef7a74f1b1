"""Review notes as Markdown, HTML and Word: pure functions of the note, in the section order of the note standard
of the language (NCB-RNS-006 in English, 授信审查报告编写规范 NCB-RNS-ZH-010 in Chinese). Every word a reader sees
comes from the message catalog (messages.py), every number from Babel's formatting of the note's values."""

from __future__ import annotations

from datetime import datetime

from xiaoshen.review.messages import clause_label, day, render_arg, say, translate
from xiaoshen.review.note import NoteStatement, ReviewNote, recommendation_label
from xiaoshen.review.ratios import Figure

SECTIONS = ["1 Summary and recommendation", "2 Borrower and request", "3 Financial analysis", "4 Policy compliance",
            "5 Exceptions and mitigants", "6 Key risks", "7 Conditions and covenants", "8 Sources and approvals"]
RESULT = {"pass": "pass", "fail": "FAIL", "exception_needed": "exception needed", "not_assessable": "not assessable"}


def _t(msgid: str, lang: str) -> str:
    return translate(msgid, lang)


def _lang(note: ReviewNote, language: str | None) -> str:
    return language or note.language


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def disclaimer(note: ReviewNote, lang: str) -> str:
    """The assistant drafts, a person decides: in every note, in its language."""
    return note.disclaimer if lang == "en" else _t(note.disclaimer, lang)


def statement_text(s: NoteStatement, lang: str) -> str:
    """A statement with its citation marks and flags, as a line of the note."""
    marks = "".join(f"[{n}]" for n in s.citations)
    text = s.render(lang)
    if s.kind == "reasoning":
        return f"{_t('(assistant reasoning)', lang)} {text} {marks}".rstrip()
    flag = "" if s.supported else " ⚠ " + _t("not supported by the cited clause", lang)
    return f"{text} {marks}{flag}".rstrip()


def input_texts(f: Figure, lang: str) -> list[tuple[str, str]]:
    """A figure's inputs as a note in `lang` writes them: amounts and dates from their typed values (人民币800.00万元,
    2025年9月30日 in Chinese), words through the catalog; a figure drafted before typed inputs keeps its English ones."""
    shown = []
    for name, english in f.inputs.items():
        value = f.input_values.get(name, english)
        shown.append((_t(name, lang), _t(value, lang) if isinstance(value, str) else render_arg(value, lang)))
    return shown


def _inputs(f: Figure, lang: str) -> str:
    sep = "；" if lang == "zh" else "; "
    return sep.join(f"{k} {v}" for k, v in input_texts(f, lang)) or _t(f.note, lang)


def figure_rows(note: ReviewNote, lang: str) -> list[list[str]]:
    return [[_t(f.label, lang), f.display(lang), _t(f.formula, lang), _inputs(f, lang)] for f in note.figures]


def check_rows(note: ReviewNote, lang: str, *, bold_fail: bool = False) -> list[list[str]]:
    rows = []
    for c in note.checks:
        result = _t(RESULT[c.result], lang)
        if bold_fail and c.result == "fail":
            result = f"**{result}**"
        if c.rule_status == "drifted":
            result += " " + _t("(rule drifted)", lang)
        marks = "".join(f"[{n}]" for n in c.citations)
        # The clause cited (in a Chinese note, the Chinese procedure's where it states the rule).
        label = clause_label(note.citations[c.citations[0] - 1].label if c.citations else c.clause_label, lang)
        rows.append([_t(c.label, lang), c.shown_value(lang), c.shown_limit(lang), result, f"{label} {marks}".strip()])
    return rows


def recommendation_line(note: ReviewNote, lang: str) -> str:
    reason = note.authority.reason_message
    why = say(reason, lang) if reason else note.authority.reason
    return _t("Draft recommendation: {recommendation}. Approval authority: {authority} ({reason}).", lang).format(
        recommendation=recommendation_label(note.recommendation, lang), authority=_t(note.authority.approver, lang),
        reason=why)


def _headers(lang: str) -> dict[str, list[str]]:
    return {"borrower": [_t(h, lang) for h in ["borrower", "id", "product", "request", "date"]],
            "figures": [_t(h, lang) for h in ["figure", "value", "formula", "inputs"]],
            "checks": [_t(h, lang) for h in ["check", "value", "limit", "result", "clause"]],
            "citations": [_t(h, lang) for h in ["#", "clause", "document", "quoted text"]]}


def _borrower_row(note: ReviewNote, lang: str) -> list[str]:
    request = say(note.request_message, lang) if note.request_message else note.request
    return [note.borrower, note.masked_id, _t(note.product, lang), request, day(note.as_of, lang) if note.as_of else ""]


def _drafted(stamp: str, lang: str) -> str:
    """When the draft was made ('2026-12-01 20:04 UTC' as stored), its day written as the reader's language writes
    dates (2026年12月1日 20:04 UTC)."""
    try:
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M UTC")
    except ValueError:
        return stamp
    return f"{day(when.date(), lang)} {when:%H:%M} UTC"


def prepared_line(note: ReviewNote, lang: str) -> str:
    return _t("Prepared by: {name} (draft by Xiaoshen, backend {backend}, settings {settings}, index {index}, "
              "{drafted}). Reviewed by: Credit Risk. Decision: {authority}.", lang).format(
        name=note.prepared_by or _t("(credit officer not named)", lang), backend=note.backend,
        settings=note.settings_hash, index=note.index_build, drafted=_drafted(note.drafted_at, lang),
        authority=_t(note.authority.approver, lang))


def _source(c, lang: str) -> str:  # type: ignore[no-untyped-def]
    return f"[{c.n}] {clause_label(c.label, lang)} — {c.title}: “{_cell(c.quote)}”"


def render_markdown(note: ReviewNote, language: str | None = None) -> str:
    """The note as Markdown; every policy statement carries its citation, every figure its inputs."""
    lang = _lang(note, language)
    h = _headers(lang)
    s = [_t(x, lang) for x in SECTIONS]
    lines = [_t("# Credit review note — {id} (DRAFT)", lang).format(id=note.application_id), "",
             f"> {disclaimer(note, lang)}", "", f"## {s[0]}", "", f"**{recommendation_line(note, lang)}**", ""]
    lines += [f"- {statement_text(r, lang)}" for r in note.reasons] or [f"- {_t('Every policy check passed.', lang)}"]
    lines += ["", f"## {s[1]}", "", "| " + " | ".join(h["borrower"]) + " |", "|---|---|---|---|---|",
              "| " + " | ".join(_cell(c) for c in _borrower_row(note, lang)) + " |",
              "", f"## {s[2]}", "", "| " + " | ".join(h["figures"]) + " |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in figure_rows(note, lang)]
    lines += ["", f"## {s[3]}", "", "| " + " | ".join(h["checks"]) + " |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in check_rows(note, lang, bold_fail=True)]
    lines += ["", f"## {s[4]}", ""]
    for i, e in enumerate(note.exceptions, start=1):
        lines.append(f"- **E{i}** " + statement_text(e.requirement, lang))
        lines += [f"  - {_t('Mitigant:', lang)} " + statement_text(m, lang) for m in e.mitigants] or [
            f"  - {_t('Mitigant:', lang)} " + _t("none found in the application; the credit officer must document "
                                                 "one or decline.", lang)]
    lines += [] if note.exceptions else [f"- {_t('None.', lang)}"]
    lines += ["", f"## {s[5]}", ""] + ([f"- {statement_text(r, lang)}" for r in note.risks]
                                       or [f"- {_t('No limit is breached or near.', lang)}"])
    lines += ["", f"## {s[6]}", ""]
    lines += [f"- {statement_text(c, lang)}" for c in note.conditions] or [
        f"- {_t('The policies retrieved state no specific conditions.', lang)}"]
    lines += ["", f"## {s[7]}", ""]
    lines += [_source(c, lang) for c in note.citations]
    if note.drifted_rules:
        lines += ["", f"**{_t('Rules drifted from their clauses (policy changed, rule not updated):', lang)}** "
                      f"{'; '.join(note.drifted_rules)}."]
    lines += ["", prepared_line(note, lang), ""]
    return "\n".join(lines)


def render_html(note: ReviewNote, language: str | None = None) -> str:
    """The note as a standalone HTML page; every value is escaped (policy text never becomes markup)."""
    from html import escape

    lang = _lang(note, language)
    h = _headers(lang)
    s = [_t(x, lang) for x in SECTIONS]

    def rows(header: list[str], body: list[list[str]]) -> str:
        head = "".join(f"<th>{escape(x)}</th>" for x in header)
        cells = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"

    def items(statements: list[NoteStatement], empty: str) -> str:
        if not statements:
            return f"<p>{escape(_t(empty, lang))}</p>"
        return "<ul>" + "".join(f"<li>{escape(statement_text(x, lang))}</li>" for x in statements) + "</ul>"

    def exception_items() -> str:
        if not note.exceptions:
            return f"<p>{escape(_t('None.', lang))}</p>"
        out = []
        for i, e in enumerate(note.exceptions, 1):
            mitigants = e.mitigants or [NoteStatement(text=_t("none found in the application; the credit officer "
                                                              "must document one or decline.", lang), kind="data")]
            out.append(f"<h3>E{i}: {escape(_t(e.label, lang))}</h3>" + items([e.requirement], "")
                       + f"<p>{escape(_t('Mitigants:', lang))}</p>" + items(mitigants, ""))
        return "".join(out)

    drift = (f"<p><strong>{escape(_t('Rules drifted from their clauses (policy changed, rule not updated):', lang))}"
             f"</strong> {escape('; '.join(note.drifted_rules))}</p>") if note.drifted_rules else ""
    title = _t("# Credit review note — {id} (DRAFT)", lang).format(id=note.application_id)[2:]
    parts = [
        f"<h1>{escape(title)}</h1>", f"<p class='disclaimer'>{escape(disclaimer(note, lang))}</p>",
        f"<h2>{escape(s[0])}</h2>", f"<p><strong>{escape(recommendation_line(note, lang))}</strong></p>",
        items(note.reasons, "Every policy check passed."),
        f"<h2>{escape(s[1])}</h2>", rows(h["borrower"], [_borrower_row(note, lang)]),
        f"<h2>{escape(s[2])}</h2>", rows(h["figures"], figure_rows(note, lang)),
        f"<h2>{escape(s[3])}</h2>", rows(h["checks"], check_rows(note, lang)),
        f"<h2>{escape(s[4])}</h2>", exception_items(),
        f"<h2>{escape(s[5])}</h2>", items(note.risks, "No limit is breached or near."),
        f"<h2>{escape(s[6])}</h2>", items(note.conditions, "The policies retrieved state no specific conditions."),
        f"<h2>{escape(s[7])}</h2>",
        "<ol>" + "".join(f"<li value='{c.n}' id='source-{c.n}'>{escape(clause_label(c.label, lang))} — {escape(c.title)}: "
                         f"“{escape(c.quote)}”</li>" for c in note.citations) + "</ol>",
        drift, f"<p>{escape(prepared_line(note, lang))}</p>",
    ]
    fonts = "'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC','Microsoft YaHei',sans-serif"
    style = (f"body{{font-family:{fonts};max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}"
             "td,th{border:1px solid #999;padding:.3em .5em;vertical-align:top}.disclaimer{background:#fff4d6;padding:.5em}")
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (f"<!doctype html><html lang='{html_lang}'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


EAST_ASIAN_FONT = "Noto Sans CJK SC"


def render_docx(note: ReviewNote, language: str | None = None) -> bytes:
    """The note as a Word document with real tables and a citation appendix; Chinese text is set in an East Asian
    font (w:eastAsia), so Word does not fall back to a Latin font for it."""
    import io

    import docx
    from docx.oxml.ns import qn

    lang = _lang(note, language)
    h = _headers(lang)
    s = [_t(x, lang) for x in SECTIONS]
    document = docx.Document()
    for style_name in ("Normal", "Title", "Heading 1", "Heading 2", "List Bullet"):
        style = document.styles[style_name]
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.append(fonts)
        fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)
    if lang == "zh":
        document.core_properties.language = "zh-CN"
    title = _t("# Credit review note — {id} (DRAFT)", lang).format(id=note.application_id)[2:]
    document.add_heading(title, level=0)
    document.add_paragraph(disclaimer(note, lang)).runs[0].bold = True

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
        for x in items or [NoteStatement(text=_t(empty, lang), kind="data")]:
            document.add_paragraph(statement_text(x, lang), style="List Bullet")

    document.add_heading(s[0], level=1)
    document.add_paragraph(recommendation_line(note, lang))
    statements(note.reasons, "Every policy check passed.")
    document.add_heading(s[1], level=1)
    table(h["borrower"], [_borrower_row(note, lang)])
    document.add_heading(s[2], level=1)
    table(h["figures"], figure_rows(note, lang))
    document.add_heading(s[3], level=1)
    table(h["checks"], check_rows(note, lang))
    document.add_heading(s[4], level=1)
    if not note.exceptions:
        statements([], "None.")
    for i, e in enumerate(note.exceptions, 1):
        document.add_paragraph(f"E{i}: {statement_text(e.requirement, lang)}", style="List Bullet")
        for m in e.mitigants:
            document.add_paragraph(f"{_t('Mitigant:', lang)} {statement_text(m, lang)}", style="List Bullet")
        if not e.mitigants:
            document.add_paragraph(f"{_t('Mitigant:', lang)} " + _t(
                "none found in the application; the credit officer must document one or decline.", lang),
                style="List Bullet")
    document.add_heading(s[5], level=1)
    statements(note.risks, "No limit is breached or near.")
    document.add_heading(s[6], level=1)
    statements(note.conditions, "The policies retrieved state no specific conditions.")
    document.add_heading(s[7], level=1)
    if note.drifted_rules:
        document.add_paragraph(_t("Rules drifted from their clauses (policy changed, rule not updated):", lang) + " "
                               + "; ".join(note.drifted_rules))
    document.add_paragraph(prepared_line(note, lang))
    document.add_heading(_t("Appendix — citations", lang), level=1)
    table(h["citations"], [[str(c.n), clause_label(c.label, lang), c.title, c.quote] for c in note.citations])
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
