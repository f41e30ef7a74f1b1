"""File → PolicyDocument: text with page offsets and identifying metadata, for PDF, DOCX, MD, HTML, TXT,
and scanned pages (image-only PDF pages and PNG/JPEG/TIFF files, through OCR: ingest/ocr.py).

LlamaIndex's file readers return one Document per page (PDF) or flatten DOCX/HTML to plain text, losing
the heading styles and front matter the clause splitter needs; these readers keep both and hand the
splitter one text with page offsets. Every failure is a DocumentError naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import yaml

from ingest.limits import check_packed, check_text
from ingest.normalise import normalise_identifier, normalise_line, normalise_pages
from ingest.ocr import (
    OcrOptions,
    image_to_pdf,
    page_ranges,
    page_text_and_image_share,
    recognise,
    scan_reason,
)
from xiaoshen.errors import DocumentError
from xiaoshen.settings import IngestSettings, OcrSettings
from xiaoshen.text import detect_language
from xiaoshen.types import PolicyDocument

SUPPORTED_SUFFIXES = {".pdf": "pdf", ".docx": "docx", ".md": "md", ".markdown": "md", ".html": "html",
                      ".htm": "html", ".txt": "txt", ".png": "image", ".jpg": "image", ".jpeg": "image",
                      ".tif": "image", ".tiff": "image"}
_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")

_FRONT_MATTER = re.compile(r"\A\ufeff?---\s*\n(.*?)\n---\s*\n", re.S)
_META_LINE = re.compile(
    r"^\s*(Document ID|Doc(?:ument)? id|Version|Effective date|Status|Title|文件编号|版本|生效日期|状态)\s*[:：]\s*(.+?)\s*$",
    re.I | re.M,
)
_VERSION_IN_NAME = re.compile(r"[_\-\s]v(\d+(?:\.\d+)*)", re.I)
# `policy.pdf.meta.yaml` beside a file adds or overrides its metadata (doc_id, title, version,
# effective_date, status, language, access) for formats that cannot carry front matter.
SIDECAR_SUFFIX = ".meta.yaml"
# PyYAML raises these, not YAMLError, for a well-formed value it cannot build (a date like 2025-13-45).
_YAML_VALUE_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)
_SIDECAR_KEYS = {"doc_id", "title", "version", "effective_date", "status", "language", "access"}


def sidecar_path(path: Path) -> Path:
    """Where the optional metadata sidecar of `path` lives."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


# Raise when reading or clause splitting changes what an already ingested file becomes, so that indexes
# built before re-read every file once instead of keeping the old clauses for as long as the bytes stay
# the same. 2: ADGM's appendix paragraphs (APP4.A4.1.Guidance.14) are clauses of their own. 3: paragraph
# numbers alone on their line (PRA Rulebook "Article 390(6)") and official interpretations' comments
# ("Comment 9(b)(2)-1").
INGEST_RULES = "3"


def ingest_digest(path: Path) -> str:
    """What a file's clauses are made from: its bytes and sidecar (`content_digest`) and the ingest rules."""
    return hashlib.sha256(f"{content_digest(path)}\0ingest rules {INGEST_RULES}".encode()).hexdigest()


def content_digest(path: Path) -> str:
    """SHA-256 of the file and its sidecar: editing either (say, the access labels) re-ingests the file."""
    digest = hashlib.sha256(path.read_bytes())
    sidecar = sidecar_path(path)
    if sidecar.exists():
        digest.update(b"\0sidecar\0" + sidecar.read_bytes())
    return digest.hexdigest()


def _sidecar_meta(path: Path) -> Meta:
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        return {}
    try:
        meta = yaml.safe_load(sidecar.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, *_YAML_VALUE_ERRORS) as exc:
        raise DocumentError(str(path), f"its metadata file {sidecar.name} is not valid YAML: "
                            f"{' '.join(str(exc).split())}") from exc
    if not isinstance(meta, dict) or set(meta) - _SIDECAR_KEYS:
        unknown = sorted(set(meta) - _SIDECAR_KEYS) if isinstance(meta, dict) else "not a mapping"
        raise DocumentError(str(path), f"its metadata file {sidecar.name} has unknown keys: {unknown}",
                            "allowed: " + ", ".join(sorted(_SIDECAR_KEYS)))
    return meta


def read_document(path: Path, limits: IngestSettings | None = None, ocr: OcrOptions | None = None) -> PolicyDocument:
    """Read one policy file; raises DocumentError with a one-line reason if it cannot be used or is over
    one of the `limits` (ingest/limits.py). Scanned pages are OCR'd when `ocr` is given and enabled;
    otherwise they are skipped and named in `notes`."""
    limits = limits or IngestSettings()
    source = str(path)
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(source, f"unsupported file type '{path.suffix or '(none)'}'",
                            "supported: " + ", ".join(sorted(SUPPORTED_SUFFIXES)))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(source, f"cannot read file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise DocumentError(source, "empty file")
    _check_signature(source, kind, data)
    check_packed(source, kind, data, limits)
    sidecar = _sidecar_meta(path)
    scans = _Scans(ocr, str(sidecar.get("language") or "") or None)
    if kind in {"pdf", "image"}:
        text, page_starts, meta = (_read_pdf if kind == "pdf" else _read_image)(source, data, scans)
    else:
        text, page_starts, meta = _READERS[kind](source, data)
    check_text(source, text, limits)
    if not text.strip():
        if scans.skipped:
            raise DocumentError(source, f"no text layer on page(s) {page_ranges(scans.skipped)} and OCR is off",
                                "ingest without --no-ocr (and with ocr.enabled = true) to recognise them")
        raise DocumentError(source, "no text found", "a scanned PDF needs OCR before ingestion")
    meta = {**meta, **sidecar}
    document = _build_document(path, kind, data, text, page_starts, meta)
    document.ocr_pages = scans.confidence
    if scans.skipped:
        document.notes.append(f"{path.name}: page(s) {page_ranges(scans.skipped)} have no usable text layer "
                              "and were skipped because OCR is off (--no-ocr / ocr.enabled)")
    return document


class _Scans:
    """The OCR side of reading one file: which pages were recognised (with confidence) or skipped."""

    def __init__(self, options: OcrOptions | None, language: str | None) -> None:
        self.options = options if options is not None and options.settings.enabled else None
        self.detection = options.settings if options is not None else OcrSettings()
        self.language = language
        self.confidence: dict[int, float | None] = {}
        self.skipped: list[int] = []

    def read(self, source: str, pdf: bytes, pages: list[int], cache_key: str | None = None,
             photo: bool = False) -> dict[int, str]:
        """Text of the scanned `pages`, or nothing (and the pages noted as skipped) when OCR is off."""
        if not pages:
            return {}
        if self.options is None:
            self.skipped = pages
            return {}
        key = f"{cache_key or hashlib.sha256(pdf).hexdigest()}-{self.language or 'auto'}"
        result = recognise(source, pdf, pages, self.options, language=self.language, cache_key=key, photo=photo)
        self.confidence = {n: p.confidence for n, p in result.pages.items()}
        return {n: p.text for n, p in result.pages.items()}


def _check_signature(source: str, kind: str, data: bytes) -> None:
    """Catch mislabeled files before a parser produces a confusing error."""
    head = data[:8]
    is_pdf, is_zip = head.startswith(b"%PDF-"), head.startswith(b"PK\x03\x04")
    if kind == "pdf" and not is_pdf:
        raise DocumentError(source, f"not a PDF (the file starts like {_sniff(data)})")
    if kind == "image" and not data.startswith(_IMAGE_SIGNATURES):
        raise DocumentError(source, f"not a PNG, JPEG or TIFF image (the file starts like {_sniff(data)})")
    if kind == "docx" and not is_zip:
        raise DocumentError(source, f"not a Word .docx file (the file starts like {_sniff(data)})")
    if kind in {"md", "txt", "html"} and (is_pdf or is_zip or (b"\x00" in data[:4096] and not _is_utf16(data))):
        raise DocumentError(source, f"not a text file (the file starts like {_sniff(data)})")


def _sniff(data: bytes) -> str:
    if data.startswith(b"%PDF-"):
        return "a PDF"
    if data.startswith(b"PK\x03\x04"):
        return "a ZIP/Office file"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return "a legacy Office .doc/.xls file"
    if b"\x00" in data[:4096]:
        return "binary data"
    return "plain text"


def _is_utf16(data: bytes) -> bool:
    return data.startswith((b"\xff\xfe", b"\xfe\xff"))


def decode_text(source: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 for legacy Chinese files."""
    if _is_utf16(data):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:  # an odd byte count or a lone surrogate (found by the fuzzer)
            raise DocumentError(source, f"undecodable text (a UTF-16 mark, but not UTF-16 at byte {exc.start})",
                                "re-save the file as UTF-8") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    # GB18030 maps almost any byte string; accept it only if it reads as Chinese prose.
    if text and detect_language(text) == "zh" and not re.search(r"[\x00-\x08\x0e-\x1f]", text):
        return text
    raise DocumentError(
        source, f"undecodable text (not UTF-8 at byte {utf8_error.start}, nor GB18030)",
        "re-save the file as UTF-8",
    )


# --- per-format readers: (source, bytes) -> (text, page_starts, metadata) -------------------------

Meta = dict[str, object]


# What pypdf raises on damaged bytes besides its own errors (found by tests/test_fuzz_ingest.py).
_PDF_DAMAGE: tuple[type[BaseException], ...] = (ValueError, KeyError, TypeError, AttributeError, OSError, IndexError,
                                                ZeroDivisionError, RecursionError, AssertionError, struct.error)


def _read_pdf(source: str, data: bytes, scans: _Scans) -> tuple[str, list[int], Meta]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    damage = (*_PDF_DAMAGE, PyPdfError)  # pypdf's LimitReachedError (a stream over its inflate limit) among them

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Owner-password-only PDFs (print/copy restrictions) open with an empty user password.
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported crypto
                raise DocumentError(source, f"encrypted PDF that cannot be opened ({exc})") from exc
            if not ok:
                raise DocumentError(source, "encrypted PDF (password required)",
                                    "ask the policy owner for an unprotected copy")
        raw, scanned = [], []
        for number, page in enumerate(reader.pages, start=1):
            text, image_share = page_text_and_image_share(page)
            raw.append(text)
            area = abs(float(page.mediabox.width) * float(page.mediabox.height))
            if scan_reason(text, image_share, area, scans.detection):
                scanned.append(number)
        info = reader.metadata or {}
    except DocumentError:
        raise
    except damage as exc:
        message = " ".join(str(exc).split())[:200]
        raise DocumentError(source, f"damaged or truncated PDF ({type(exc).__name__}: {message})") from exc
    if scans.language is None:
        declared = re.search(r"language\s*=\s*(\w+)", f"{info.get('/Subject') or ''};{info.get('/Keywords') or ''}")
        readable = "\n".join(t for n, t in enumerate(raw, start=1) if n not in scanned)
        scans.language = declared.group(1) if declared else (detect_language(readable) if len(readable) > 300 else None)
    recognised = scans.read(source, data, scanned)
    # OCR'd pages replace their text layer, then all pages lose running headers and footers together.
    pages = _clean_pdf_pages([recognised.get(n, "" if n in scanned else t) for n, t in enumerate(raw, start=1)],
                             ocr=bool(recognised))
    if not data.rstrip().endswith(b"%%EOF") and not any(p.strip() for p in pages):
        raise DocumentError(source, "truncated PDF (no end-of-file marker and no readable page)")
    text, starts = _join_pages(pages)
    meta: Meta = {}
    if info.get("/Title"):
        meta["title"] = str(info["/Title"])
    # Our generator (and many DMS exports) store policy fields in the Subject/Keywords entries.
    for field in ("/Subject", "/Keywords"):
        for key, value in re.findall(r"(\w+)\s*=\s*([^;]+)", str(info.get(field) or "")):
            meta.setdefault(key.strip().lower(), value.strip())
    meta.update({k: v for k, v in _meta_lines(text[:3000]).items() if k not in meta})
    if 1 in recognised and "title" not in meta:
        meta.update(_title_above_header(text[:3000]))
    return text, starts, meta


def _read_image(source: str, data: bytes, scans: _Scans) -> tuple[str, list[int], Meta]:
    """A photographed or scanned policy page (or a multi-page TIFF): all of it through OCR."""
    pdf = image_to_pdf(source, data)
    from pypdf import PdfReader

    count = len(PdfReader(io.BytesIO(pdf)).pages)
    # A JPEG is most likely a phone photo; PNG and TIFF pages usually come from a scanner.
    recognised = scans.read(source, pdf, list(range(1, count + 1)), cache_key=hashlib.sha256(data).hexdigest(),
                            photo=data.startswith(b"\xff\xd8\xff"))
    pages = _clean_pdf_pages([recognised.get(n, "") for n in range(1, count + 1)], ocr=True)
    text, starts = _join_pages(pages)
    return text, starts, {**_title_above_header(text[:3000]), **_meta_lines(text[:3000])}


def _title_above_header(text: str) -> Meta:
    """A scan has no document properties: its title is the line printed above the 'Document ID:' block."""
    lines = [ln.strip() for ln in text.splitlines()]
    for i, line in enumerate(lines):
        if _META_LINE.match(line):
            above = next((ln for ln in reversed(lines[:i]) if ln), "")
            return {"title": above} if 2 <= len(above) <= 120 and not _META_LINE.match(above) else {}
    return {}


def _clean_pdf_pages(pages: list[str], ocr: bool = False) -> list[str]:
    """Drop running headers/footers (lines repeated on most pages, digits aside) and page counters.

    With `ocr`, lines are compared by their letters only: Tesseract reads the same footer as
    "v2.1 — SYNTHETIC" on one page and "v2.1 一 SYNTHETIC" on the next."""
    split = [[" ".join(ln.split()) for ln in page.splitlines()] for page in pages]
    if ocr:  # Tesseract separates paragraphs by blank lines: the edges are the first and last lines of text
        split = [[ln for ln in lines if ln] for lines in split]
    line_key = _ocr_line_key if ocr else _line_key
    edge_counts: dict[str, int] = {}
    for lines in split:
        edges = {line_key(ln) for ln in lines[:2] + lines[-2:] if ln}
        for key in edges:
            edge_counts[key] = edge_counts.get(key, 0) + 1
    running = {k for k, n in edge_counts.items() if len(pages) >= 3 and n >= max(3, len(pages) // 2)}
    cleaned = []
    for lines in split:
        kept = [
            ln for i, ln in enumerate(lines)
            if ln and not ((i < 2 or i >= len(lines) - 2) and line_key(ln) in running)
            and not _PAGE_COUNTER.fullmatch(ln)
        ]
        cleaned.append("\n".join(kept))
    return cleaned


def _line_key(line: str) -> str:
    return re.sub(r"\d+", "#", line)


def _ocr_line_key(line: str) -> str:
    return re.sub(r"[^a-z#\u4e00-\u9fff]|一", "", _line_key(line).lower())


_PAGE_COUNTER = re.compile(r"(Page \d+( of \d+)?|第\s*\d+\s*页.*|-\s*\d+\s*-|\d+\s*/\s*\d+)")


def _join_pages(pages: list[str]) -> tuple[str, list[int]]:
    starts, parts, offset = [], [], 0
    for page in pages:
        starts.append(offset)
        parts.append(page)
        offset += len(page) + 1
    return "\n".join(parts), starts


def _read_docx(source: str, data: bytes) -> tuple[str, list[int], Meta]:
    from docx.exceptions import PythonDocxError
    from docx.opc.exceptions import PackageNotFoundError
    from lxml.etree import LxmlError

    # python-docx parses lazily, so damaged XML or attribute values surface while walking the body too.
    try:
        return _read_docx_body(data)
    except (PackageNotFoundError, PythonDocxError, LxmlError, zipfile.BadZipFile, KeyError, ValueError, TypeError,
            AttributeError, IndexError, EOFError, NotImplementedError, zlib.error) as exc:
        raise DocumentError(source, f"damaged or truncated Word file ({type(exc).__name__})") from exc


def _read_docx_body(data: bytes) -> tuple[str, list[int], Meta]:
    import docx

    document = docx.Document(io.BytesIO(data))
    style_names = _paragraph_style_names(document)
    lines: list[str] = []
    counters: dict[tuple[str, int], int] = {}
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = docx.text.paragraph.Paragraph(child, document)
            lines.append(_docx_paragraph(paragraph, counters, style_names))
        elif tag == "tbl":
            table = docx.table.Table(child, document)
            for row in table.rows:
                cells = [c.text.strip().replace("\n", " ") for c in row.cells]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    props = document.core_properties
    meta: Meta = {}
    if props.title:
        meta["title"] = props.title
    for key, value in re.findall(r"(\w+)\s*=\s*([^;]+)", f"{props.subject or ''};{props.keywords or ''}"):
        meta.setdefault(key.strip().lower(), value.strip())
    text = "\n".join(lines)
    meta.update({k: v for k, v in _meta_lines(text[:3000]).items() if k not in meta})
    return text, [], meta


def _paragraph_style_names(document) -> dict[str | None, str]:  # type: ignore[no-untyped-def]
    """Paragraph style id → name, and None → the default style's name: what `paragraph.style.name` gives,
    looked up once; python-docx searches the styles part with XPath on every call (2 ms a paragraph)."""
    from docx.enum.style import WD_STYLE_TYPE

    styles = document.styles
    names: dict[str | None, str] = {s.style_id: s.name or "" for s in styles if s.type == WD_STYLE_TYPE.PARAGRAPH}
    default = styles.default(WD_STYLE_TYPE.PARAGRAPH)
    names[None] = (default.name or "") if default is not None else ""
    return names


def _docx_paragraph(paragraph, counters: dict[tuple[str, int], int],  # type: ignore[no-untyped-def]
                    style_names: dict[str | None, str]) -> str:
    text = paragraph.text.strip()
    style_id = paragraph._p.style
    style = style_names.get(style_id, style_names[None])
    level = re.match(r"Heading (\d)", style)
    if style == "Title":
        return f"# {text}" if text else ""
    if level and text:
        return "#" * min(int(level.group(1)) + 1, 6) + " " + text
    # Word auto-numbering is not part of the run text; rebuild "1.2.3" from the list counters so the
    # clause splitter sees the number a reader sees on screen.
    num_pr = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
    if num_pr is not None and num_pr.numId is not None and text:
        num_id = str(num_pr.numId.val)
        ilvl = int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0
        counters[(num_id, ilvl)] = counters.get((num_id, ilvl), 0) + 1
        for deeper in [k for k in counters if k[0] == num_id and k[1] > ilvl]:
            del counters[deeper]
        number = ".".join(str(counters.get((num_id, lvl), 1)) for lvl in range(ilvl + 1))
        return f"{number} {text}"
    return text


def _read_markdown(source: str, data: bytes) -> tuple[str, list[int], Meta]:
    text = decode_text(source, data)
    meta: Meta = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1)) or {}
        except (yaml.YAMLError, *_YAML_VALUE_ERRORS) as exc:
            raise DocumentError(source, f"invalid YAML front matter ({exc.__class__.__name__}: "
                                f"{' '.join(str(exc).split())[:200]})") from exc
        if isinstance(loaded, dict):
            meta = {str(k).lower(): v for k, v in loaded.items()}
        text = text[match.end():]
    text = _strip_html_comments(text)
    meta.update({k: v for k, v in _meta_lines(text[:3000]).items() if k not in meta})
    return text, [], meta


def _strip_html_comments(text: str) -> str:
    """What re.sub(r"<!--.*?-->", "", text, flags=re.S) does, in linear time: that regex rescans the rest of
    the text from every unclosed "<!--" (80 KB of them took 41 s)."""
    parts, pos = [], 0
    while (opening := text.find("<!--", pos)) != -1:
        closing = text.find("-->", opening + 4)
        if closing == -1:
            break
        parts.append(text[pos:opening])
        pos = closing + 3
    parts.append(text[pos:])
    return "".join(parts)


def _read_text(source: str, data: bytes) -> tuple[str, list[int], Meta]:
    text = decode_text(source, data)
    # Form feeds mark pages in text exported from paged documents.
    pages = text.split("\f")
    joined, starts = _join_pages(pages)
    return joined, starts if len(pages) > 1 else [], _meta_lines(text[:3000])


def _read_html(source: str, data: bytes) -> tuple[str, list[int], Meta]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(source, data), "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header"]):
        tag.decompose()
    meta: Meta = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    for tag in soup.find_all("meta"):
        name, content = (tag.get("name") or "").lower(), tag.get("content")
        if name in {"doc_id", "version", "effective_date", "status", "language"} and content:
            meta[name] = content
    lines: list[str] = []
    for element in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "pre"]):
        if element.name == "li" and element.find(["p", "li"]):
            continue  # its inner paragraphs are emitted on their own
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name.startswith("h"):
            lines += ["", "#" * int(element.name[1]) + " " + text, ""]
        elif element.name == "tr":
            cells = [c.get_text(" ", strip=True) for c in element.find_all(["td", "th"])]
            lines.append("| " + " | ".join(cells) + " |")
        else:
            lines += [text, ""]
    text = "\n".join(lines)
    meta.update({k: v for k, v in _meta_lines(text[:3000]).items() if k not in meta})
    return text, [], meta


_READERS: dict[str, Callable[[str, bytes], tuple[str, list[int], Meta]]] = {
    "pdf": _read_pdf, "docx": _read_docx, "md": _read_markdown, "txt": _read_text, "html": _read_html,
}


# --- metadata -------------------------------------------------------------------------------------

_META_KEYS = {
    "document id": "doc_id", "doc id": "doc_id", "document id:": "doc_id", "文件编号": "doc_id",
    "version": "version", "版本": "version", "effective date": "effective_date", "生效日期": "effective_date",
    "status": "status", "状态": "status", "title": "title",
}


def _meta_lines(text: str) -> Meta:
    """Fields printed in a document's header block, e.g. 'Document ID: NCB-CPM-001'."""
    found: Meta = {}
    for label, value in _META_LINE.findall(text):
        key = _META_KEYS.get(label.lower())
        if key and key not in found:
            found[key] = value.strip().strip("*").strip()
    return found


def _parse_date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    if not value:
        return None
    match = re.search(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", str(value))
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _doc_id_from_name(path: Path) -> str:
    stem = _VERSION_IN_NAME.split(path.stem)[0]
    slug = re.sub(r"[^\w\u4e00-\u9fff]+", "-", stem).strip("-")
    return slug or path.stem


def _build_document(path: Path, kind: str, data: bytes, text: str, page_starts: list[int],
                    meta: Meta) -> PolicyDocument:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Hidden characters and compatibility forms go before anything parses the text (ingest/normalise.py).
    normalised, page_starts = normalise_pages(text, page_starts)
    text = normalised.text
    meta = {**meta, **{k: normalise_identifier(v) if k in {"doc_id", "version"} else normalise_line(v)[0]
                       for k, v in meta.items() if isinstance(v, str)}}
    if normalised.steps:  # a header line ("Document ID: …") may only parse once its hidden characters are gone
        meta.update({k: v for k, v in _meta_lines(text[:3000]).items() if k not in meta})
    title = str(meta.get("title") or "").strip()
    if not title:
        heading = re.search(r"^#\s+(.+)$", text, re.M)
        first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), path.stem)
        title = heading.group(1).strip() if heading else first_line[:120]
    version = str(meta.get("version") or "").strip().lstrip("vV")
    if not version:
        in_name = _VERSION_IN_NAME.search(path.stem)
        version = in_name.group(1) if in_name else "1"
    status = str(meta.get("status") or "").strip().lower()
    access = meta.get("access") or []
    if isinstance(access, str):
        access = [a.strip() for a in re.split(r"[,;\s]+", access) if a.strip()]
    elif not isinstance(access, list | tuple | set):
        access = [access]  # front matter may hold a bare number
    language = str(meta.get("language") or "").lower()
    return PolicyDocument(
        doc_id=str(meta.get("doc_id") or "").strip() or _doc_id_from_name(path),
        title=title,
        version=version,
        effective_date=_parse_date(meta.get("effective_date")),
        language=language if language in {"en", "zh"} else detect_language(text[:20000]),
        declared_status=status if status in {"current", "superseded"} else None,  # type: ignore[arg-type]
        access=[str(a) for a in access],  # type: ignore[union-attr]
        source=str(path),
        format=kind,
        content_hash=ingest_digest(path),
        text=text,
        page_starts=page_starts,
        normalised=normalised.steps,
        normalised_spans=normalised.spans,
    )
