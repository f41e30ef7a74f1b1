"""Xiaoshen 小审 — the web app: sign in, then ask, search, review, batch, library and (admins) audit."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `shell` and `views` beside this file

import shell

st.set_page_config(page_title="Xiaoshen 小审", page_icon="📑", layout="wide")

# Every page, by its file, title and URL path; the ones that need policies in the index to do their work.
PAGES = {
    "Policy": [("views/ask.py", "Ask", ":material/chat:"), ("views/search.py", "Search", ":material/search:")],
    "Credit review": [("views/review.py", "Review", ":material/description:"),
                      ("views/batch.py", "Batch", ":material/library_books:")],
    "Policies": [("views/library.py", "Library", ":material/folder_open:")],
    "Administration": [("views/audit.py", "Audit", ":material/verified_user:")],
}
NEEDS_POLICIES = {"Ask": "Ask the policies", "Search": "Search the policies", "Review": "Draft a credit review note",
                  "Batch": "Batch review notes"}


def sign_in() -> None:
    st.title("Xiaoshen 小审")
    st.caption("A credit-policy assistant. " + shell.DISCLAIMER)
    if "sign_in_notice" in st.session_state:
        st.info(st.session_state.pop("sign_in_notice"))
    conf = shell.settings()
    if conf.access.oidc:
        _oidc_sign_in()
    with st.form("sign_in"):
        username = st.text_input("Username", key="username")
        password = st.text_input("Password", type="password", key="password")
        submitted = st.form_submit_button("Sign in")
    shell.cookie_exchange()
    if submitted:
        name, client = username.strip()[:64] or "(blank)", shell.client_address()
        store = shell.session_store()
        wait = store.blocked_for(name, client)
        if wait > 0:
            shell.audit_log().append(user=name, action="sign_in_refused", details={"client": client})
            st.error(f"Too many failed sign-ins. Try again in {math.ceil(wait / 60)} minute(s). "
                     "登录失败次数过多，请稍后再试。")
            return
        try:
            user = shell.directory().authenticate(username, password)
        except Exception as exc:  # a broken users file must be visible, not a blank page
            st.error(str(exc))
            return
        if user is None:
            store.record_failure(name, client)
            shell.audit_log().append(user=name, action="sign_in_failed", details={"client": client})
            st.error("Unknown username or wrong password.")
            return
        store.clear_failures(user.username)
        shell.start_session(user, via="password")
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
    shell.start_session(user, via="oidc")
    st.rerun()


user = shell.current_user()
if user is None:
    # Every page's URL shows the sign-in form (not "Page not found"); signed in, the same URL opens the page.
    hidden = [st.Page(sign_in, title=title, url_path=Path(file).stem, visibility="hidden")
              for section in PAGES.values() for file, title, _ in section]
    page = st.navigation([st.Page(sign_in, title="Sign in", icon=":material/login:", default=True), *hidden])
    page.run()
else:
    shell.sidebar_identity(user)
    pages = {section: [st.Page(file, title=title, icon=icon, default=title == "Ask",
                               # An officer's pasted /audit URL opens the page's refusal, not "Page not found".
                               visibility="visible" if title != "Audit" or user.is_admin else "hidden")
                       for file, title, icon in entries]
             for section, entries in PAGES.items()}
    page = st.navigation(pages)
    if "restore_notice" in st.session_state:
        st.warning(st.session_state.pop("restore_notice"))
    shell.keep_note_text()
    try:
        if page.title not in NEEDS_POLICIES or shell.require_policies(user, NEEDS_POLICIES[page.title]):
            page.run()
    finally:
        # After every run, also one a page ends with st.stop or st.rerun: a reload must not lose the work.
        shell.save_work(user)
