"""Search: the policy clauses that best match a question, with document, section and page."""

from __future__ import annotations

import shell
import streamlit as st

from xiaoshen.errors import XiaoshenError
from xiaoshen.retrieve import search

user = shell.require_user()
settings = shell.settings()
index = shell.index()
documents = shell.visible_documents(user)

st.title("Search the policies")
st.caption("Xiaoshen finds and cites policy clauses; it drafts, a person decides. Check every clause at its source.")
if not documents:  # the shell has said why already (empty index, or nothing readable for this role)
    st.stop()

with st.sidebar:
    st.header("Filters")
    filters = shell.filter_controls(user, documents)
    k = st.slider("Clauses to show", 1, 20, 5, key="k")

query = st.text_input("Ask about the lending policy", key="query",
                      placeholder="e.g. maximum LTV for owner-occupied commercial real estate")
if query.strip():
    try:
        hits = search(query, index=index, settings=settings, k=k, filters=filters)
    except XiaoshenError as exc:
        st.error(str(exc))
        hits = []
    if not hits:
        st.info("No clause matches this question. Try other words, or remove filters.")
    for hit in hits:
        clause = hit.clause
        with st.container(border=True):
            status = " · :orange[superseded version]" if clause.status == "superseded" else ""
            st.markdown(f"**{hit.rank}. {shell.as_text(clause.label)}**{status}")
            # The heading path starts with the document's own title: shown once, not twice.
            heading = clause.heading.removeprefix(clause.title).removeprefix(" › ")
            st.caption(" · ".join(p for p in (clause.title, heading) if p)
                       + f" · effective {clause.effective_date or 'n/a'}")
            if clause.ocr:
                st.warning(shell.scan_caution(clause))
            st.markdown(shell.as_text(clause.text))
            link = shell.source_link(clause.source, clause.page_start)
            st.markdown(f"[Open the source file]({link})" if link else shell.as_text(f"Source: {clause.source}"))
