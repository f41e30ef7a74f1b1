"""Fuzzing the reader and clause splitter: any bytes under a policy file's name either yield clauses or are
refused with a DocumentError naming the file in one line — never another exception, never a hang (the
parse budget ends a slow file; pytest's timeout would catch one it missed).

`make test` runs a few examples per format with a fixed seed; `make fuzz` runs many more with fresh
random ones (FUZZ_SCALE multiplies the counts). Samples are mutated byte-wise (and, for DOCX, inside the
zipped document.xml), and structured documents are generated from the markers the splitter knows.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from ingest.pipeline import read_and_split
from tests.conftest import SAMPLE_POLICIES
from xiaoshen.errors import DocumentError
from xiaoshen.settings import IngestSettings

_SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
_RANDOM = _SCALE > 1  # `make fuzz`: fresh random examples; `make test`: the same ones every run
LIMITS = IngestSettings(parse_budget_s=30)


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples * _SCALE, deadline=None, derandomize=not _RANDOM, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example], print_blob=True,
                    phases=[p for p in Phase if p != Phase.shrink or os.environ.get("FUZZ_SHRINK", "1") == "1"])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def reads_or_refuses(folder: Path, name: str, data: bytes) -> None:
    """The property: clauses with unique ids and text, or a one-line DocumentError for this file."""
    path = folder / name
    path.write_bytes(data)
    try:
        document, clauses = read_and_split(path, LIMITS)
    except DocumentError as exc:
        assert exc.source == str(path)
        assert "\n" not in str(exc), str(exc)
        return
    ids = [c.clause_id for c in clauses]
    assert len(ids) == len(set(ids)), "duplicate clause ids"
    assert all(c.text.strip() and c.source == str(path) for c in clauses)
    assert all(c.page_start is None or c.page_end is None or c.page_start <= c.page_end for c in clauses)
    assert document.doc_id.strip()


# --- seeds ------------------------------------------------------------------------------------------

def small_pdf(lines: list[str], pages: int = 2) -> bytes:
    """An uncompressed PDF, so that mutated bytes reach the text operators and not only the zlib layer."""
    pdf = FPDF()
    pdf.set_compression(False)
    pdf.set_title("Test policy")
    pdf.set_font("helvetica", size=10)
    for page in range(pages):
        pdf.add_page()
        for line in lines[page::pages] or [" "]:
            text = "".join(ch if ch.isprintable() else " " for ch in line)
            pdf.multi_cell(0, 5, text.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


SEED_LINES = ["Test Lending Policy", "Document ID: TST-009", "Version: 2.1", "4 Limits",
              "4.1 The loan-to-value ratio may not exceed 80%.", "4.2 Exceptions need the CRO's approval:",
              "(a) a valuation under six months old;", "(b) a guarantee.", "Page 1 of 2"]
SEED_PDF = small_pdf(SEED_LINES)
SEED_DOCX = (SAMPLE_POLICIES / "NCB-COL-005_collateral_guarantee_policy.docx").read_bytes()
SEED_DOCX_XML = zipfile.ZipFile(io.BytesIO(SEED_DOCX)).read("word/document.xml")
SEED_MD = [(SAMPLE_POLICIES / n).read_bytes()[:6000] for n in
           ("NCB-SME-003_sme_working_capital.md", "NCB-MTG-ZH-008_个人住房贷款管理细则.md")]
SEED_HTML = (b"<html><head><title>T</title><meta name='version' content='1'></head><body><h1>Policy</h1>"
             b"<h2>4 Limits</h2><p>4.1 LTV may not exceed 80%.</p><ul><li>(a) one<li>(b) two</ul>"
             b"<table><tr><td>a</td><td>b</td></tr></table><!-- note --><script>x()</script></body></html>")


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """A few byte-level edits: flips, inserts of interesting bytes, deletions, duplications, truncation."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, max(len(buf) - 1, 0)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        if op == "flip" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = draw(st.sampled_from([b"\x00", b"\n", b"<!--", b"(", b"\xff\xfe", b"%%EOF", b"obj",
                                                 b"\r", b"\xe2\x80\xae", b"---\n", "第十二条".encode(),
                                                 b"\n4.2.1 ", b"#" * 7, b" " * 300]))
        elif op == "delete":
            del buf[pos:pos + draw(st.integers(1, 64))]
        elif op == "duplicate":
            chunk = buf[pos:pos + draw(st.integers(1, 256))]
            buf[pos:pos] = chunk * draw(st.integers(1, 20))
        elif op == "truncate":
            del buf[pos:]
    return bytes(buf)


def rezip_with(data: bytes, part: str, edit: Callable[[bytes], bytes]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            target.writestr(info.filename, edit(body) if info.filename == part else body)
    return out.getvalue()


# --- generated documents ----------------------------------------------------------------------------

_WORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
_XML_SAFE = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co")), max_size=80)
_MARKERS = st.sampled_from(["", "4.2.1 ", "4.2 ", "**4.3** ", "§ 1026.43(c)(2) ", "Section 12 ", "Article 395 ",
                            "第十二条 ", "第三章 ", "第一节 ", "(a) ", "(iv) ", "（一）", "一、", "1. ", "a. ",
                            "- (b) ", "Chapter 2 ", "PART IV ", "10 Loss ", "# ", "## ", "###### ", "####### ",
                            "Document ID: ", "Version: ", "生效日期：", "| a | ", "---"])


def _line(words: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["", "", "  ", "\t"]), _MARKERS, words).map("".join)


def documents(words: st.SearchStrategy[str] = _WORDS) -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(_line(words), st.just("")), max_size=60)


def as_markdown(lines: list[str], front: str) -> bytes:
    return (f"---\n{front}\n---\n" if front else "").encode() + "\n".join(lines).encode("utf-8", "surrogatepass")


def as_html(lines: list[str]) -> bytes:
    tags = ["h1", "h2", "h3", "p", "li", "pre", "td"]
    body = "".join(f"<{tags[i % len(tags)]}>{line}</{tags[i % len(tags)]}>" for i, line in enumerate(lines))
    return f"<html><body>{body}</body></html>".encode()


def as_docx(lines: list[str], title: str) -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    for i, line in enumerate(lines):
        if i % 7 == 3:
            document.add_heading(line, level=1 + i % 3)
        elif i % 11 == 5:
            document.add_table(rows=1, cols=2).rows[0].cells[0].text = line
        else:
            document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- the properties -----------------------------------------------------------------------------------

@fuzz_settings(40)
@example(data=b"\xff\xfe-")  # a UTF-16 mark and an odd byte count: escaped as UnicodeDecodeError
@given(data=st.one_of(*(mutations(seed) for seed in SEED_MD)))
def test_mutated_markdown_reads_or_is_refused(workdir: Path, data: bytes) -> None:
    reads_or_refuses(workdir, "mutated.md", data)


@fuzz_settings(40)
@given(lines=documents(), front=st.sampled_from(["", "doc_id: X\nversion: 2", "access: 5", "title: [1, 2]",
                                                 "effective_date: 2025-13-45", "version:", ": :", "a: &x [*x]",
                                                 "language: 7\nstatus: [current]"]),
       suffix=st.sampled_from([".md", ".txt"]), pages=st.booleans())
def test_generated_markdown_and_text_read_or_are_refused(workdir: Path, lines: list[str], front: str,
                                                         suffix: str, pages: bool) -> None:
    if suffix == ".txt" and pages:
        lines = [line if i % 9 else "\f" + line for i, line in enumerate(lines)]
    reads_or_refuses(workdir, f"generated{suffix}", as_markdown(lines, front if suffix == ".md" else ""))


@fuzz_settings(25)
@given(data=st.one_of(mutations(SEED_HTML), documents().map(as_html)))
def test_mutated_and_generated_html_reads_or_is_refused(workdir: Path, data: bytes) -> None:
    reads_or_refuses(workdir, "page.html", data)


@fuzz_settings(15)
@given(data=st.one_of(mutations(SEED_DOCX), mutations(SEED_DOCX_XML).map(
    lambda xml: rezip_with(SEED_DOCX, "word/document.xml", lambda _: xml))))
def test_mutated_docx_reads_or_is_refused(workdir: Path, data: bytes) -> None:
    reads_or_refuses(workdir, "mutated.docx", data)


@fuzz_settings(10)
@given(lines=documents(_XML_SAFE), title=_XML_SAFE)
def test_generated_docx_reads_or_is_refused(workdir: Path, lines: list[str], title: str) -> None:
    reads_or_refuses(workdir, "generated.docx", as_docx(lines, title))


@fuzz_settings(30)
@given(data=st.one_of(mutations(SEED_PDF),
                      st.lists(_line(_WORDS), min_size=1, max_size=30).map(small_pdf)))
def test_mutated_and_generated_pdf_reads_or_is_refused(workdir: Path, data: bytes) -> None:
    reads_or_refuses(workdir, "policy.pdf", data)
