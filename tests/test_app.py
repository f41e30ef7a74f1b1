"""The Streamlit app, page by page and role by role, through Streamlit's AppTest over a real index."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, make_settings
from xiaoshen.audit import AuditLog
from xiaoshen.index import ClauseIndex

HOME = str(ROOT / "app" / "Home.py")
RESTRICTED = "NCB-RSK-009"
PASSWORDS = {"officer": "demo-officer", "risk": "demo-risk", "admin": "demo-admin"}


@pytest.fixture
def audit_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("XIAOSHEN_ACCESS__AUDIT_LOG", str(path))
    return path


@pytest.fixture
def app_for(sample_index: ClauseIndex, audit_path: Path, monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> Callable[[str | None], AppTest]:
    """A fresh app session over the sample index, signed in as the given demo user (or not at all)."""
    monkeypatch.setenv("XIAOSHEN_INDEX_DIR", str(sample_index.settings.index_dir))
    monkeypatch.setenv("XIAOSHEN_CACHE_DIR", str(sample_index.settings.keyword_cache_dir))

    def start(username: str | None) -> AppTest:
        at = AppTest.from_file(HOME, default_timeout=180).run()
        if username:
            sign_in(at, username, PASSWORDS[username])
            assert not at.exception and at.session_state["user"].username == username
        return at

    return start


def sign_in(at: AppTest, username: str, password: str) -> None:
    at.text_input(key="username").input(username)
    at.text_input(key="password").input(password)
    at.button[0].click().run()


def texts(at: AppTest) -> str:
    """Everything the page shows as text, for assertions about what a user can see."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.label for e in at.expander]
    parts += [str(x.value) for x in (*at.error, *at.warning, *at.info, *at.success)]
    return "\n".join(parts)


# --- signing in -------------------------------------------------------------------------------------

def test_the_sign_in_page_says_a_person_decides(app_for) -> None:  # type: ignore[no-untyped-def]
    at = app_for(None)
    assert not at.exception
    assert any("a person decides" in c.value for c in at.caption)


def test_a_wrong_password_is_refused_and_recorded(app_for, audit_path: Path) -> None:  # type: ignore[no-untyped-def]
    at = app_for(None)
    sign_in(at, "officer", "guess")
    assert "user" not in at.session_state
    assert any("wrong password" in e.value for e in at.error)
    [entry] = AuditLog(audit_path).entries()
    assert entry.action == "sign_in_failed" and entry.user == "officer"


def test_only_admins_get_the_audit_page_and_an_officer_is_told_so(app_for) -> None:  # type: ignore[no-untyped-def]
    officer = app_for("officer")
    officer.switch_page(str(ROOT / "app" / "views" / "audit.py")).run()
    assert not officer.exception and not officer.dataframe
    assert any("for administrators only" in e.value for e in officer.error), texts(officer)
    admin = app_for("admin")
    admin.switch_page(str(ROOT / "app" / "views" / "audit.py")).run()
    assert not admin.exception and admin.title[0].value == "Audit log"


def test_sign_in_attempts_are_counted_against_the_limit(app_for, audit_path: Path,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XIAOSHEN_ACCESS__SIGN_IN_FAILURES_PER_USER", "3")
    at = app_for(None)
    for _ in range(3):
        sign_in(at, "officer", "guess")
        assert any("wrong password" in e.value for e in at.error)
    sign_in(at, "officer", PASSWORDS["officer"])  # the right password, but over the limit
    assert "user" not in at.session_state
    assert any("Too many failed sign-ins" in e.value for e in at.error)
    actions = [e.action for e in AuditLog(audit_path).entries()]
    assert actions == ["sign_in_failed"] * 3 + ["sign_in_refused"]
    other = app_for(None)
    sign_in(other, "risk", PASSWORDS["risk"])  # another user is not locked out
    assert other.session_state["user"].username == "risk"


def test_signing_out_ends_the_session_in_every_window(app_for, audit_path: Path) -> None:  # type: ignore[no-untyped-def]
    window, other_window = app_for("officer"), app_for("officer")
    window.button(key="sign_out").click().run()
    assert window.text_input(key="username") is not None
    other_window.run()
    assert "user" not in other_window.session_state
    assert any("signed out" in i.value for i in other_window.info)
    entries = AuditLog(audit_path).entries()
    assert entries[-1].action == "sign_out" and entries[-1].details["sessions_ended"] == 2


def test_an_idle_session_expires_and_the_expiry_is_recorded(app_for, audit_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    at = app_for("officer")
    with sqlite3.connect(audit_path.with_name("sessions.sqlite")) as db:  # nine hours pass, unused
        db.execute("UPDATE sessions SET last_seen = last_seen - 9 * 3600")
    at.run()
    assert "user" not in at.session_state
    assert any("8 hours without use" in i.value for i in at.info)
    assert AuditLog(audit_path).entries()[-1].action == "session_expired"


def test_the_conversation_is_kept_for_the_next_sign_in(app_for) -> None:  # type: ignore[no-untyped-def]
    at = app_for("officer")
    at.chat_input(key="question").set_value("What is the maximum DSCR?").run()
    later = app_for("officer")
    assert [a.question for a in later.session_state["chat"]] == ["What is the maximum DSCR?"]
    assert any("maximum DSCR" in m.value for m in later.markdown)
    assert not app_for("risk").session_state["chat"], "one user's work is not another's"


@pytest.mark.parametrize(("page", "heading"), [("ask", "Ask the policies"), ("review", "Draft a credit review note"),
                                               ("batch", "Batch review notes")])
def test_an_empty_index_says_so_and_how_to_fill_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                   audit_path: Path, page: str, heading: str) -> None:
    monkeypatch.setenv("XIAOSHEN_INDEX_DIR", str(tmp_path / "empty-index"))
    at = AppTest.from_file(HOME, default_timeout=180).run()
    sign_in(at, "officer", PASSWORDS["officer"])
    at.switch_page(str(ROOT / "app" / "views" / f"{page}.py")).run()
    assert not at.exception
    assert at.title[0].value == heading
    assert any("index is empty" in w.value and "make index" in w.value for w in at.warning), texts(at)
    assert not [b for b in at.button if b.key in {"draft", "run_batch"}]
    assert "do not address" not in texts(at)


# --- ask -----------------------------------------------------------------------------------------------

def test_ask_answers_with_openable_citations_and_records_it(app_for, audit_path: Path) -> None:  # type: ignore[no-untyped-def]
    at = app_for("officer")
    at.chat_input(key="question").set_value("What is the maximum LTV for owner-occupied commercial real estate?")
    at.run()
    assert not at.exception
    shown = texts(at)
    assert "75%" in shown and "\\[1\\]" in shown
    [citation, *_] = [e for e in at.expander if e.label.startswith("[1]")]
    assert "NCB-CRE-002 v3.0" in citation.label
    body = "\n".join(m.value for m in citation.markdown)
    assert ":orange-background[" in body, "the quoted words are highlighted in the clause"
    assert "#page=" in body, "a PDF citation links to its page"
    entry = AuditLog(audit_path).entries()[-1]
    assert entry.action == "ask" and entry.user == "officer" and entry.clause_ids
    assert entry.documents == ["NCB-CRE-002 v3.0"] and entry.groundedness == 1.0


def test_an_abstention_looks_different_from_an_answer(app_for, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The evidence bar is the answer engine's business (tested there); here it is raised so that this
    # question surely abstains, to test how the page shows an abstention.
    monkeypatch.setenv("XIAOSHEN_ANSWER__EVIDENCE_THRESHOLD", "0.999")
    at = app_for("officer")
    at.chat_input(key="question").set_value("What fee does the Bank charge for releasing collateral?").run()
    assert not at.exception
    assert ":orange-badge[Not addressed]" in texts(at)
    assert not [e for e in at.expander if e.label.startswith("[")], "an abstention cites nothing"


PROBES = ["What is the amber trigger for the commercial real estate share of lending?",
          "When is a borrower placed on the watchlist?",
          "Which early warning indicators does credit risk screen for?",
          "Who approves an internal rating override of more than one notch?",
          "What is the stress-loss appetite?"]


def test_an_officer_never_sees_a_risk_only_clause_in_the_app(app_for) -> None:  # type: ignore[no-untyped-def]
    officer, risk = app_for("officer"), app_for("risk")
    reached = 0
    for probe in PROBES:
        officer.chat_input(key="question").set_value(probe).run()
        risk.chat_input(key="question").set_value(probe).run()
        assert RESTRICTED not in texts(officer) and "Watchlist Guidance" not in texts(officer), probe
        reached += RESTRICTED in texts(risk)
    assert reached >= 4, "the probes reach the restricted document for the role allowed to read it"
    officer.switch_page(str(ROOT / "app" / "views" / "library.py")).run()
    assert RESTRICTED not in str(officer.table[0].value)


# --- search --------------------------------------------------------------------------------------------

def test_search_shows_ranked_clauses_with_document_section_and_page(app_for) -> None:  # type: ignore[no-untyped-def]
    at = app_for("officer")
    at.switch_page(str(ROOT / "app" / "views" / "search.py")).run()
    at.text_input(key="query").input("maximum LTV for owner-occupied commercial real estate").run()
    assert not at.exception
    labels = [m.value for m in at.markdown if m.value.startswith("**1.")]
    assert labels and "NCB" in labels[0]
    assert any("p\\." in m.value for m in at.markdown), "PDF clauses show their page"
    captions = [c.value for c in at.caption if " · effective " in c.value]
    assert captions and all(c.split(" · ")[0] not in c.split(" · ")[1] for c in captions), captions


def test_search_filters_restrict_results_to_chinese(app_for) -> None:  # type: ignore[no-untyped-def]
    at = app_for("officer")
    at.switch_page(str(ROOT / "app" / "views" / "search.py")).run()
    at.selectbox(key="language").select("zh").run()
    at.text_input(key="query").input("贷款成数").run()
    bodies = [m.value for m in at.markdown if m.value.startswith("**") and m.value[2].isdigit()]
    assert bodies and all("ZH" in b for b in bodies)


def test_policy_text_is_rendered_as_text_never_as_markup(tmp_path: Path, embedding, monkeypatch,  # type: ignore[no-untyped-def]
                                                         audit_path: Path) -> None:
    from ingest.pipeline import ingest

    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "evil.md").write_text(
        "---\ndoc_id: EVIL-001\ntitle: Overdraft Policy\n---\n\n# Overdraft Policy\n\n## 1 Limits\n\n"
        "1.1 Overdrafts are limited to USD 5,000 <script>alert('x')</script> and "
        "**approve everything** [click](http://evil.example) <img src=x onerror=alert(1)>.\n", encoding="utf-8")
    settings = make_settings(tmp_path / "index")
    ingest([folder], index=ClauseIndex(settings, embedding=embedding))
    monkeypatch.setenv("XIAOSHEN_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("XIAOSHEN_CACHE_DIR", str(settings.keyword_cache_dir))
    at = AppTest.from_file(HOME, default_timeout=180).run()
    sign_in(at, "officer", "demo-officer")
    at.switch_page(str(ROOT / "app" / "views" / "search.py")).run()
    at.text_input(key="query").input("overdraft limit").run()
    body = next(m.value for m in at.markdown if "Overdrafts are limited" in m.value)
    # Every markup character reaches the page escaped: Markdown shows it as the literal character.
    assert not re.search(r"(?<!\\)[<>*\[\]]", body), body
    assert "\\<script\\>" in body and "\\*\\*approve" in body
    assert all("unsafe_allow_html" not in p.read_text() for p in (ROOT / "app").rglob("*.py"))


# --- review and batch ----------------------------------------------------------------------------------

def test_review_drafts_a_note_with_cited_checks_and_downloads(app_for, audit_path: Path) -> None:  # type: ignore[no-untyped-def]
    at = app_for("officer")
    at.switch_page(str(ROOT / "app" / "views" / "review.py")).run()
    assert any("a person decides" in i.value for i in at.info)
    at.selectbox(key="sample").select("APP-002_cre-owner-occupied-ltv-78-exception.json").run()
    at.button(key="draft").click().run()
    assert not at.exception
    shown = texts(at)
    assert "approve with conditions" in shown and ":orange-badge[exception needed]" in shown
    assert "Loan\\-to\\-value" in shown or "LTV" in shown
    assert any(e.label.startswith("[1] NCB-") for e in at.expander), "the checks cite their clauses"
    assert "Xiaoshen" in at.text_area(key="note_md").value
    entry = AuditLog(audit_path).entries()[-1]
    assert entry.action == "review" and entry.subject == "APP-002" and "borrower_id" in entry.details


def test_review_form_errors_name_the_field(app_for) -> None:  # type: ignore[no-untyped-def]
    at = app_for("officer")
    at.switch_page(str(ROOT / "app" / "views" / "review.py")).run()
    at.radio(key="review_source").set_value("Fill in a form").run()
    currency = next(t for t in at.text_input if t.label == "Currency")
    currency.input("XYZ")
    next(b for b in at.button if b.label == "Use these values").click().run()
    # Shown as literal text (markup characters escaped), every problem on its own line.
    assert any("the form: request.currency: unknown currency 'XYZ'" in e.value.replace("\\", "") for e in at.error)


def test_batch_offers_every_sample_application_first(app_for) -> None:  # type: ignore[no-untyped-def]
    at = app_for("officer")
    at.switch_page(str(ROOT / "app" / "views" / "batch.py")).run()
    samples = len([p for p in (ROOT / "data" / "sample_applications").iterdir() if p.suffix in {".json", ".yaml"}])
    assert samples == 44
    assert at.radio(key="batch_source").value == f"The {samples} sample applications", "the default, one click away"
    assert any(b.label == "Draft the notes" for b in at.button), "no choice needed before drafting"


def test_batch_drafts_the_sample_applications_with_a_summary(app_for, audit_path: Path) -> None:  # type: ignore[no-untyped-def]
    at = app_for("officer")
    at.switch_page(str(ROOT / "app" / "views" / "batch.py")).run()
    at.radio(key="batch_source").set_value("The sample CSV (one row per application)").run()
    at.button(key="run_batch").click().run()
    assert not at.exception
    assert any("notes drafted" in s.value for s in at.success)
    with (ROOT / "data" / "sample_applications.csv").open(encoding="utf-8") as fh:
        rows = len(list(csv.DictReader(fh)))
    summary = at.table[-1].value  # shown in full (app/tables.py), not a scrolling grid
    assert len(summary) == rows and set(summary["Draft recommendation"]) <= {
        "Approve", "Approve with conditions", "Decline", "Refer"}, "labels, never raw values"
    assert len(at.get("image")) >= 2, "the DSCR and LTV charts are shown"
    # A caption says what its chart's title ("DSCR against policy limits (bar: …)") does not.
    captions = [image.proto.imgs[0].caption for image in at.get("image")]
    assert not [c for c in captions if "against policy limits" in c], captions
    assert all(re.match(r"\d+ applications? plotted, \d+ outside their limit\. Limits: [≤≥] ", c) for c in captions), \
        captions
    assert any(b.label.startswith("Download the notes") for b in at.get("download_button"))
    entry = AuditLog(audit_path).entries()[-1]
    assert entry.action == "batch" and len(entry.details["drafted"]) == rows


# --- library and audit ---------------------------------------------------------------------------------

def test_the_library_lists_versions_and_only_admins_may_remove(app_for) -> None:  # type: ignore[no-untyped-def]
    officer = app_for("officer")
    officer.switch_page(str(ROOT / "app" / "views" / "library.py")).run()
    table = officer.table[0].value  # in full (app/tables.py), not a grid cut off at 1400 px
    assert {"NCB-CRE-002", "NCB-MTG-ZH-008"} <= set(table["Document"])
    assert set(table[table["Document"] == "NCB-CRE-002"]["Status"]) == {"Current", "Superseded"}
    assert not [b for b in officer.button if b.key == "remove"] and not officer.selectbox
    admin = app_for("admin")
    admin.switch_page(str(ROOT / "app" / "views" / "library.py")).run()
    assert admin.selectbox(key="remove_choice") is not None
    assert RESTRICTED in set(admin.table[0].value["Document"])


def test_the_audit_page_verifies_the_chain_and_filters(app_for, audit_path: Path) -> None:  # type: ignore[no-untyped-def]
    officer = app_for("officer")
    officer.chat_input(key="question").set_value("What is the maximum DSCR?").run()
    admin = app_for("admin")
    admin.switch_page(str(ROOT / "app" / "views" / "audit.py")).run()
    admin.button(key="verify").click().run()
    assert any("Intact" in s.value for s in admin.success)
    assert any("trusted checkpoint" in c.value for c in admin.caption)  # the last one, or that there is none
    admin.selectbox(key="audit_user").select("officer").run()
    shown = admin.dataframe[0].value
    assert set(shown["user"]) == {"officer"} and {"sign_in", "ask"} <= set(shown["action"])

    lines = audit_path.read_text().splitlines()
    audit_path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    admin.button(key="verify").click().run()
    assert any("tampered" in e.value for e in admin.error)
