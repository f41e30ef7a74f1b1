"""What every page shares: settings, the index, the signed-in user, the audit log and how a clause or a
citation is shown. Pages stay thin: the work is done by the same core functions the CLI calls."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import shutil
import time
from pathlib import Path
from urllib.parse import quote as url_quote

import streamlit as st

from xiaoshen.access import User, UserDirectory
from xiaoshen.audit import AuditLog, open_audit_log
from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import ClauseFilter
from xiaoshen.safetext import display_name
from xiaoshen.settings import Settings, load_settings
from xiaoshen.text import literal_markdown
from xiaoshen.types import Citation, Clause, DocumentSummary

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


@st.cache_resource(show_spinner="Loading the index and the embedding model…")
def _open_index(fingerprint: str, _settings: Settings) -> ClauseIndex:
    return ClauseIndex(_settings)


def index() -> ClauseIndex:
    """The shared index for these settings, opened once per server process."""
    conf = settings()
    try:
        return _open_index(conf.fingerprint(), conf)
    except XiaoshenError as exc:
        st.error(str(exc))
        st.stop()
        raise


def directory() -> UserDirectory:
    return UserDirectory.load(settings().access.users_file)


def audit_log() -> AuditLog:
    return open_audit_log(settings().access.audit_log, settings().audit)


def current_user() -> User | None:
    return st.session_state.get("user")


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
    clause = index().keyword_index().by_id.get(clause_id)
    return clause if clause is not None and reader_filter(user).allows(clause) else None


def source_link(source: str, page: int | None) -> str | None:
    """A URL that opens the source file (a PDF at the cited page), or None if the file is gone."""
    path = Path(source)
    if not path.is_file():
        return None
    digest = hmac.new(_SOURCE_LINK_KEY, str(path.resolve()).encode(), hashlib.sha256).hexdigest()[:32]
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
        if st.button("Sign out", key="sign_out"):
            for key in list(st.session_state):
                del st.session_state[key]
            st.rerun()
        st.caption(DISCLAIMER)
