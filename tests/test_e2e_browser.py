"""End to end in a real browser: `xiaoshen app` serving the sample index, driven in headless Chromium
(Debian's /usr/bin/chromium through Playwright). An officer signs in, asks, opens a citation and its source
PDF, drafts a review note, edits and downloads it, signs out; an administrator finds those actions in the
audit log and verifies its chain. An officer probing the risk-only document sees nothing of it.
Screenshots of every step go to test-artifacts/e2e/."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from tests.browser import (
    CHROMIUM,
    ROOT,
    SLOW_MS,
    VIEWPORT,
    AppServer,
    ask,
    choose,
    go_to,
    launch,
    screenshot,
    serve_app,
    session_cookie,
    settled,
    sideways,
    sign_in,
    sign_out,
)
from xiaoshen.audit import AuditLog
from xiaoshen.index import ClauseIndex

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
QUESTION = "What is the maximum LTV for owner-occupied commercial real estate?"
SAMPLE = "APP-002_cre-owner-occupied-ltv-78-exception.json"
OTHER_SAMPLE = "APP-001_cre-owner-occupied-clean.json"
RESTRICTED = "NCB-RSK-009"
WATCHLIST = "When is a borrower placed on the watchlist?"
EDIT = "Site visit done by the officer; the draft stands."


@pytest.fixture(scope="module")
def chromium() -> None:
    """Chromium and Playwright, or a skip — a failure when `make test` requires the browser."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian's chromium package; `make browser` installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (the dev extra)"
    if reason:
        if os.environ.get("XIAOSHEN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test is required (XIAOSHEN_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(chromium: None, sample_index: ClauseIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    audit = tmp_path_factory.mktemp("e2e-audit") / "audit.jsonl"
    with serve_app(sample_index.settings.index_dir, sample_index.settings.keyword_cache_dir, audit,
                   ARTIFACTS / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser(chromium: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chrome = launch(playwright)
        yield chrome
        chrome.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    screenshot(page, ARTIFACTS / f"{name}.png")


def assert_fits_the_window(page: Any) -> None:
    """The page's tables are there and nothing scrolls sideways in the 1400-pixel window (VIEWPORT)."""
    assert page.viewport_size["width"] == VIEWPORT["width"] == 1400
    # A page's text can be drawn before its tables (the Library's heading came first once on a fresh clone).
    page.locator("#stMain [data-testid=stTable], #stMain [data-testid=stDataFrame]").first.wait_for(
        state="visible", timeout=SLOW_MS)
    count, overflow = sideways(page)
    assert count > 0, "no table on the page: the check would pass on nothing"
    assert not overflow, overflow


def test_officer_asks_reviews_downloads_and_admin_audits(server: AppServer, page: Any, tmp_path: Path) -> None:
    from docx import Document
    from playwright.sync_api import expect

    page.goto(server.url)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_text("a person decides").first).to_be_visible()
    shot(page, "01-sign-in")

    # --- Ask: a cited answer; the citation opens the clause, the quote highlighted, and the source PDF.
    sign_in(page, server.url, "officer")
    answer = ask(page, QUESTION)
    expect(answer).to_contain_text("75%")
    expect(answer).to_contain_text("[1]")
    # Whether the clause answers and whether the quote is faithful are two figures, never one badge.
    expect(answer).to_contain_text(re.compile(r"Answer confidence \d+%"))
    expect(answer).not_to_contain_text("Groundedness")
    shot(page, "02-ask-answer")

    citation = answer.get_by_test_id("stExpander").filter(has_text="[1] NCB-CRE-002 v3.0")
    citation.locator("summary").click()
    body = citation.get_by_test_id("stExpanderDetails")
    expect(body).to_be_visible()
    caption = body.get_by_test_id("stCaptionContainer").first
    expect(caption).to_have_text(re.compile(r"NCB-CRE-002 version 3\.0 · section [\d.]+, page \d+"))
    quote = body.locator(".stMarkdownColoredBackground")
    expect(quote).to_have_count(1)
    assert quote.inner_text().strip() in body.inner_text(), "the highlighted quote sits inside the clause text"
    assert "75%" in quote.inner_text(), "the highlighted words carry the figure of the answer"
    link = body.get_by_role("link", name=re.compile(r"^Open the source file"))
    expect(link).to_be_visible()
    shot(page, "03-ask-citation")
    href = link.get_attribute("href")
    page_number = re.search(r"page (\d+)", caption.inner_text()).group(1)  # type: ignore[union-attr]
    assert href.endswith(f".pdf#page={page_number}"), href
    pdf = page.request.get(urljoin(page.url, href.split("#")[0]))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF"), "the link serves the source PDF itself"

    # --- Review: a sample application → the draft note, edited, downloaded as Markdown and Word.
    go_to(page, "Review")
    expect(page.get_by_text("The assistant drafts; a person decides.")).to_be_visible()
    choose(page, "Sample application", SAMPLE)
    expect(page.get_by_text(re.compile(r"^APP-002 · "))).to_be_visible()
    page.get_by_role("button", name="Draft the review note").click()
    expect(page.get_by_role("heading", name=re.compile(r"^APP-002 — "))).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_role("button", name="Download HTML")).to_be_visible(timeout=SLOW_MS)  # drawn last
    settled(page)
    expect(page.get_by_text("Draft recommendation: approve with conditions", exact=True)).to_be_visible()
    expect(page.get_by_text("exception needed", exact=True).first).to_be_visible()
    expect(page.get_by_test_id("stExpander").filter(has_text=re.compile(r"\[1\] NCB-"))).not_to_have_count(0)
    assert_fits_the_window(page)  # the financial analysis in full, no column cut off
    shot(page, "04-review-note")

    draft = page.get_by_role("textbox", name="Draft (Markdown)")
    draft.fill(draft.input_value() + "\n\n" + EDIT + "\n")
    draft.press("Control+Enter")  # applies the edit: the page reruns with it
    expect(page.get_by_text("Edited by you")).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_role("button", name="Download HTML")).to_be_visible()
    settled(page)
    shot(page, "05-review-edited")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download Markdown").click()
    assert download.value.suggested_filename == "APP-002.md"
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert markdown.startswith("# Credit review note — APP-002 (DRAFT)"), markdown[:200]
    assert "Approve with conditions" in markdown and markdown.rstrip().endswith(EDIT)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download Word").click()
    assert download.value.suggested_filename == "APP-002.docx"
    word = tmp_path / "APP-002.docx"
    download.value.save_as(word)
    document = Document(str(word))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "APP-002" in text and "Approve with conditions" in text and EDIT in text
    assert document.tables, "the Word note keeps its tables"

    sign_out(page)
    shot(page, "06-signed-out")

    # --- Audit: the administrator sees the officer's question and note, and the chain verifies.
    sign_in(page, server.url, "admin")
    go_to(page, "Audit")
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_text(re.compile(r"^Intact: \d+ entries"))).to_be_visible(timeout=SLOW_MS)
    choose(page, "User", "officer")
    table = page.get_by_test_id("stDataFrame").first
    users, actions = table.locator("td[aria-colindex='3']"), table.locator("td[aria-colindex='4']")
    expect(users.filter(has_text="admin")).to_have_count(0, timeout=SLOW_MS)  # the filter has applied
    expect(actions.filter(has_text=re.compile(r"^review$"))).to_have_count(1)
    expect(actions.filter(has_text=re.compile(r"^ask$")).first).to_be_attached()
    # The grid re-renders while the filter applies: wait until no row of another user is left.
    expect(users.filter(has_not_text=re.compile(r"^officer$"))).to_have_count(0, timeout=SLOW_MS)
    review_row = table.locator("tr").filter(has=page.locator("td[aria-colindex='4']", has_text="review"))
    expect(review_row.locator("td[aria-colindex='5']")).to_have_text("APP-002")
    shot(page, "07-audit")
    assert_fits_the_window(page)  # the grid's columns laid out for 1400 px, none past its edge

    # Which documents the officer's note rests on, in full below the grid, without scrolling sideways.
    choose(page, "Action", "review")
    note = [e for e in AuditLog(server.audit_log).entries() if (e.user, e.action) == ("officer", "review")][-1]
    assert len(note.documents) >= 2, note.documents
    entry = page.get_by_role("heading", name=re.compile(r"^Entry \d+: "))
    expect(entry).to_have_text(f"Entry {note.seq}: review by officer", timeout=SLOW_MS)
    documents = page.get_by_test_id("stTable").last.locator("tr").filter(has=page.get_by_text("Documents", exact=True))
    expect(documents.locator("td").last).to_have_text(", ".join(note.documents))
    assert_fits_the_window(page)
    # Another row selected in the grid is the entry shown.
    choose(page, "Action", "any")
    second = [e for e in AuditLog(server.audit_log).entries() if e.user == "officer"][-2]
    expect(entry).not_to_have_text(f"Entry {second.seq}: {second.action} by officer", timeout=SLOW_MS)
    grid = page.get_by_test_id("stDataFrame").first.bounding_box()
    page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 35 + 17)  # the second row's selection box
    expect(entry).to_have_text(f"Entry {second.seq}: {second.action} by officer", timeout=SLOW_MS)
    settled(page)
    shot(page, "07b-audit-entry")

    log = AuditLog(server.audit_log)
    assert log.verify().ok
    assert {"sign_in", "ask", "review"} <= {e.action for e in log.entries() if e.user == "officer"}


def test_an_officer_sees_nothing_of_the_risk_only_document(server: AppServer, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, server.url, "officer")
    answer = ask(page, WATCHLIST)
    # text_content, not inner_text: the collapsed citations' clause text counts as shown too.
    shown = page.locator("#stMain").text_content()
    assert RESTRICTED not in shown and "Watchlist Guidance" not in shown, shown
    screenshot(page, ARTIFACTS / "08-probe-officer.png")

    # A question about a product no policy names is declined saying so, not answered from an LTV clause.
    declined = ask(page, "Maximum LTV for a yacht loan?")
    expect(declined).to_contain_text("Not mentioned")
    expect(declined).to_contain_text("do not mention “yacht”")

    # The same question does reach the document for a role allowed to read it: the probe is a real one.
    sign_out(page)
    sign_in(page, server.url, "risk")
    answer = ask(page, WATCHLIST)
    expect(answer).to_contain_text(RESTRICTED)
    screenshot(page, ARTIFACTS / "09-probe-risk.png")

    # Static files are served without signing in: the restricted file's URL must not be derivable from its
    # path (a keyed hash of this server names its folder), only handed to a reader shown the citation.
    link = answer.get_by_test_id("stExpander").filter(has_text=RESTRICTED).first.locator(
        "a", has_text="Open the source file")
    href = link.first.get_attribute("href")
    [source] = (ROOT / "data" / "sample_policies").glob(f"{RESTRICTED}_*")
    folder = href.split("/")[3]
    assert re.fullmatch(r"[0-9a-f]{32}", folder) and folder != hashlib.sha256(
        str(source.resolve()).encode()).hexdigest()[:12]
    assert page.request.get(urljoin(page.url, href)).ok, "the reader allowed to see it can open it"


def test_source_links_open_files_with_spaces_brackets_and_chinese_in_their_names(server: AppServer,
                                                                                 tmp_path: Path) -> None:
    """Uploaded policies keep their file names: the link must stay one Markdown link and serve the file."""
    import shutil
    import sys
    import urllib.request

    from markdown_it import MarkdownIt

    sys.path.insert(0, str(ROOT / "app"))
    import shell

    source = tmp_path / "Credit Policy (2025) 信贷政策.pdf"
    source.write_bytes(b"%PDF-1.4\n% a test file\n")
    link = shell.source_link(str(source), 3)
    assert link is not None and link.endswith("#page=3")
    try:
        rendered = MarkdownIt("commonmark").render(f"[Open the source file, page 3]({link})")
        assert rendered.startswith("<p><a href="), rendered  # CommonMark, as the page's Markdown renderer
        with urllib.request.urlopen(urljoin(server.url, link.split("#")[0]), timeout=30) as response:
            assert response.headers["content-type"] == "application/pdf"
            assert response.read() == source.read_bytes()
    finally:
        shutil.rmtree(shell.STATIC_SOURCES / link.split("/")[3])


def test_a_reload_keeps_the_officer_signed_in_with_the_chat_and_the_draft_and_sign_out_ends_it(
        server: AppServer, browser: Any, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, server.url, "officer")  # returns once the session cookie is set
    cookie = session_cookie(page)
    assert cookie is not None
    # No script can read it, no other site's request carries it.
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    ask(page, QUESTION)
    # The officer's conversation is kept across sign-ins, so an earlier test's question may be there too.
    asked = page.get_by_test_id("stChatMessage").filter(has_text=QUESTION).count()
    go_to(page, "Review")
    choose(page, "Sample application", SAMPLE)
    page.get_by_role("button", name="Draft the review note").click()
    expect(page.get_by_role("button", name="Download HTML")).to_be_visible(timeout=SLOW_MS)
    draft = page.get_by_role("textbox", name="Draft (Markdown)")
    draft.fill(draft.input_value() + "\n\n" + EDIT + "\n")
    draft.press("Control+Enter")
    expect(page.get_by_text("Edited by you")).to_be_visible(timeout=SLOW_MS)
    settled(page)

    page.reload()
    expect(page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out")).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_role("textbox", name="Username")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Draft (Markdown)")).to_have_value(re.compile(re.escape(EDIT)),
                                                                                timeout=SLOW_MS)
    expect(page.get_by_text("Edited by you")).to_be_visible()
    # The picker names the application whose draft is restored, not the first sample.
    picker = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Sample application", exact=True))
    expect(picker.get_by_role("combobox")).to_match_aria_snapshot(f'- combobox "Sample application": {SAMPLE}')
    expect(page.get_by_text(re.compile(r"^APP-002 · "))).to_be_visible()
    expect(page.get_by_text(re.compile("^This draft is for"))).to_have_count(0)
    screenshot(page, ARTIFACTS / "10-reload-keeps-the-draft.png")
    # Another application chosen: the draft says whose it is.
    choose(page, "Sample application", OTHER_SAMPLE)
    expect(page.get_by_text(re.compile(r"^This draft is for APP-002 .* not APP-001 chosen above"))).to_be_visible()
    go_to(page, "Ask")
    expect(page.get_by_test_id("stChatMessage").filter(has_text=QUESTION)).to_have_count(asked)
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("75%")

    # The same cookie in another browser is the same session; signing out here ends it there too.
    other = browser.new_context(viewport=VIEWPORT)
    other.add_cookies([cookie])
    elsewhere = other.new_page()
    elsewhere.goto(server.url)
    expect(elsewhere.get_by_test_id("stSidebar").get_by_role("button", name="Sign out")).to_be_visible(
        timeout=SLOW_MS)
    sign_out(page)
    page.reload()
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=SLOW_MS)
    elsewhere.reload()
    expect(elsewhere.get_by_role("textbox", name="Username")).to_be_visible(timeout=SLOW_MS)
    other.close()
    actions = [e.action for e in AuditLog(server.audit_log).entries() if e.user == "officer"]
    assert "session_resumed" in actions and actions[-1] == "sign_out", actions


def test_the_sample_batch_reads_in_a_1400_pixel_window(server: AppServer, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, server.url, "officer")
    go_to(page, "Batch")
    page.get_by_test_id("stRadio").get_by_text("The sample CSV (one row per application)").click()
    settled(page)
    page.get_by_role("button", name="Draft the notes").click()
    expect(page.get_by_text(re.compile(r"^\d+ notes drafted"))).to_be_visible(timeout=SLOW_MS)
    summary = page.get_by_test_id("stTable").last
    expect(summary).to_contain_text("CSV-001", timeout=SLOW_MS)
    expect(page.get_by_test_id("stImage").first).to_be_visible(timeout=SLOW_MS)  # the charts are drawn last
    settled(page)
    screenshot(page, ARTIFACTS / "14-batch-fits.png")
    assert_fits_the_window(page)
    expect(summary).to_contain_text(re.compile("Approve|Decline|Refer"))
    expect(summary).not_to_contain_text(re.compile("approve_with_conditions|sme_working_capital|cre-oo-ltv"))
    # A chart's caption says what its title does not: how many are plotted and outside, and the limits' clauses.
    captions = page.get_by_test_id("stImageCaption")
    expect(captions).not_to_have_count(0)
    for caption in captions.all():
        assert "against policy limits" not in caption.inner_text(), caption.inner_text()
        expect(caption).to_have_text(re.compile(r"^\d+ applications? plotted, \d+ outside their limit\. Limits: .* under "
                                                r"NCB-[A-Z]+-\d+ §"))


def test_an_officer_pasting_the_audit_url_is_told_it_is_for_administrators(server: AppServer, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(urljoin(server.url, "audit"))  # signed out: the sign-in form, not "Page not found"
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    sign_in(page, server.url, "officer")
    page.goto(urljoin(server.url, "audit"))
    expect(page.get_by_text(re.compile("for administrators only"))).to_be_visible(timeout=SLOW_MS)
    settled(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Audit", exact=True)).to_have_count(0)
    screenshot(page, ARTIFACTS / "11-audit-refused-for-an-officer.png")


def test_a_bad_library_upload_gets_named_errors_and_an_honest_summary(server: AppServer, page: Any,
                                                                      tmp_path: Path) -> None:
    from playwright.sync_api import expect

    sign_in(page, server.url, "admin")
    go_to(page, "Library")
    assert_fits_the_window(page)  # the document table, every column in the window
    bad = [tmp_path / "broken.pdf", tmp_path / "broken.docx", tmp_path / "figures.xlsx"]
    for path in bad:
        path.write_bytes(b"not really a document")
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files([str(p) for p in bad])
    expect(page.get_by_text(re.compile(r"figures\.xlsx: a \.xlsx file is not a policy file"))).to_be_visible(
        timeout=SLOW_MS)
    page.get_by_role("button", name="Ingest").click()
    summary = page.get_by_text(re.compile(r"^0 of 2 ingested, 2 failed: broken\.(pdf|docx), broken\.(pdf|docx)\.$"))
    expect(summary).to_be_visible(timeout=SLOW_MS)
    settled(page)
    expect(page.get_by_text("Done", exact=True)).to_have_count(0)
    for name in ("broken.pdf", "broken.docx"):
        expect(page.get_by_test_id("stAlertContentError").filter(has_text=re.compile(f"^{re.escape(name)}: "))
               ).to_have_count(1)
    assert "/tmp" not in page.locator("#stMain").inner_text()
    screenshot(page, ARTIFACTS / "12-library-bad-upload.png")


def test_an_empty_index_is_named_on_ask_review_and_batch(chromium: None, page: Any,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    from playwright.sync_api import expect

    folder = tmp_path_factory.mktemp("e2e-empty")
    with serve_app(folder / "index", folder / "cache", folder / "audit.jsonl", ARTIFACTS / "server-empty.log") as empty:
        page.goto(empty.url)
        page.get_by_role("textbox", name="Username").fill("officer")
        page.get_by_role("textbox", name="Password").fill("demo-officer")
        page.get_by_role("button", name="Sign in").click()
        for title, heading in (("Ask", "Ask the policies"), ("Review", "Draft a credit review note"),
                               ("Batch", "Batch review notes")):
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
            expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=SLOW_MS)
            expect(page.get_by_text(re.compile(r"The policy index is empty.*make index"))).to_be_visible(
                timeout=SLOW_MS)
            settled(page)
            expect(page.get_by_text("do not address")).to_have_count(0)
            expect(page.get_by_role("button", name=re.compile("^Draft"))).to_have_count(0)
        screenshot(page, ARTIFACTS / "13-empty-index.png")
