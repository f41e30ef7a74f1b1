"""How long after `xiaoshen app` starts the first question is answered, in real headless Chromium.

    .venv/bin/python scripts/measure_first_answer.py [--index var/index]

Starts the app over the index (its own audit log in a temporary folder), then reports: server start to
serving (health check answers), start to models ready (the warm-up's line in the server log), and the time
from pressing Enter to the finished answer for a first and a second question, asked as soon as the page
lets the officer ask. Numbers for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import VIEWPORT, ask, launch, serve_app, sign_in  # noqa: E402

QUESTIONS = ("What is the maximum LTV for owner-occupied commercial real estate?",
             "When is a borrower placed on the watchlist?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / "var" / "index")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        with serve_app(args.index, args.index.parent / "keyword-cache", Path(tmp) / "audit.jsonl",
                       Path(tmp) / "server.log") as server:
            serving = time.monotonic() - started
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.set_default_timeout(300_000)
                sign_in(page, server.url, "officer")
                signed_in = time.monotonic() - started
                answers = []
                for question in QUESTIONS:
                    begin = time.monotonic()
                    ask(page, question)
                    answers.append(time.monotonic() - begin)
                browser.close()
            found = re.search(r"models ready after ([\d.]+) s", server.log.read_text())
    ready = f"{float(found.group(1)):.1f} s" if found else "not logged"
    print(f"start → serving {serving:.1f} s; start → models ready {ready}; start → signed in, Ask shown "
          f"{signed_in:.1f} s; first answer {answers[0]:.1f} s; second answer {answers[1]:.1f} s")


if __name__ == "__main__":
    main()
