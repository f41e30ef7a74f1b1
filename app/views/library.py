"""Library: the ingested policies with their versions, status, drifted rules and clauses that read like
instructions to an assistant; upload new policies; administrators review uploads and remove documents."""

from __future__ import annotations

from pathlib import Path

import shell
import streamlit as st
import tables
import uploads
import yaml

from ingest.pipeline import ingest, refresh_statuses
from ingest.readers import SIDECAR_SUFFIX, SUPPORTED_SUFFIXES, content_digest
from xiaoshen.access import ROLES
from xiaoshen.audit import record_ingest
from xiaoshen.errors import XiaoshenError
from xiaoshen.review.note import DEFAULT_RULES
from xiaoshen.review.rules import load_rulebook, verify_rules
from xiaoshen.safetext import display_name, safe_file_name
from xiaoshen.uploads import ReviewRegister

UPLOADERS = {"risk", "admin"}

user = shell.require_user()
settings = shell.settings()
index = shell.index()
library_dir = settings.index_dir.parent / "library"
register = ReviewRegister.for_settings(settings)
try:
    reviews = register.uploads()
except XiaoshenError as exc:
    st.error(str(exc))
    reviews = {}
REVIEW_LABELS = {"pending_review": "pending review", "reviewed": "reviewed"}

st.title("Policy library")
if "library_flash" in st.session_state:
    st.success(st.session_state.pop("library_flash"))
documents = shell.visible_documents(user)
try:
    statuses = verify_rules(load_rulebook(DEFAULT_RULES).all_rules(), index)
except XiaoshenError as exc:
    st.warning(f"The review rules could not be checked: {exc}")
    statuses = []
drifted: dict[str, list[str]] = {}
for status in statuses:
    if status.status == "drifted":
        drifted.setdefault(status.rule.clause.doc_id, []).append(f"{status.rule.id}: {status.reason}")

# In full and wrapped (app/tables.py): a grid cut the columns off at 1400 px, and a library of policies is read
# down, not sorted. A column empty for every document (no scans, nothing normalised) is left out.
library_rows = [{"document": d.doc_id, "title": d.title, "version": d.version,
                 "effective": str(d.effective_date or ""), "language": d.language, "clauses": d.clauses,
                 "status": d.status, "readable by": ", ".join(d.access) or "everyone",
                 "drifted rules": len(drifted.get(d.doc_id, [])) if d.status == "current" else None,
                 "suspicious clauses": d.suspicious_clauses, "normalised": ", ".join(d.normalised),
                 "upload review": REVIEW_LABELS[reviews[d.source].status] if d.source in reviews else "",
                 "low-confidence scan pages": ", ".join(map(str, d.low_confidence_pages))}
                for d in documents]
shown = [key for key in (library_rows[0] if library_rows else {})
         if any(row[key] not in ("", None) for row in library_rows)]
tables.show_table(library_rows, columns={key: key.capitalize() for key in shown},
                  values={"document": str, "title": str, "version": str, "language": str, "readable by": str})
st.caption(f"{len(documents)} documents you may read · {index.count()} clauses in the index")
for doc_id, problems in sorted(drifted.items()):
    with st.expander(f"{doc_id}: {len(problems)} review rule(s) drifted — the policy changed, the rules did not"):
        for problem in problems:
            st.markdown("- " + shell.as_text(problem))

flagged = [d for d in documents if d.suspicious_clauses]
if flagged:
    readable = shell.reader_filter(user)
    clauses = [c for c in index.clauses(where={"suspicious": True}) if readable.allows(c)]
    with st.expander(f"{len(clauses)} clause(s) read like instructions to an AI assistant — shown as policy text, "
                     "never followed, never quoted as an answer", expanded=True):
        for clause in clauses:
            st.markdown(f"**{shell.as_text(clause.label)}** — {shell.as_text(clause.suspicious_reason)}")
            st.caption(shell.as_text(clause.text[:300]))

if UPLOADERS & set(user.roles):
    st.subheader("Add or update policies")
    # Any type is accepted here and checked below: Streamlit's own type filter refuses with an icon only.
    files = st.file_uploader("Policy files (PDF, Word, Markdown, HTML or text)", accept_multiple_files=True,
                             key="policy_upload")
    access = st.multiselect("Readable only by (leave empty for everyone)", list(ROLES), key="upload_access",
                            help="Applied to PDF, Word, HTML and text files through a metadata file beside "
                                 "them; Markdown files may also declare `access:` in their front matter.")
    refused = [reason for upload in files or []
               if (reason := uploads.wrong_type(Path(upload.name).name, SUPPORTED_SUFFIXES, "a policy file"))]
    for reason in refused:
        st.error(shell.as_text(reason))
    accepted = [u for u in files or [] if Path(u.name).suffix.lower() in SUPPORTED_SUFFIXES]
    if accepted and st.button("Ingest", type="primary", key="ingest"):
        library_dir.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        for upload in accepted:
            # A name with hidden or bidi characters is stored as it shows (ingest/normalise.py explains why).
            path = library_dir / safe_file_name(Path(upload.name).name)
            path.write_bytes(upload.getvalue())
            sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
            if access:
                sidecar.write_text(yaml.safe_dump({"access": access}), encoding="utf-8")
            elif sidecar.exists():
                sidecar.unlink()
            saved.append(path)
        bar = st.progress(0.0, text="Ingesting…")
        seen: list[str] = []

        def advance(name: str) -> None:
            seen.append(name)
            bar.progress(len(seen) / len(saved), text=f"{len(seen)} of {len(saved)}: {name}")

        report = ingest(saved, index=index, progress=advance,
                        ocr_progress=lambda line: bar.progress(len(seen) / len(saved), text=line))
        failed = [display_name(Path(o.source).name) for o in report.failed]
        ok = len(report.outcomes) - len(failed)
        summary = f"{ok} of {len(report.outcomes)} ingested" + (f", {len(failed)} failed: " + ", ".join(failed)
                                                              if failed else "")
        bar.progress(1.0, text=summary)
        (st.warning if failed else st.success)(shell.as_text(summary + "."))
        by_source = {d.source: d for d in index.documents()}
        for line in report.notices:  # scanned pages skipped with OCR off, repairs, waits
            st.warning(shell.as_text(line))
        for outcome in report.outcomes:
            name = display_name(Path(outcome.source).name)
            if outcome.status != "failed" and outcome.source in by_source:
                # Answerable at once, trusted only once an administrator has read it.
                summary = by_source[outcome.source]
                register.record_upload(outcome.source, content_digest(Path(outcome.source)), doc_id=summary.doc_id,
                                       version=summary.version, user=user.username)
            if outcome.status == "failed":
                # The reason may name the library folder on the server; the officer knows the file by its name.
                st.error(shell.as_text(f"{name}: {outcome.reason.replace(str(library_dir) + '/', '')}"))
                Path(outcome.source).unlink(missing_ok=True)  # a failed upload must not linger in the library
            else:
                st.success(shell.as_text(f"{name}: {outcome.status}"
                                         + (f" — {outcome.doc_id} v{outcome.version}, {outcome.clauses} clauses"
                                            if outcome.status in {"added", "updated"} else "")))
        record_ingest(shell.audit_log(), user.username, ", ".join(p.name for p in saved), report,
                      settings.fingerprint(), access=access)

else:
    st.caption("Adding or updating policies is for the risk team and administrators; ask them to upload a new "
               "version. 上传政策仅限风险管理人员和管理员。")

if user.is_admin:
    st.subheader("Uploads pending review")
    try:
        pending = register.pending()  # read again: an upload above may have just added one
    except XiaoshenError:
        pending = []  # the damaged register was reported at the top of the page
    everything = index.documents()
    summaries = {d.source: d for d in everything}
    if not pending:
        st.caption("Every uploaded document has been reviewed.")
    else:
        st.caption("Uploaded documents are answerable at once: read each one, then mark it reviewed. A new version "
                   "becomes current for its doc id; any clause may outrank the policy meant to answer a question.")
        rows = []
        for u in pending:
            summary = summaries.get(u.source)
            others = [f"v{d.version} ({d.status})" for d in everything if d.doc_id == u.doc_id and d.source != u.source]
            rows.append({"file": display_name(Path(u.source).name), "document": u.doc_id, "version": u.version,
                         "status": summary.status if summary else "not in the index",
                         "other versions": ", ".join(others), "uploaded by": u.uploaded_by,
                         "uploaded": u.uploaded_at, "suspicious clauses": summary.suspicious_clauses if summary else 0})
        st.dataframe(rows, hide_index=True, width="stretch", key="pending_table")
        choices = {f"{u.doc_id} v{u.version} — {display_name(Path(u.source).name)}": u for u in pending}
        chosen_upload = st.selectbox("Upload", list(choices), index=None, key="review_choice")
        if chosen_upload and st.button("Mark reviewed", key="mark_reviewed"):
            try:
                upload = register.mark_reviewed(choices[chosen_upload].source, user.username)
            except XiaoshenError as exc:
                st.error(str(exc))
                st.stop()
            shell.audit_log().append(user=user.username, action="document_reviewed", subject=Path(upload.source).name,
                                     documents=[f"{upload.doc_id} v{upload.version}"],
                                     details={"content_hash": upload.content_hash, "uploaded_by": upload.uploaded_by})
            st.session_state["library_flash"] = f"Marked {upload.doc_id} v{upload.version} reviewed."
            st.rerun()

    st.subheader("Remove a document")
    st.caption("Removes the version's clauses from the index. A file in a folder that is ingested again "
               "(e.g. `make run` ingests data/sample_policies) comes back; delete the file there too.")
    labels = {f"{d.doc_id} v{d.version} — {d.title} ({display_name(Path(d.source).name)})": d for d in everything}
    chosen = st.selectbox("Document version", list(labels), index=None, key="remove_choice")
    confirm = st.checkbox("I understand this removes the document from every user's answers", key="remove_confirm")
    if chosen and confirm and st.button("Remove", key="remove"):
        doc = labels[chosen]
        removed = index.delete_source(doc.source)
        refresh_statuses(index, doc_ids=[doc.doc_id])
        register.forget(doc.source)
        shell.audit_log().append(user=user.username, action="remove_document", subject=Path(doc.source).name,
                                 documents=[f"{doc.doc_id} v{doc.version}"], details={"clauses": removed})
        st.session_state["library_flash"] = f"Removed {doc.doc_id} v{doc.version} ({removed} clauses)."
        st.rerun()
