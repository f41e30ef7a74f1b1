"""Review: one application in (upload, sample or form) → figures, policy checks with citations, the draft
note to edit and download. The assistant drafts; the credit officer and the approval authority decide."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import shell
import streamlit as st
import tables
import uploads
import yaml

from xiaoshen.audit import record_note
from xiaoshen.errors import XiaoshenError
from xiaoshen.review.application import Application, load_application, note_language, parse_application
from xiaoshen.review.edited import edited_docx, edited_html
from xiaoshen.review.messages import clause_label, translate
from xiaoshen.review.note import PRODUCT_NAME, ReviewNote, draft_note, recommendation_label
from xiaoshen.review.render import RESULT, input_texts, render_docx, render_html, render_markdown
from xiaoshen.settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "data" / "sample_applications"
RESULT_COLOUR = {"pass": "green", "fail": "red", "exception_needed": "orange", "not_assessable": "gray"}
BADGE_COLOUR = {"approve": "green", "approve_with_conditions": "orange", "decline": "red", "refer": "gray"}
LANGUAGES = {"auto": "As the application (language field, else jurisdiction and currency)", "en": "English",
             "zh": "中文"}


def result_badge(result: str, lang: str) -> str:
    """A check's result as the note words it (pass / 符合), in its colour."""
    return f":{RESULT_COLOUR[result]}-badge[{translate(RESULT[result], lang).lower()}]"


def recommendation_badge(value: str, lang: str) -> str:
    label = f"{translate('draft recommendation', lang).capitalize()}: {recommendation_label(value, lang).lower()}"
    return f":{BADGE_COLOUR.get(value, 'gray')}-badge[{label}]"


user = shell.require_user()
settings = shell.settings()
index = shell.index()

st.title("Draft a credit review note")
st.info("The assistant drafts; a person decides. Figures are computed from the application, each policy "
        "statement cites its clause, and the approval authority named in the note makes the decision.")


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.suffix in {".json", ".yaml", ".yml"})


def sample_for(application_id: str) -> str | None:
    """The sample file of an application id (APP-002 -> APP-002_….json), if it is one of the samples."""
    return next((p.name for p in sample_files() if p.name.split("_", 1)[0] == application_id), None)


def form(template: dict[str, Any]) -> dict[str, Any] | None:
    """The main fields of an application, prefilled from a template; the rest stays as in the template."""
    b, r = template["borrower"], template["request"]
    coll = (template.get("collateral") or [None])[0]
    with st.form("application_form"):
        c1, c2, c3 = st.columns(3)
        app_id = c1.text_input("Application id", template["id"] + "-EDIT")
        name = c2.text_input("Borrower name", b["name"])
        masked = c3.text_input("Borrower id (masked)", b["masked_id"])
        c1, c2, c3 = st.columns(3)
        amount = c1.number_input("Amount", min_value=0.0, value=float(r["amount"]), step=10000.0)
        currency = c2.text_input("Currency", r["currency"])
        tenor = c3.number_input("Tenor (months)", min_value=1, max_value=480, value=int(r["tenor_months"]))
        c1, c2, c3 = st.columns(3)
        rate = c1.number_input("Rate (% p.a.)", min_value=0.0, max_value=30.0, value=float(r["rate_pct"]))
        purpose = c2.text_input("Purpose", r["purpose"])
        grade = c3.number_input("Internal risk grade", min_value=1, max_value=10,
                                value=int(template["exposure"]["risk_grade"]))
        value = valuation = None
        if coll:
            c1, c2 = st.columns(2)
            value = c1.number_input("Collateral market value", min_value=0.0, value=float(coll["market_value"]))
            valuation = c2.text_input("Valuation date (YYYY-MM-DD)", str(coll["valuation_date"]))
        if not st.form_submit_button("Use these values"):
            return None
    data = json.loads(json.dumps(template, default=str))
    data["id"] = app_id
    data["borrower"].update(name=name, masked_id=masked)
    data["request"].update(amount=amount, currency=currency, tenor_months=int(tenor), rate_pct=rate, purpose=purpose)
    data["exposure"]["risk_grade"] = int(grade)
    if coll:
        data["collateral"][0].update(market_value=value, valuation_date=valuation)
    return data


restored: ReviewNote | None = st.session_state.get("note")
if restored is not None and "sample" not in st.session_state:
    # The note outlives the picker: after a reload, or a visit to another page, Streamlit starts the picker
    # afresh at the first sample while the note is still there. Point it at the note's own sample.
    own = sample_for(restored.application_id)
    if own is not None:
        st.session_state["sample"] = own
        st.session_state["review_source"] = "Sample application"
source = st.radio("Application", ["Sample application", "Upload a file", "Fill in a form"], horizontal=True,
                  key="review_source")
application: Application | None = None
try:
    if source == "Upload a file":
        # Any type is taken and checked by uploads: Streamlit's own type filter refuses with an icon only.
        upload = st.file_uploader("Application file (JSON or YAML)", key="upload")
        if upload is not None:
            application = uploads.application_from_upload(upload)
    else:
        files = sample_files()
        chosen = st.selectbox("Sample application" if source == "Sample application" else "Start from",
                              [p.name for p in files], key="sample")
        path = SAMPLES / chosen
        if source == "Sample application":
            application = load_application(path)
        else:
            template = yaml.safe_load(path.read_text(encoding="utf-8"))
            data = form(template)
            if data is not None:
                st.session_state["form_application"] = parse_application(data, source="the form")
            application = st.session_state.get("form_application")
except XiaoshenError as exc:
    uploads.show_error(exc)  # the uploaded file's own name and every problem, one per line
    application = None

if application is not None:
    product = PRODUCT_NAME.get(application.request.product, application.request.product)
    st.caption(f"{application.id} · {application.borrower.name} · {product} · "
               f"{application.request.currency} {application.request.amount:,.0f}")
    chosen_language = st.selectbox("Language of the note", list(LANGUAGES), format_func=LANGUAGES.__getitem__,
                                   key="note_language")
    language = None if chosen_language == "auto" else chosen_language
    st.caption(f"The note will be written in {LANGUAGES[language or note_language(application)]}.")
    if st.button("Draft the review note", type="primary", key="draft"):
        try:
            with st.spinner("Computing figures, checking policy, retrieving clauses…"):
                note = draft_note(application, index=index, settings=settings, roles=list(user.roles),
                                  language=language, prepared_by=user.name)  # type: ignore[arg-type]
        except XiaoshenError as exc:
            st.error(str(exc))
            st.stop()
        record_note(shell.audit_log(), user.username, note)
        st.session_state["note"] = note
        st.session_state["note_md"] = render_markdown(note)

note: ReviewNote | None = st.session_state.get("note")
if note is not None:
    st.divider()
    st.subheader(f"{note.application_id} — {note.borrower}")
    lang = note.language
    if application is not None and application.id != note.application_id:
        # The picker may name another application than the draft (chosen since, or not drafted yet).
        other = (f"This draft is for {note.application_id} ({note.borrower}), not {application.id} chosen above: "
                 f"press “Draft the review note” to draft {application.id}.")
        if lang == "zh":
            other += f" 本稿为 {note.application_id}（{note.borrower}），并非上方所选的 {application.id}。"
        st.warning(shell.as_text(other))
    st.markdown(recommendation_badge(note.recommendation, lang) + " " + shell.as_text(
        f"{translate('approval authority', lang)}: {translate(note.authority.approver, lang)}"))
    if note.drifted_rules:
        st.warning("Policy changed since these rules were written (drifted): " + "; ".join(note.drifted_rules))

    st.markdown("#### Financial analysis")
    # In full and wrapped (app/tables.py): a scrolling grid showed 10 of 13 rows and cut the inputs off.
    tables.show_table([{"figure": translate(f.label, lang), "value": f.display(lang),
                        "formula": translate(f.formula, lang),
                        "inputs": "; ".join(f"{k} = {v}" for k, v in input_texts(f, lang)),
                        "note": translate(f.note, lang)} for f in note.figures],
                      columns={key: translate("remarks" if key == "note" else key, lang).capitalize()
                               for key in ("figure", "value", "formula", "inputs", "note")},
                      values={key: str for key in ("figure", "value", "formula", "inputs", "note")})

    st.markdown("#### Policy compliance")
    by_number = {c.n: c for c in note.citations}
    for check in note.checks:
        cite = "".join(f" \\[{n}\\]" for n in check.citations)
        drift = " :orange[(rule drifted: policy changed)]" if check.rule_status == "drifted" else ""
        # The clause cited, as in the note: in a Chinese note, the Chinese procedure's where it states the rule.
        cited = by_number[check.citations[0]].label if check.citations else check.clause_label
        st.markdown(result_badge(check.result, lang) + " " + shell.as_text(
            f"{translate(check.label, lang)}: {check.shown_value(lang)} — {check.shown_limit(lang)} — "
            f"{clause_label(cited, lang) or check.clause.section}") + cite + drift)
        # Each check opens the clause it rests on.
        for n in check.citations:
            shell.show_citation(by_number[n], user)

    st.markdown("#### Sources")
    for citation in note.citations:
        shell.show_citation(citation, user)

    st.markdown("#### The draft note")
    st.caption("Edit the draft before you download it: every download carries your edits (unedited, Word and "
               "HTML are rendered from the note itself, with its tables and citation appendix).")
    # Saved the moment the edit arrives, before this run draws anything: a reload while the downloads are
    # still being rendered must not lose it (the after-run save came too late for that).
    edited = st.text_area("Draft (Markdown)", key="note_md", height=420, on_change=shell.save_work, args=(user,))
    unchanged = edited == render_markdown(note)
    word = render_docx(note) if unchanged else edited_docx(edited)
    page = render_html(note) if unchanged else edited_html(edited, f"Credit review note {note.application_id}", note.language)
    if not unchanged:
        st.caption(":orange[Edited by you] — the downloads are your version of the draft.")
    c1, c2, c3 = st.columns(3)
    c1.download_button("Download Markdown", edited.encode("utf-8"), f"{note.application_id}.md",
                       mime="text/markdown", key="download_md")
    c2.download_button("Download Word", word, f"{note.application_id}.docx", key="download_docx",
                       mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    c3.download_button("Download HTML", page.encode("utf-8"), f"{note.application_id}.html",
                       mime="text/html", key="download_html")
