"""Xiaoshen — search page: a question in, the policy clauses that answer it out, with their sources."""

from __future__ import annotations

import streamlit as st

from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import ClauseFilter, search
from xiaoshen.settings import Settings, load_settings
from xiaoshen.text import literal_markdown as as_text

st.set_page_config(page_title="Xiaoshen 小审 — policy search", page_icon="📑", layout="wide")

@st.cache_resource(show_spinner="Loading the index and the embedding model…")
def open_index(fingerprint: str, _settings: Settings) -> ClauseIndex:
    return ClauseIndex(_settings)


settings = load_settings()
st.title("Xiaoshen 小审 · policy search")
st.caption("Xiaoshen finds and cites policy clauses; it drafts, a person decides. Check every clause at its source.")

try:
    index = open_index(settings.fingerprint(), settings)
    documents = index.documents()
except XiaoshenError as exc:
    st.error(str(exc))
    st.stop()

if not documents:
    st.warning("The index is empty. Ingest policies first: `xiaoshen ingest data/sample_policies`.")
    st.stop()

with st.sidebar:
    st.header("Filters")
    doc_labels = {f"{d.doc_id} v{d.version} — {d.title}": d.doc_id for d in documents}
    chosen = st.multiselect("Documents", list(doc_labels), key="documents")
    language = st.selectbox("Language", ["any", "en", "zh"], key="language")
    current_only = st.toggle("Current versions only", value=False, key="current_only")
    k = st.slider("Clauses to show", 1, 20, 5, key="k")
    st.caption(f"{len(documents)} documents · {index.count()} clauses")

query = st.text_input("Ask about the lending policy", key="query",
                      placeholder="e.g. maximum LTV for owner-occupied commercial real estate")
if query.strip():
    filters = ClauseFilter(
        doc_ids=sorted({doc_labels[c] for c in chosen}),
        languages=[] if language == "any" else [language],
        current_only=current_only,
    )
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
            st.markdown(f"**{hit.rank}. {as_text(clause.label)}**{status}")
            st.caption(f"{clause.title} · {clause.heading} · effective {clause.effective_date or 'n/a'}")
            st.markdown(as_text(clause.text))
            st.caption(f"Source: {clause.source}")
