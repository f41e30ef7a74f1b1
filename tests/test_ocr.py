"""Scanned policies (issue 15): detection of pages without a usable text layer, OCR in English and Chinese
with page numbers and clause ids kept, the cache, the time limit and the off switch.

OCR is slow on two cores, so each scanned file is recognised once per session (`scans`) into a
session cache that the other tests reuse.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ingest import ocr as ocr_module
from ingest.clauses import split_clauses
from ingest.ocr import OcrOptions, page_text_and_image_share, scan_reason, tidy_ocr_text
from ingest.readers import read_document
from tests.conftest import ROOT, make_settings
from xiaoshen.errors import DocumentError
from xiaoshen.settings import OcrSettings
from xiaoshen.types import PolicyDocument

SCANNED = ROOT / "tests" / "data" / "scanned"
EN, ZH = "NCB-CRE-002_cre_lending_standards_v3", "NCB-SME-ZH-007_小微企业流动资金贷款操作规程"
PHOTO = SCANNED / f"{EN}.photo-p4.jpg"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def ocr_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ocr-cache")


@pytest.fixture(scope="session")
def scans(ocr_cache: Path) -> dict[str, PolicyDocument]:
    """Each scanned test file OCR'd once (this is where the session's OCR time goes)."""
    options = OcrOptions(OcrSettings(), ocr_cache)
    return {name: read_document(path, ocr=options) for name, path in
            {"en": SCANNED / f"{EN}.scan.pdf", "zh": SCANNED / f"{ZH}.scan.pdf", "photo": PHOTO}.items()}


def _agreement(scan: PolicyDocument, text_pdf: Path) -> tuple[float, list, list]:
    scanned = {c.clause_id: c for c in split_clauses(scan)}
    text = {c.clause_id: c for c in split_clauses(read_document(text_pdf))}
    shared = scanned.keys() & text.keys()
    return len(shared) / len(text), [scanned[i] for i in shared], [text[i] for i in shared]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_scanned_policy_yields_the_clause_ids_sections_and_pages_of_its_text_version(
        scans: dict[str, PolicyDocument], lang: str) -> None:
    scan = scans[lang]
    stem = EN if lang == "en" else ZH
    assert scan.language == lang
    assert (scan.doc_id, scan.version) == (("NCB-CRE-002", "3.0") if lang == "en" else ("NCB-SME-ZH-007", "2.1"))
    assert sorted(scan.ocr_pages) == [1, 2, 3]
    agreement, from_scan, from_text = _agreement(scan, SCANNED / f"{stem}.text.pdf")
    assert agreement >= 0.95
    # Citations name the page: every shared clause starts and ends on the page its text version does.
    by_id = {c.clause_id: c for c in from_text}
    assert all((c.section, c.page_start, c.page_end) == (by_id[c.clause_id].section, by_id[c.clause_id].page_start,
                                                         by_id[c.clause_id].page_end) for c in from_scan)
    assert {c.page_start for c in from_scan} == {1, 2, 3}
    assert all(c.ocr and c.ocr_confidence is not None and 0 < c.ocr_confidence <= 100 for c in from_scan)
    # The running footer ("NCB-… — SYNTHETIC   Page 2 of 10") is removed as in a text PDF.
    assert "SYNTHETIC Page" not in scan.text and "Page 2 of 10" not in scan.text


def test_chinese_scan_keeps_prc_clause_numbers_without_ocr_spaces(scans: dict[str, PolicyDocument]) -> None:
    sections = [c.section for c in split_clauses(scans["zh"])]
    assert {"第一条", "第二条", "第十条"} <= set(sections)
    assert scans["zh"].title == "小微企业流动资金贷款操作规程"


def test_photographed_page_goes_through_ocr_as_page_one(scans: dict[str, PolicyDocument]) -> None:
    photo = scans["photo"]
    assert photo.format == "image" and list(photo.ocr_pages) == [1]
    clauses = split_clauses(photo)
    # Page 4 of the text PDF holds 3.6–3.7 and 4.1–4.8.
    found = {c.section for c in clauses} & {"3.6", "3.7", "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.8"}
    assert len(found) >= 9, found
    assert all(c.page_start == 1 and c.ocr for c in clauses)


def test_tesseract_spaces_between_chinese_characters_are_removed() -> None:
    assert tidy_ocr_text("第 十 二 条 借款人应当 提供\f") == "第十二条借款人应当提供"
    assert tidy_ocr_text("适用 NCB-SME-003 的规定 ﬁnal") == "适用 NCB-SME-003 的规定 final"


def test_reingesting_an_unchanged_scan_costs_no_ocr(scans: dict[str, PolicyDocument], ocr_cache: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ocr(*args: object, **kwargs: object) -> None:
        raise AssertionError("OCR ran although the file's result is cached")

    monkeypatch.setattr(ocr_module, "_run_ocrmypdf", no_ocr)
    again = read_document(SCANNED / f"{EN}.scan.pdf", ocr=OcrOptions(OcrSettings(), ocr_cache))
    assert again.text == scans["en"].text and again.ocr_pages == scans["en"].ocr_pages


def test_a_runaway_ocr_stops_at_the_per_file_time_limit(tmp_path: Path) -> None:
    options = OcrOptions(OcrSettings(time_limit_s=0.5), tmp_path / "cache")
    with pytest.raises(DocumentError) as caught:
        read_document(SCANNED / f"{ZH}.scan.pdf", ocr=options)
    assert "OCR stopped at the per-file time limit of 0.5 s" in caught.value.reason
    assert ZH in caught.value.source
    assert not list((tmp_path / "cache").glob("*.json"))  # nothing half-done is cached


def _pdf_page(draw) -> bytes:  # type: ignore[no-untyped-def]
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    pdf.set_font("DejaVu", size=10)
    pdf.add_page()
    draw(pdf)
    return bytes(pdf.output())


def _assess(data: bytes) -> str | None:
    from pypdf import PdfReader

    page = PdfReader(io.BytesIO(data)).pages[0]
    text, share = page_text_and_image_share(page)
    return scan_reason(text, share, float(page.mediabox.width * page.mediabox.height), OcrSettings())


def test_garbage_or_partial_text_layers_are_detected(tmp_path: Path) -> None:
    from PIL import Image

    scan = tmp_path / "page.png"
    Image.new("L", (1240, 1754), 255).save(scan)
    garbage = _pdf_page(lambda pdf: pdf.multi_cell(0, 5, "\ufffd" * 600 + " 4.1 LTV"))
    stamp_on_scan = _pdf_page(lambda pdf: (pdf.image(str(scan), x=0, y=0, w=210, h=297), pdf.cell(0, 5, "APPROVED")))
    def scan_with_ocr_layer(repeats: int) -> bytes:
        return _pdf_page(lambda pdf: (pdf.image(str(scan), x=0, y=0, w=210, h=297),
                                      pdf.multi_cell(0, 5, "4.1 The maximum LTV is 75 percent. " * repeats)))

    text = _pdf_page(lambda pdf: pdf.multi_cell(0, 5, "4.1 The maximum LTV for owner-occupied property is 75%. " * 8))
    blank = _pdf_page(lambda pdf: None)
    assert _assess(garbage) == "text layer is mostly unreadable characters"
    assert _assess(stamp_on_scan) is not None
    assert _assess(scan_with_ocr_layer(5)) is not None  # a scan under a partial OCR layer
    assert _assess(scan_with_ocr_layer(40)) is None  # a scan already OCR'd in full: its layer is used
    assert _assess(text) is None and _assess(blank) is None
    # The garbage page is named when OCR is off, never skipped in silence.
    path = tmp_path / "garbled.pdf"
    path.write_bytes(garbage)
    with pytest.raises(DocumentError, match=r"no text layer on page\(s\) 1 and OCR is off"):
        read_document(path, ocr=OcrOptions(OcrSettings(enabled=False), tmp_path))


def _mixed_pdf(tmp_path: Path) -> Path:
    """Page 1 with a text layer, pages 2–3 scanned: a signed circular with scanned annexes."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(SCANNED / f"{EN}.text.pdf").pages[0])
    for page in PdfReader(SCANNED / f"{EN}.scan.pdf").pages[1:]:
        writer.add_page(page)
    path = tmp_path / "mixed.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def test_with_ocr_off_scanned_pages_are_skipped_with_a_warning_naming_file_and_pages(tmp_path: Path,
                                                                                      embedding) -> None:  # type: ignore[no-untyped-def]
    from ingest.pipeline import ingest
    from xiaoshen.index import ClauseIndex

    mixed = _mixed_pdf(tmp_path)
    index = ClauseIndex(make_settings(tmp_path / "index", ocr={"enabled": False}), embedding=embedding)
    heard: list[str] = []
    report = ingest([mixed, SCANNED / f"{ZH}.scan.pdf"], index=index, notice=heard.append)
    assert report.outcomes[0].status == "added"
    assert "mixed.pdf: page(s) 2–3 have no usable text layer and were skipped because OCR is off" in heard[-1]
    assert report.outcomes[1].status == "failed"
    assert "no text layer on page(s) 1–3 and OCR is off" in report.outcomes[1].reason
    assert {c.page_start for c in index.clauses()} == {1}


def test_cli_no_ocr_flag_names_the_scanned_pages(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from xiaoshen.cli import app

    result = CliRunner().invoke(app, ["ingest", str(SCANNED / f"{ZH}.scan.pdf"), "--index", str(tmp_path / "index"),
                                      "--no-ocr"])
    assert result.exit_code == 3
    assert "no text layer on page(s) 1–3 and OCR is off" in result.output + (result.stderr or "")


def test_ingested_scan_is_marked_ocr_lists_low_confidence_pages_and_is_found(
        tmp_path: Path, ocr_cache: Path, scans, embedding, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from ingest.pipeline import ingest
    from xiaoshen.index import ClauseIndex
    from xiaoshen.retrieve import search

    # The session cache holds this file's OCR: no page is recognised again here. A bar above every
    # page's confidence lists all three pages for checking.
    settings = make_settings(tmp_path / "index", ocr={"cache_dir": ocr_cache, "low_confidence": 99.5})
    index = ClauseIndex(settings, embedding=embedding)
    report = ingest([SCANNED / f"{EN}.scan.pdf"], index=index)
    assert not report.failed, report.failed
    [summary] = index.documents()
    assert (summary.doc_id, summary.ocr_pages, summary.low_confidence_pages) == ("NCB-CRE-002", 3, [1, 2, 3])
    hits = search("Which property counts as owner-occupied property?", index=index, settings=settings, k=3)
    top = hits[0].clause
    assert top.section == "2.1" and top.page_start == 2 and top.ocr and top.ocr_confidence
    assert hits[0].to_json()["page"] == 2
    _app_shows_the_scan_caution(settings, monkeypatch)


def _app_shows_the_scan_caution(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    from tests.test_app import PASSWORDS, sign_in

    monkeypatch.setenv("XIAOSHEN_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("XIAOSHEN_CACHE_DIR", str(settings.keyword_cache_dir))
    monkeypatch.setenv("XIAOSHEN_OCR__LOW_CONFIDENCE", "99.5")
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=180).run()
    sign_in(at, "officer", PASSWORDS["officer"])
    at.switch_page(str(ROOT / "app" / "views" / "search.py")).run()
    at.text_input(key="query").input("Which property counts as owner-occupied property?").run()
    assert not at.exception
    assert any("Text recognised from a scan: check against the page" in w.value for w in at.warning)
    at.switch_page(str(ROOT / "app" / "views" / "library.py")).run()
    assert not at.exception
    assert "1, 2, 3" in at.table[0].value["Low-confidence scan pages"].tolist()
    from typer.testing import CliRunner

    from xiaoshen.cli import app

    listed = CliRunner().invoke(app, ["docs", "--index", str(settings.index_dir)])
    assert listed.exit_code == 0
    assert "NCB-CRE-002 v3.0: low OCR confidence on page(s) 1–3 of 3 recognised from a scan" in listed.output


def test_sample_policies_need_no_ocr_and_a_mislabelled_image_gets_a_one_line_reason(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import SAMPLE_POLICIES

    def no_ocr(*args: object, **kwargs: object) -> None:
        raise AssertionError("a page with a good text layer was sent to OCR")

    monkeypatch.setattr(ocr_module, "_run_ocrmypdf", no_ocr)
    options = OcrOptions(OcrSettings(), tmp_path)
    for path in sorted(SAMPLE_POLICIES.glob("*.pdf")):
        assert not read_document(path, ocr=options).ocr_pages
    fake = tmp_path / "page.png"
    fake.write_text("not an image", encoding="utf-8")
    with pytest.raises(DocumentError, match="not a PNG, JPEG or TIFF image"):
        read_document(fake, ocr=options)
