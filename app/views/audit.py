"""Audit (administrators): who asked, drafted, ingested or removed what, with the cited clauses and
versions; verify the hash chain; export."""

from __future__ import annotations

import typing

import shell
import streamlit as st

from xiaoshen.audit import Action, filter_entries
from xiaoshen.errors import XiaoshenError

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
st.caption(f"{len(shown)} of {len(entries)} entries")
st.dataframe([{"seq": e.seq, "time": e.time, "user": e.user, "action": e.action, "subject": e.subject,
               "documents": ", ".join(e.documents), "clauses": len(e.clause_ids), "backend": e.backend or "",
               "confidence": e.details.get("confidence"), "groundedness": e.groundedness, "settings": e.settings_hash or "", "hash": e.hash[:12]}
              for e in reversed(shown)], hide_index=True, width="stretch", key="audit_table")

c1, c2 = st.columns(2)
for column, fmt, mime in ((c1, "csv", "text/csv"), (c2, "jsonl", "application/x-ndjson")):
    column.download_button(f"Export {fmt.upper()}", log.export(shown, fmt), f"xiaoshen-audit.{fmt}", mime=mime,
                           key=f"export_{fmt}",
                           on_click=lambda f=fmt: log.append(user=user.username, action="audit_export",
                                                             details={"format": f, "entries": len(shown)}))
