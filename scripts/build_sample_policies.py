"""Render the PDF and DOCX sample policies from their Markdown sources in data/policy_sources/.

    python scripts/build_sample_policies.py

A source names its output format in its front matter (`render: pdf` or `render: docx`). The PDFs have
real pages (A4, running footer "Page N of M") and carry doc id, version and effective date in their
document properties as well as in a printed header block; the DOCX uses Word heading styles and real
tables. Outputs are committed, so ingestion tests never depend on this script's fonts.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "data" / "policy_sources"
OUTPUT = ROOT / "data" / "sample_policies"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def parse_source(path: Path) -> tuple[dict[str, object], list[str]]:
    text = path.read_text(encoding="utf-8")
    match = _FRONT.match(text)
    if not match:
        raise SystemExit(f"{path}: missing front matter")
    return yaml.safe_load(match.group(1)), text[match.end():].splitlines()


def _plain(text: str) -> str:
    return re.sub(r"(\*\*|__|\*|`)", "", text).strip()


def _blocks(lines: list[str]) -> list[tuple[str, object]]:
    """('h1'|'h2'|'h3'|'para'|'quote'|'table', payload) in document order."""
    blocks: list[tuple[str, object]] = []
    table: list[list[str]] = []
    for raw in [*lines, ""]:
        line = raw.rstrip()
        if line.startswith("|"):
            cells = [_plain(c) for c in line.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?", c.strip()) for c in cells):
                table.append(cells)
            continue
        if table:
            blocks.append(("table", table))
            table = []
        if not line.strip():
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            blocks.append((f"h{min(len(heading.group(1)), 3)}", _plain(heading.group(2))))
        elif line.startswith(">"):
            blocks.append(("quote", _plain(line.lstrip("> "))))
        else:
            blocks.append(("para", _plain(line)))
    return blocks


def _header_lines(meta: dict[str, object]) -> list[str]:
    lines = [f"Document ID: {meta['doc_id']}", f"Version: {meta['version']}",
             f"Effective date: {meta['effective_date']}", f"Status: {meta.get('status', 'current')}",
             f"Policy owner: {meta.get('owner', '')}"]
    return [ln for ln in lines if not ln.endswith(": ")]


def _properties(meta: dict[str, object]) -> str:
    return "; ".join(f"{k}={meta[k]}" for k in ("doc_id", "version", "effective_date", "status", "language")
                     if meta.get(k) is not None)


def render_pdf(meta: dict[str, object], lines: list[str], out: Path,
               fonts: tuple[Path, Path, int] | None = None) -> int:
    """`fonts`: (regular, bold, face number in a collection), for scripts DejaVu lacks (Chinese)."""
    from fpdf import FPDF

    class PolicyPDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("DejaVu", size=8)
            self.cell(0, 8, f"{meta['doc_id']} v{meta['version']} — SYNTHETIC", align="L")
            self.set_x(self.l_margin)
            self.cell(0, 8, f"Page {self.page_no()} of {{nb}}", align="R")

    pdf = PolicyPDF(format="A4")
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(True, margin=18)
    regular, bold, face = fonts or (FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf", 0)
    pdf.add_font("DejaVu", "", str(regular), collection_font_number=face)
    pdf.add_font("DejaVu", "B", str(bold), collection_font_number=face)
    pdf.set_title(str(meta["title"]))
    pdf.set_author("Northbridge Commercial Bank (fictional) — Xiaoshen sample data")
    pdf.set_subject(_properties(meta))
    pdf.set_keywords(_properties(meta))
    # Reproducible bytes: the creation date is the policy's effective date, not the build time.
    effective = datetime.datetime.fromisoformat(str(meta["effective_date"])).replace(tzinfo=datetime.UTC)
    pdf.set_creation_date(effective)
    pdf.alias_nb_pages()
    pdf.add_page()
    width = pdf.epw
    for kind, payload in _blocks(lines):
        if kind == "h1":
            pdf.set_font("DejaVu", "B", 16)
            pdf.multi_cell(width, 8, str(payload), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", size=9)
            for header in _header_lines(meta):
                pdf.multi_cell(width, 5, header, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        elif kind in {"h2", "h3"}:
            pdf.ln(3 if kind == "h2" else 1)
            pdf.set_font("DejaVu", "B", 12.5 if kind == "h2" else 11)
            pdf.multi_cell(width, 6.5, str(payload), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "quote":
            pdf.set_font("DejaVu", "B", 8.5)
            pdf.multi_cell(width, 4.5, str(payload), border=1, padding=2, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif kind == "table":
            pdf.set_font("DejaVu", size=8.5)
            with pdf.table(line_height=4.8, padding=1.2) as table:
                for row in payload:  # type: ignore[union-attr]
                    cells = table.row()
                    for cell in row:
                        cells.cell(cell)
            pdf.ln(2)
        else:
            pdf.set_font("DejaVu", size=10)
            pdf.multi_cell(width, 5.2, str(payload), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.4)
    pdf.output(str(out))
    return pdf.page_no()


def render_docx(meta: dict[str, object], lines: list[str], out: Path) -> int:
    import docx
    from docx.shared import Pt

    document = docx.Document()
    props = document.core_properties
    props.title = str(meta["title"])
    props.subject = _properties(meta)
    props.keywords = _properties(meta)
    props.author = "Northbridge Commercial Bank (fictional) — Xiaoshen sample data"
    for kind, payload in _blocks(lines):
        if kind == "h1":
            document.add_paragraph(str(payload), style="Title")
            for header in _header_lines(meta):
                document.add_paragraph(header)
        elif kind in {"h2", "h3"}:
            document.add_heading(str(payload), level=1 if kind == "h2" else 2)
        elif kind == "quote":
            paragraph = document.add_paragraph()
            run = paragraph.add_run(str(payload))
            run.bold = True
            run.font.size = Pt(9)
        elif kind == "table":
            rows: list[list[str]] = payload  # type: ignore[assignment]
            table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
                    if r == 0:
                        for run in table.cell(r, c).paragraphs[0].runs:
                            run.bold = True
        else:
            document.add_paragraph(str(payload))
    document.save(str(out))
    return 0


def main() -> int:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for source in sorted(SOURCES.glob("NCB-*.md")):
        meta, lines = parse_source(source)
        fmt = meta.get("render")
        if fmt not in {"pdf", "docx"}:
            continue
        out = OUTPUT / f"{source.stem}.{fmt}"
        pages = (render_pdf if fmt == "pdf" else render_docx)(meta, lines, out)
        print(f"{out.relative_to(ROOT)}" + (f" ({pages} pages)" if pages else ""), flush=True)
    # Scanned copies of two of them, for the OCR tests (tests/data/scanned/).
    from build_scanned_policies import main as build_scanned

    return build_scanned([])


if __name__ == "__main__":
    sys.exit(main())
