"""Driving the real app in real headless Chromium (Playwright over Debian's /usr/bin/chromium): start
`xiaoshen app` as a process, sign in, ask, wait for Streamlit to finish a run, take screenshots. Shared by
tests/test_e2e_browser.py and scripts/screenshots.py."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google's services at start; on a closed
# network that fails (and must not be attempted at all).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
PASSWORDS = {"officer": "demo-officer", "risk": "demo-risk", "admin": "demo-admin"}
# A question runs retrieval on a 2-core CPU shared with other work, and the first one loads the models.
SLOW_MS = 150_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    audit_log: Path


@contextmanager
def serve_app(index_dir: Path, cache_dir: Path, audit_log: Path, log: Path,
              startup_timeout: float = 120.0) -> Iterator[AppServer]:
    """`xiaoshen app --port N --index DIR` in its own process group, until the block ends."""
    port = free_port()
    env = dict(os.environ, XIAOSHEN_CACHE_DIR=str(cache_dir), XIAOSHEN_ACCESS__AUDIT_LOG=str(audit_log),
               # Other people editing app/ must not make the page offer a rerun in the middle of a run.
               STREAMLIT_SERVER_FILE_WATCHER_TYPE="none")
    xiaoshen = Path(sys.executable).parent / "xiaoshen"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen([str(xiaoshen), "app", "--port", str(port), "--index", str(index_dir)],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = AppServer(f"http://127.0.0.1:{port}/", process, log, audit_log)
    try:
        _wait_until_serving(server, startup_timeout)
        yield server
    finally:
        # `xiaoshen app` runs streamlit as a child: end the whole group this function started.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_serving(server: AppServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the app exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(server.url + "_stcore/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the app did not answer within {timeout:.0f} s:\n{server.log.read_text()}")
        time.sleep(0.25)  # polling for readiness, not waiting for a result


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def settled(page: Any, timeout: float = SLOW_MS) -> None:
    """Wait until Streamlit has finished the current script run (its running indicator is gone)."""
    from playwright.sync_api import expect

    expect(page.locator("[data-testid^=stStatusWidgetRunning]")).to_have_count(0, timeout=timeout)


def sign_in(page: Any, url: str, username: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out")).to_be_visible(timeout=SLOW_MS)
    # Signing in lands on Ask, whose first run in a fresh server loads the index and the models.
    expect(page.get_by_test_id("stChatInput")).to_be_visible(timeout=SLOW_MS)
    settled(page)
    # The page's frame fetches the session cookie just after the page is drawn; a reload or a new page
    # before it arrives would find the user signed out.
    for _ in range(300):
        if session_cookie(page) is not None:
            break
        page.wait_for_timeout(100)


def session_cookie(page: Any) -> dict[str, Any] | None:
    """The browser's Xiaoshen session cookie, if it has one."""
    return next((c for c in page.context.cookies() if c["name"] == "xiaoshen_session"), None)


def sign_out(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=SLOW_MS)


# Each page: its heading, and what it draws last — seen, the page's run has (all but) finished. Streamlit
# shows its running indicator only some time into a run, so that indicator alone cannot tell.
PAGES: dict[str, tuple[str, Any]] = {
    "Ask": ("Ask the policies", lambda page: page.get_by_test_id("stChatInput")),
    "Search": ("Search the policies", lambda page: page.get_by_role("textbox", name="Ask about the lending policy")),
    "Review": ("Draft a credit review note", lambda page: page.get_by_test_id("stSelectbox").or_(
        page.get_by_test_id("stFileUploader")).first),
    "Batch": ("Batch review notes", lambda page: page.get_by_text("Applications drafted in parallel")),
    "Library": ("Policy library", lambda page: page.get_by_text(re.compile(r"documents you may read"))),
    "Audit": ("Audit log", lambda page: page.get_by_role("button", name="Export JSONL")),
}


def go_to(page: Any, title: str) -> None:
    """Open a page from the sidebar navigation and wait until it has been drawn."""
    from playwright.sync_api import expect

    heading, last = PAGES[title]
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=SLOW_MS)
    expect(last(page)).to_be_visible(timeout=SLOW_MS)
    settled(page)


def ask(page: Any, question: str) -> Any:
    """Ask in the chat input; returns the locator of the assistant's answer once the run has finished."""
    from playwright.sync_api import expect

    answers = page.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stChatMessageAvatarAssistant"))
    before = answers.count()
    box = page.get_by_test_id("stChatInput").locator("textarea")
    box.fill(question)
    box.press("Enter")
    expect(answers).to_have_count(before + 1, timeout=SLOW_MS)
    # An answer carries its confidence and faithfulness line; an abstention carries its badge.
    expect(answers.last).to_contain_text(re.compile(r"Quotes faithful \d+%|Not addressed|Not mentioned"),
                                         timeout=SLOW_MS)
    settled(page)
    return answers.last


def choose(page: Any, label: str, option: str) -> None:
    """Pick an option of a st.selectbox by typing it (the list is virtualised)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True))
    wanted = page.get_by_role("option", name=option).first
    # A run that redraws the box just after the click (the page's own rerun as it settles) closes its list
    # and the typed text goes nowhere: open it again, as a user would, up to three times.
    for attempt in range(3):
        settled(page)
        box.click()
        page.keyboard.type(option)
        try:
            wanted.click(timeout=15_000 if attempt < 2 else SLOW_MS)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    settled(page)


def screenshot(page: Any, path: Path, *, full: bool = True) -> Path:
    """A PNG of the page; `full` grows the viewport to the height of Streamlit's scrolling main area (a
    plain full-page screenshot would stop at the viewport, as the document itself does not scroll)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    if full:
        height = page.evaluate("() => document.getElementById('stMain')?.scrollHeight || 0")
        if height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
            page.wait_for_function(
                "h => { const m = document.getElementById('stMain');"
                " return m && m.clientHeight >= Math.min(h, 5960) - 1; }", arg=height)
    page.screenshot(path=str(path), animations="disabled")
    if page.viewport_size != size:
        page.set_viewport_size(size)
    return path


SIDEWAYS_JS = """() => {
  const wide = el => el.scrollWidth > el.clientWidth + 1;
  const main = document.getElementById('stMain');
  const found = [];
  for (const [name, el] of [['the page', document.scrollingElement], ['the main area', main]]) {
    if (el && wide(el)) found.push(`${name}: ${el.scrollWidth} px wide in ${el.clientWidth} px`);
  }
  const tables = main ? [...main.querySelectorAll('[data-testid=stTable], [data-testid=stDataFrame]')] : [];
  const right = main ? main.getBoundingClientRect().right : window.innerWidth;
  tables.forEach((table, i) => {
    const name = `table ${i + 1} (${(table.innerText || '').trim().split('\\n')[0].slice(0, 60)})`;
    // Every box of the table that scrolls or cuts off sideways (st.table's wrapper, the grid's scroller) and
    // st.table's own table. A box whose overflow is visible hides nothing: st.dataframe's own box is 10 px wider
    // than it looks for the invisible resize handle of its last column, which no one scrolls to.
    const boxes = [table, ...table.querySelectorAll('*')].filter(el => el.tagName === 'TABLE'
        || getComputedStyle(el).overflowX !== 'visible');
    const over = boxes.find(wide);
    if (over) found.push(`${name}: ${over.scrollWidth} px wide in ${over.clientWidth} px`);
    if (table.getBoundingClientRect().right > right + 1) found.push(`${name}: reaches past the main area`);
  });
  return {tables: tables.length, overflow: found};
}"""


def sideways(page: Any) -> tuple[int, list[str]]:
    """The tables of the main area (st.table and st.dataframe) and what in the page scrolls sideways: the page,
    the main area, a table wider than its box. An empty list: everything fits the window's width."""
    result = page.evaluate(SIDEWAYS_JS)
    return int(result["tables"]), list(result["overflow"])
