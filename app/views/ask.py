"""Ask: a policy question in, a short answer out, every sentence cited or visibly flagged."""

from __future__ import annotations

import shell
import streamlit as st

from xiaoshen.answer import answer
from xiaoshen.audit import record_answer
from xiaoshen.errors import XiaoshenError
from xiaoshen.types import Answer

user = shell.require_user()
settings = shell.settings()
index = shell.index()
documents = shell.visible_documents(user)

st.title("Ask the policies")
st.caption(shell.DISCLAIMER)

with st.sidebar:
    st.header("Ask within")
    filters = shell.filter_controls(user, documents, key_prefix="ask_", current_only=True)
    st.caption(f"Answer backend: {settings.answer.backend}")
    if st.button("Clear the conversation", key="clear_chat"):
        st.session_state["chat"] = []


def show_answer(result: Answer) -> None:
    """The verified answer: sentences with markers, flags, then each citation openable."""
    if result.abstained:
        badge = ":orange-badge[Not mentioned]" if result.decline == "not_mentioned" else ":orange-badge[Not addressed]"
        with st.container(border=True):
            st.markdown(badge + " " + shell.as_text(result.answer))
            if result.see_also:
                st.caption("Nearest clauses, which do not answer the question:")
                for citation in result.see_also:
                    st.markdown("- " + shell.as_text(f"{citation.label} — {citation.title}"))
        return
    lines = []
    for sentence in result.sentences:
        marks = "".join(f"\\[{n}\\]" for n in sentence.citations)
        text = shell.as_text(sentence.text)
        if sentence.reasoning:
            lines.append(f":blue-badge[Assistant's note] {text} {marks}")
        elif not sentence.supported:
            lines.append(f":red-badge[Not supported by the cited clause] :red[{text}] {marks}")
        else:
            lines.append(f"{text} {marks}")
    st.markdown("\n\n".join(lines))
    # Two separate figures: whether the cited clauses answer this question, and whether the quotes are
    # faithful to them. A faithful quote of the wrong clause must not read as a correct answer.
    st.markdown(f"**Answer confidence {result.confidence:.0%}** — how likely the cited clauses answer this "
                f"question · **Quotes faithful {result.groundedness:.0%}** — the quoted words are in the cited "
                "clauses")
    if result.confidence < 0.5:
        st.warning("Low confidence: the cited clauses may not answer this question. Read them before relying "
                   "on the answer.")
    st.caption(f"backend {result.backend} · {len(result.citations)} clause(s) cited")
    for warning in result.warnings:
        st.warning(warning)
    for citation in result.citations:
        shell.show_citation(citation, user)


chat: list[Answer] = st.session_state.setdefault("chat", [])
for past in chat:
    with st.chat_message("user"):
        st.markdown(shell.as_text(past.question))
    with st.chat_message("assistant"):
        show_answer(past)

question = st.chat_input("Ask about lending policy, e.g. maximum LTV for owner-occupied CRE", key="question")
if question:
    with st.chat_message("user"):
        st.markdown(shell.as_text(question))
    with st.chat_message("assistant"):
        streamed = st.empty()
        tokens: list[str] = []

        def on_token(token: str) -> None:
            tokens.append(token)
            streamed.markdown(shell.as_text("".join(tokens)) + " ▌")

        try:
            with st.spinner("Searching the policies…"):
                result = answer(question, index=index, settings=settings, filters=filters, on_token=on_token)
        except XiaoshenError as exc:
            st.error(str(exc))
            st.stop()
        streamed.empty()
        record_answer(shell.audit_log(), user.username, result)
        chat.append(result)
        show_answer(result)
