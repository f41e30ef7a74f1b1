"""Audit (administrators): who asked, drafted, ingested or removed what, with the cited clauses and
versions; verify the hash chain; export."""

from __future__ import annotations

import typing

import shell
import streamlit as st
import tables

from xiaoshen.audit import Action, AuditEntry, filter_entries
from xiaoshen.errors import XiaoshenError


def entry_rows(entry: AuditEntry) -> list[dict[str, str]]:
    """One entry in full, a field a row: every document and clause it rests on, not cut to a column's width."""
    confidence = entry.details.get("confidence")
    rows = [("Time (UTC)", entry.time.replace("T", " ").removesuffix("+00:00")), ("User", entry.user),
            ("Action", entry.action), ("Subject", entry.subject),
            ("Documents", ", ".join(entry.documents) or "none"),
            ("Clauses", ", ".join(entry.clause_ids) or "none"), ("Backend", entry.backend or ""),
            ("Answer confidence", f"{confidence:.0%}" if isinstance(confidence, int | float) else ""),
            ("Quotes faithful", f"{entry.groundedness:.0%}" if entry.groundedness is not None else ""),
            ("Settings fingerprint", entry.settings_hash or "")]
    return [{"field": name, "value": value} for name, value in rows if value]


user = shell.require_user()
if not user.is_admin:
    st.title("Audit log")
    st.error("The audit log is for administrators only: it records every sign-in, question, review note and "
             f"policy change. You are signed in as {user.username} ({', '.join(user.roles)}); ask an "
             "administrator if you need an entry from it. 审计日志仅供管理员查看。")
    st.stop()

log = shell.audit_log()
st.title("Audit log")
st.caption("Every sign-in, question, answer, review note, batch, ingest and removal, each entry holding a "
           "keyed hash (HMAC) of the one before, anchored by signed checkpoints kept elsewhere: editing, "
           "forging or deleting any line breaks the chain.")

if st.button("Verify the chain", key="verify"):
    try:
        report = log.verify()
    except XiaoshenError as exc:
        st.error(str(exc))
    else:
        if report.ok:
            st.success(f"Intact: {report.entries} entries, every HMAC, link and checkpoint verified.")
        else:
            st.error(f"The log has been tampered with ({len(report.problems)} problem(s)):")
            for problem in report.problems:
                st.markdown("- " + shell.as_text(problem))
        for warning in report.warnings:
            st.warning(shell.as_text(warning))
        st.caption(shell.as_text(report.checkpoint_line()))

entries = log.entries()
c1, c2, c3, c4, c5 = st.columns(5)
who = c1.selectbox("User", ["any", *sorted({e.user for e in entries})], key="audit_user")
action = c2.selectbox("Action", ["any", *typing.get_args(Action)], key="audit_action")
since = c3.date_input("From", value=None, key="audit_since")
until = c4.date_input("To", value=None, key="audit_until")
text = c5.text_input("Subject contains", key="audit_text")
shown = filter_entries(entries, user=None if who == "any" else who, action=None if action == "any" else action,
                       since=since.isoformat() if since else None, until=until.isoformat() if until else None,
                       text=text or None)
st.caption(f"{len(shown)} of {len(entries)} entries. Select a row to see everything the entry records.")
newest_first = list(reversed(shown))
# Laid out for a 1400-pixel window: the columns an administrator scans, each wide enough for its words; the
# documents in full, the clauses, backend, scores and the settings fingerprint are in the entry below.
grid = st.dataframe(
    [{"seq": e.seq, "time": e.time[:16].replace("T", " "), "user": e.user, "action": e.action, "subject": e.subject,
      "documents": ", ".join(e.documents), "hash": e.hash[:12]} for e in newest_first],
    # Keyed by the filters: a row selected under other filters must not pick an entry of this list.
    hide_index=True, width="stretch", key=f"audit_table:{who}:{action}:{since}:{until}:{text}", on_select="rerun",
    selection_mode="single-row",
    column_config={
        "seq": st.column_config.NumberColumn("seq", width=50),
        "time": st.column_config.TextColumn("time (UTC)", width=130),
        "user": st.column_config.TextColumn("user", width=75),
        "action": st.column_config.TextColumn("action", width=115),
        "subject": st.column_config.TextColumn("subject", width=210),
        "documents": st.column_config.TextColumn("documents", width=215),
        "hash": st.column_config.TextColumn("hash", width=110),
    })
selected = grid.selection.rows if grid else []
entry = newest_first[selected[0]] if selected and selected[0] < len(newest_first) else (
    newest_first[0] if newest_first else None)
if entry is not None:
    st.markdown(f"#### Entry {entry.seq}: {shell.as_text(entry.action)} by {shell.as_text(entry.user)}")
    st.caption("The newest entry shown; select a row to see another." if not selected else "The selected entry.")
    tables.show_table(entry_rows(entry), columns={"field": "Field", "value": "Value"},
                      values={"field": str, "value": shell.as_text})  # a subject is the user's own words
    # In full, as `xiaoshen audit show` prints them; a table cell would cut a 64-digit hash off.
    st.markdown(f"Hash `{entry.hash}`  \nPrevious hash `{entry.prev_hash}`")
    if entry.details:
        with st.expander("Details as recorded"):
            st.json(entry.details, expanded=True)

c1, c2 = st.columns(2)
for column, fmt, mime in ((c1, "csv", "text/csv"), (c2, "jsonl", "application/x-ndjson")):
    column.download_button(f"Export {fmt.upper()}", log.export(shown, fmt), f"xiaoshen-audit.{fmt}", mime=mime,
                           key=f"export_{fmt}",
                           on_click=lambda f=fmt: log.append(user=user.username, action="audit_export",
                                                             details={"format": f, "entries": len(shown)}))
