"""Xiaoshen 小审 — the web app: sign in, then ask, search, review, batch, library and (admins) audit."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `shell` and `views` beside this file

import shell

st.set_page_config(page_title="Xiaoshen 小审", page_icon="📑", layout="wide")


def sign_in() -> None:
    st.title("Xiaoshen 小审")
    st.caption("A credit-policy assistant. " + shell.DISCLAIMER)
    conf = shell.settings()
    if conf.access.oidc:
        _oidc_sign_in()
    with st.form("sign_in"):
        username = st.text_input("Username", key="username")
        password = st.text_input("Password", type="password", key="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        try:
            user = shell.directory().authenticate(username, password)
        except Exception as exc:  # a broken users file must be visible, not a blank page
            st.error(str(exc))
            return
        if user is None:
            shell.audit_log().append(user=username.strip()[:64] or "(blank)", action="sign_in_failed")
            st.error("Unknown username or wrong password.")
            return
        shell.audit_log().append(user=user.username, action="sign_in", details={"roles": list(user.roles)})
        st.session_state["user"] = user
        st.rerun()


def _oidc_sign_in() -> None:
    # Streamlit's built-in OIDC (st.login) proves who the person is; roles still come from the users
    # file, matched by e-mail, so an unknown identity gets no access at all.
    if not st.user.is_logged_in:
        if st.button("Sign in with single sign-on"):
            st.login()
        return
    user = shell.directory().by_email(str(st.user.get("email", "")))
    if user is None:
        st.error(f"{st.user.get('email')} is not a Xiaoshen user; ask an administrator to add you.")
        return
    shell.audit_log().append(user=user.username, action="sign_in", details={"via": "oidc"})
    st.session_state["user"] = user
    st.rerun()


user = shell.current_user()
if user is None:
    page = st.navigation([st.Page(sign_in, title="Sign in", icon=":material/login:")])
else:
    shell.sidebar_identity(user)
    pages = {
        "Policy": [st.Page("views/ask.py", title="Ask", icon=":material/chat:", default=True),
                   st.Page("views/search.py", title="Search", icon=":material/search:")],
        "Credit review": [st.Page("views/review.py", title="Review", icon=":material/description:"),
                          st.Page("views/batch.py", title="Batch", icon=":material/library_books:")],
        "Policies": [st.Page("views/library.py", title="Library", icon=":material/folder_open:")],
    }
    if user.is_admin:
        pages["Administration"] = [st.Page("views/audit.py", title="Audit", icon=":material/verified_user:")]
    page = st.navigation(pages)
page.run()
