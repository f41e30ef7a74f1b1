"""What every page shares: settings, the index, the signed-in user, the audit log and how a clause or a
citation is shown. Pages stay thin: the work is done by the same core functions the CLI calls."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

import sources
import streamlit as st
import warmup

from xiaoshen.access import User, UserDirectory
from xiaoshen.audit import AuditLog, open_audit_log
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import ClauseFilter
from xiaoshen.review.note import ReviewNote
from xiaoshen.safetext import display_name
from xiaoshen.sessions import COOKIE_NAME, SessionStore, offer_token, open_session_store, signing_key, unsign
from xiaoshen.settings import Settings, load_settings
from xiaoshen.text import literal_markdown
from xiaoshen.types import Answer, Citation, Clause, DocumentSummary

DISCLAIMER = ("Xiaoshen drafts; a person decides. Every statement cites the clause it rests on — check it at "
              "its source before you rely on it.")
APP_DIR = Path(__file__).resolve().parent
# Streamlit serves app/static at /app/static when static serving is on (see `xiaoshen app`); source
# files are copied there so a citation can open the PDF at its page.
STATIC_SOURCES = APP_DIR / "static" / "sources"
# Static files are served to anyone, signed in or not: the folder of a copied source is named by a keyed
# hash with a key of this server process, so nobody can derive the URL of a (restricted) document from its
# path — only a user shown the citation gets it.
_SOURCE_LINK_KEY = secrets.token_bytes(32)


def _forget_old_source_copies(max_age_s: float = 24 * 3600) -> None:
    # Every server start has a new key, hence new folders; copies a day old belong to servers long gone
    # (a live server re-copies a file on the next render anyway).
    if not STATIC_SOURCES.is_dir():
        return
    cutoff = time.time() - max_age_s
    for folder in STATIC_SOURCES.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


_forget_old_source_copies()


def as_text(text: str) -> str:
    """Policy or user text for st.markdown, escaped so it can never turn into markup."""
    return literal_markdown(text)


def settings() -> Settings:
    if "settings" not in st.session_state:
        st.session_state["settings"] = load_settings()
    return st.session_state["settings"]  # type: ignore[no-any-return]


def index() -> ClauseIndex:
    """The shared index for these settings, warmed once per server process (app/warmup.py); until the
    models are loaded the page says what is loading, then carries on."""
    job = warmup.start(settings())
    if not job.done.is_set():
        with st.status(warmup.label(job.phase), expanded=False) as status:
            while not job.done.wait(0.5):
                status.update(label=warmup.label(job.phase))
            if job.error is None:
                status.update(label="The policy index is ready. 政策索引已就绪。", state="complete")
            else:
                status.update(label="The policy index could not be opened. 政策索引无法打开。", state="error")
    if job.error is not None or job.index is None:
        st.error(f"The policy index could not be opened: {job.error}")
        st.caption("Fix the cause (see `make index` and the settings in the README), then reload the page.")
        st.stop()
    assert job.index is not None
    return job.index


def readiness_caption() -> str:
    """The models' state for the sidebar: loading what, or ready and how long it took from server start."""
    job = warmup.start(settings())
    if not job.done.is_set():
        return warmup.label(job.phase)
    if job.error:
        return "The policy index failed to open: " + job.error
    took = f" (warmed up in {job.ready_after_s:.0f} s)" if job.ready_after_s is not None else ""
    return f"Models ready{took}. 模型已就绪。"


EMPTY_INDEX = ("The policy index is empty: no policies have been ingested yet, so there is nothing to answer or "
               "check against. Run `make index` (or `xiaoshen ingest data/sample_policies`), or upload "
               "policies in Library. 政策索引为空：请先运行 `make index` 或在 Library 页面上传政策。")


def require_policies(user: User, page_title: str) -> bool:
    """Whether this page has policies to work with; if not, the page's title and why not, with the next step
    (an empty index must not read as "the policies do not address this")."""
    if index().count() == 0:
        st.title(page_title)
        st.warning(EMPTY_INDEX)
        return False
    if not visible_documents(user):
        st.title(page_title)
        st.warning(f"No policy in the index is readable for your roles ({', '.join(user.roles)}). Ask an "
                   "administrator to grant access. 当前角色没有可阅读的政策，请联系管理员。")
        return False
    return True


def directory() -> UserDirectory:
    return UserDirectory.load(settings().access.users_file)


def audit_log() -> AuditLog:
    return open_audit_log(settings().access.audit_log, settings().audit)


def session_store() -> SessionStore:
    return open_session_store(settings().access)


def client_address() -> str:
    """Who is asking, for the per-client sign-in limit: the browser's address as the server sees it."""
    try:
        address = st.context.ip_address
    except Exception:  # no request context (AppTest): one shared client
        address = None
    return address if isinstance(address, str) and address else "unknown"


def start_session(user: User, via: str) -> None:
    """Signed in: a server-side session, its token handed to the browser as an HttpOnly cookie (see
    app/server.py), the user's saved work restored."""
    store = session_store()
    token = store.create(user.username, client_address())
    st.session_state["user"] = user
    st.session_state["session_id"] = hashlib.sha256(token.encode()).hexdigest()
    st.session_state["cookie_code"] = offer_token(token)
    st.session_state.pop("forget_cookie", None)  # signed out and in again in this tab: the new cookie stays
    audit_log().append(user=user.username, action="sign_in", details={"roles": list(user.roles), "via": via})
    restore_work(user)


def _session_user(username: str) -> User | None:
    # Roles are read again from the users file, so a changed role or a removed user counts at once.
    record = directory().users.get(username)
    return None if record is None else User.model_validate(record.model_dump(exclude={"password_hash"}))


def _end_here(notice: str | None) -> None:
    for key in list(st.session_state):
        del st.session_state[key]
    st.session_state["forget_cookie"] = True
    if notice:
        st.session_state["sign_in_notice"] = notice


def _expired(username: str) -> None:
    hours = settings().access.session_idle_hours
    audit_log().append(user=username, action="session_expired")
    _end_here(f"Your session ended after {hours:g} hours without use; sign in again. 会话已过期，请重新登录。")


def current_user() -> User | None:
    """The signed-in user: of this browser tab, or of this browser's session cookie after a reload. A
    session ended elsewhere (signed out, expired) ends here too, on the next run."""
    user: User | None = st.session_state.get("user")
    session_id = st.session_state.get("session_id")
    if user is not None and session_id is not None:
        resolved = session_store().resolve_id(session_id)
        if resolved.session is not None:
            return user
        if resolved.expired is not None:
            _expired(user.username)
        else:
            _end_here("You were signed out (from this or another window). 您已退出登录。")
        return None
    if user is not None:
        return user
    return _resume_from_cookie()


def _resume_from_cookie() -> User | None:
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:
        value = None
    # Outside a browser request (AppTest) the context holds no real cookies.
    if not isinstance(value, str) or not value or st.session_state.get("forget_cookie"):
        return None
    access = settings().access
    token = unsign(value, signing_key(access.sessions_path().with_suffix(".key")))
    if token is None:
        st.session_state["forget_cookie"] = True
        return None
    store = session_store()
    resolved = store.resolve(token)
    if resolved.session is None:
        if resolved.expired is not None:
            _expired(resolved.expired.username)
        else:
            st.session_state["forget_cookie"] = True
        return None
    user = _session_user(resolved.session.username)
    if user is None:
        store.end_all(resolved.session.username)
        _end_here(None)
        return None
    st.session_state["user"] = user
    st.session_state["session_id"] = resolved.session.id
    audit_log().append(user=user.username, action="session_resumed")
    restore_work(user)
    return user


def sign_out(user: User) -> None:
    """Sign out everywhere: every session of this user ends on the server, and this browser forgets its cookie."""
    ended = session_store().end_all(user.username)
    audit_log().append(user=user.username, action="sign_out", details={"sessions_ended": ended})
    _end_here(None)


def _browser_post(path: str, fields: dict[str, str]) -> None:
    # The one way a Streamlit page can make its browser send a request: a tiny same-origin frame whose
    # script posts the form; the response's Set-Cookie (HttpOnly) lands in this browser, not in any script.
    script = (f"<script>fetch({json.dumps(path)}, {{method: 'POST', credentials: 'same-origin', headers: "
              f"{{'Content-Type': 'application/x-www-form-urlencoded'}}, body: {json.dumps(urlencode(fields))}}})"
              "</script>")
    st.iframe(script, height=1)


def cookie_exchange() -> None:
    """Render the frame that sets (after sign-in) or forgets (after sign-out) this browser's session cookie."""
    from xiaoshen.sessions import is_offered

    code = st.session_state.get("cookie_code")
    if code and is_offered(code):
        _browser_post("/xiaoshen/session", {"code": code})
    elif code:
        del st.session_state["cookie_code"]
    if st.session_state.get("forget_cookie"):
        _browser_post("/xiaoshen/session/end", {})


# --- work kept on the server ------------------------------------------------------------------------

def restore_work(user: User) -> None:
    """Put the user's saved conversation and note back into this session (after a reload or a sign-in)."""
    store = session_store()
    try:
        chat = store.load_work(user.username, "chat", reader=user.username, reader_is_admin=user.is_admin)
        if chat and "chat" not in st.session_state:
            st.session_state["chat"] = [Answer.model_validate(a) for a in chat]
        saved = store.load_work(user.username, "note", reader=user.username, reader_is_admin=user.is_admin)
        if saved and "note" not in st.session_state:
            st.session_state["note"] = ReviewNote.model_validate(saved["note"])
            if saved.get("note_md") is not None:
                st.session_state["note_md"] = saved["note_md"]
    except (ValueError, TypeError, KeyError) as exc:
        # Saved under an older version of the app: shown, not fatal.
        st.session_state["restore_notice"] = f"Your saved work could not be restored ({type(exc).__name__})."


def keep_note_text() -> None:
    """The edited draft outlives a visit to another page: Streamlit drops the text box's state when its page
    is not shown, so it is put back from the server before the Review page draws it."""
    if "note" in st.session_state and "note_md" not in st.session_state:
        user = st.session_state.get("user")
        if user is None:
            return
        saved = session_store().load_work(user.username, "note", reader=user.username, reader_is_admin=user.is_admin)
        if saved and saved.get("note_md") is not None:
            st.session_state["note_md"] = saved["note_md"]


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def save_work(user: User) -> None:
    """Keep this session's conversation and note on the server when they changed (called after each run)."""
    store = session_store()
    chat = st.session_state.get("chat")
    if chat is not None:
        payload = [a.model_dump(mode="json") for a in chat]
        digest = _digest(payload)
        if st.session_state.get("_saved_chat") != digest:
            store.save_work(user.username, "chat", payload)
            st.session_state["_saved_chat"] = digest
    note: ReviewNote | None = st.session_state.get("note")
    if note is not None and "note_md" in st.session_state:
        payload = {"note": note.model_dump(mode="json"), "note_md": st.session_state["note_md"]}
        digest = _digest(payload)
        if st.session_state.get("_saved_note") != digest:
            store.save_work(user.username, "note", payload)
            st.session_state["_saved_note"] = digest


def require_user() -> User:
    user = current_user()
    if user is None:
        st.stop()
    assert user is not None
    return user


def reader_filter(user: User, base: ClauseFilter | None = None) -> ClauseFilter:
    """The user's filter: what they chose, narrowed to the documents their roles may read."""
    return (base or ClauseFilter()).for_roles(list(user.roles))


def visible_documents(user: User) -> list[DocumentSummary]:
    readable = reader_filter(user)
    return [d for d in index().documents() if readable.allows(d)]


def filter_controls(user: User, documents: list[DocumentSummary], *, key_prefix: str = "",
                    current_only: bool = False) -> ClauseFilter:
    """Sidebar widgets for documents, language and current versions; the filter they choose, for this user."""
    labels = {f"{d.doc_id} v{d.version} — {d.title}": d.doc_id for d in documents}
    chosen = st.multiselect("Documents", list(labels), key=f"{key_prefix}documents")
    language = st.selectbox("Language", ["any", "en", "zh"], key=f"{key_prefix}language")
    current = st.toggle("Current versions only", value=current_only, key=f"{key_prefix}current_only")
    return reader_filter(user, ClauseFilter(doc_ids=sorted({labels[c] for c in chosen}),
                                            languages=[] if language == "any" else [language], current_only=current))


def clause_by_id(clause_id: str, user: User) -> Clause | None:
    """A clause the user may read, by id (None if it is gone or restricted)."""
    clause = index().clause(clause_id)
    return clause if clause is not None and reader_filter(user).allows(clause) else None


def source_link(source: str, page: int | None) -> str | None:
    """A URL that opens the source file (a PDF at the cited page), or None if the file is gone."""
    path = Path(source)
    if not path.is_file():
        return None
    digest = hmac.new(_SOURCE_LINK_KEY, str(path.resolve()).encode(), hashlib.sha256).hexdigest()[:32]
    if path.suffix.lower() in sources.MARKDOWN_SUFFIXES:
        rendered = sources.write_rendered(path, STATIC_SOURCES / digest)
        return f"app/static/sources/{digest}/{url_quote(rendered.name)}"
    target = STATIC_SOURCES / digest / path.name
    if not target.exists() or target.stat().st_mtime < path.stat().st_mtime:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    # Quoted: a file name with a space or a bracket (an uploaded "Credit Policy (2025).pdf") would
    # otherwise end the Markdown link and show it as plain text.
    url = f"app/static/sources/{digest}/{url_quote(path.name)}"
    return f"{url}#page={page}" if page and path.suffix.lower() == ".pdf" else url


def highlighted(text: str, quote: str) -> str:
    """Clause text as literal Markdown with the quoted words highlighted (both escaped first)."""
    start = text.find(quote.strip()) if quote.strip() else -1
    if start < 0:
        return as_text(text)
    end = start + len(quote.strip())
    return (as_text(text[:start]) + ":orange-background[" + as_text(text[start:end]) + "]"
            + as_text(text[end:]))


def scan_caution(clause: Clause) -> str:
    """The note beside a citation whose text was recognised from a scan (OCR can misread figures)."""
    return (f"Text recognised from a scan: check against the page (OCR confidence {clause.ocr_confidence:.0f}%) · "
            "文字由扫描件识别，请对照原页核对")


def show_citation(citation: Citation, user: User, *, expanded: bool = False) -> None:
    """One citation: label, document, version, section, page, the clause with the quote highlighted, a
    link to the source file."""
    status = " · superseded version" if citation.status == "superseded" else ""
    with st.expander(f"[{citation.n}] {citation.label} — {citation.title}{status}", expanded=expanded):
        page = f", page {citation.page}" if citation.page else ""
        st.caption(f"{citation.doc_id} version {citation.version} · section {citation.section}{page}")
        clause = clause_by_id(citation.clause_id, user)
        if clause is not None and clause.ocr:
            st.warning(scan_caution(clause))
        st.markdown(highlighted(clause.text if clause else citation.quote, citation.quote))
        link = source_link(citation.source, citation.page)
        if link:
            st.markdown(f"[Open the source file{page}]({link})")
        else:
            st.caption(as_text(f"Source: {display_name(citation.source)}"))


def sidebar_identity(user: User) -> None:
    with st.sidebar:
        st.markdown(f"**{as_text(user.name)}**")
        st.caption("Roles: " + ", ".join(user.roles))
        if st.button("Sign out", key="sign_out", help="Ends your session in every browser and window."):
            sign_out(user)
            st.rerun()
        st.caption(readiness_caption())
        st.caption(DISCLAIMER)
        cookie_exchange()
