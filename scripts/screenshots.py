"""Screenshots of every page of the app for the README, taken in real headless Chromium.

    .venv/bin/python scripts/screenshots.py [--index var/index] [--out docs/screenshots]

Starts `xiaoshen app` on a free port over the index (`make index` builds var/index), with an audit log of
its own in a temporary folder, then signs in as the demo officer and the demo administrator and walks
through Ask, Search, Review, Batch, Library and Audit. Needs Debian's chromium (`make browser`).

A Chinese note is shown twice: the Review page with APP-024's note (a Chinese application, drafted in Chinese),
and the first page of the Word file downloaded there, as Word lays it out. The Word file is converted to PDF
by LibreOffice (`soffice --headless`, Debian's libreoffice-writer-nogui: `make office`) and the PDF's first
page rasterised with pypdfium2. Both use the CJK font `make browser` installs (fonts-noto-cjk).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import (  # noqa: E402
    CHROMIUM,
    SLOW_MS,
    VIEWPORT,
    ask,
    choose,
    go_to,
    launch,
    screenshot,
    serve_app,
    settled,
    sign_in,
    sign_out,
)
from xiaoshen.review.portfolio import CHART_METRICS  # noqa: E402

QUESTION = "What is the maximum LTV for an owner-occupied CRE loan, and who can approve an exception?"
SEARCH = "maximum LTV for owner-occupied commercial real estate"
SAMPLE = "APP-002_cre-owner-occupied-ltv-78-exception.json"
CHINESE_SAMPLE = "APP-024_sme-wc-zh-cny-entrusted-payment.yaml"  # 苏州恒瑞精密机械有限公司, drafted in Chinese
BATCH_MS = 900_000  # the sample applications, two at a time, on a small CPU


def take(index_dir: Path, out: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    shots: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp, \
            serve_app(index_dir, index_dir.parent / "keyword-cache", Path(tmp) / "audit.jsonl",
                      Path(tmp) / "server.log") as server, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        page.set_default_timeout(60_000)

        def shot(name: str, *, full: bool = True) -> None:
            shots.append(screenshot(page, out / f"{name}.png", full=full))
            print(f"  {shots[-1].relative_to(ROOT)}")

        page.goto(server.url)
        page.get_by_role("textbox", name="Username").fill("officer")
        shot("01-sign-in", full=False)
        sign_in(page, server.url, "officer")

        answer = ask(page, QUESTION)
        citation = answer.get_by_test_id("stExpander").first
        citation.locator("summary").click()
        expect(citation.get_by_role("link", name=re.compile(r"^Open the source file"))).to_be_visible()
        page.mouse.move(0, 0)
        shot("02-ask")

        go_to(page, "Search")
        page.get_by_role("textbox", name="Ask about the lending policy").fill(SEARCH)
        page.keyboard.press("Enter")
        expect(page.get_by_text(re.compile(r"^1\. NCB-"))).to_be_visible(timeout=SLOW_MS)
        settled(page)
        shot("03-search")

        go_to(page, "Review")
        choose(page, "Sample application", SAMPLE)
        page.get_by_role("button", name="Draft the review note").click()
        expect(page.get_by_role("button", name="Download HTML")).to_be_visible(timeout=SLOW_MS)
        settled(page)
        shot("04-review")

        # A Chinese application's note, in the app and as the Word file an officer downloads.
        choose(page, "Sample application", CHINESE_SAMPLE)
        page.get_by_role("button", name="Draft the review note").click()
        expect(page.get_by_role("heading", name="APP-024 — 苏州恒瑞精密机械有限公司")).to_be_visible(timeout=SLOW_MS)
        expect(page.get_by_role("button", name="Download HTML")).to_be_visible(timeout=SLOW_MS)
        settled(page)
        shot("08-review-chinese")
        with page.expect_download() as download:
            page.get_by_role("button", name="Download Word").click()
        word = Path(tmp) / download.value.suggested_filename
        download.value.save_as(word)
        shots.append(word_first_page(word, out / "09-word-chinese.png"))
        print(f"  {shots[-1].relative_to(ROOT)}")

        # Batch: every sample application, the page's default source.
        go_to(page, "Batch")
        page.get_by_role("button", name="Draft the notes").click()
        expect(page.get_by_text(re.compile(r"notes drafted"))).to_be_visible(timeout=BATCH_MS)
        expect(page.get_by_test_id("stImage")).to_have_count(len(CHART_METRICS), timeout=SLOW_MS)
        settled(page)
        shot("05-batch")

        sign_out(page)
        sign_in(page, server.url, "admin")
        go_to(page, "Library")
        shot("06-library")

        go_to(page, "Audit")
        page.get_by_role("button", name="Verify the chain").click()
        expect(page.get_by_text(re.compile(r"^Intact: \d+ entries"))).to_be_visible(timeout=SLOW_MS)
        settled(page)
        shot("07-audit")
        browser.close()
    return shots


def word_first_page(docx: Path, png: Path, dpi: int = 110) -> Path:
    """The first page of a Word file as a PNG, laid out by LibreOffice (fonts from fontconfig, as on screen)."""
    import pypdfium2 as pdfium

    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        raise SystemExit("LibreOffice is missing: `make office` installs Debian's libreoffice-writer-nogui")
    # A profile of its own: a first start writes one, and must not touch (or wait on) the user's.
    profile = docx.parent / "lo-profile"
    subprocess.run([office, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(docx.parent), str(docx)], check=True, capture_output=True, timeout=300)
    pdf = pdfium.PdfDocument(str(docx.with_suffix(".pdf")))
    png.parent.mkdir(parents=True, exist_ok=True)
    pdf[0].render(scale=dpi / 72).to_pil().save(png)
    return png


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / "var" / "index")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium", file=sys.stderr)
        return 2
    if not args.index.is_dir():
        print(f"no index at {args.index}: run `make index` first", file=sys.stderr)
        return 2
    print(f"screenshots of the app over {args.index}:")
    take(args.index.resolve(), args.out.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
