"""Scanned pages → text: find the pages whose text layer is missing or garbage, OCR only those with
OCRmyPDF over Tesseract (English and Simplified Chinese), cache the result by the file's bytes.

OCRmyPDF runs in a child process (its own session) so a per-file time limit can stop it, workers and
Tesseract included; our plugin (ingest/ocr_plugin.py) leaves each recognised page's text and mean word
confidence in a folder, which is polled for per-page progress. Image files (PNG, JPEG, TIFF) become an
image-only PDF first and take the same route. Nothing here downloads anything: the language data are
Debian's tesseract-ocr-eng and tesseract-ocr-chi-sim.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xiaoshen.errors import DocumentError
from xiaoshen.settings import OcrSettings
from xiaoshen.text import detect_language

A4_AREA = 595.0 * 842.0  # points²
PLUGIN = Path(__file__).with_name("ocr_plugin.py")
CACHE_FORMAT = 1
_LANGUAGES = {"en": ["eng"], "zh": ["chi_sim", "eng"]}  # primary language first; English mixes into Chinese
_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef“”‘’"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])")
_LIGATURES = str.maketrans({"ﬁ": "fi", "ﬂ": "fl", "ﬀ": "ff", "ﬃ": "ffi", "ﬄ": "ffl"})


@dataclass
class OcrOptions:
    """What an ingest tells the readers about OCR: settings, where results are cached, who hears progress."""

    settings: OcrSettings
    cache_dir: Path
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True)
class OcrPage:
    number: int  # 1-based
    text: str
    confidence: float | None  # mean Tesseract word confidence, 0–100; None if no words were found


@dataclass
class OcrResult:
    pages: dict[int, OcrPage] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)
    recognised: int = 0  # pages OCR'd by this call (0 when all came from the cache)
    seconds: float = 0.0


# --- which pages need OCR ---------------------------------------------------------------------------


def page_text_and_image_share(page: Any) -> tuple[str, float]:
    """A pypdf page's extracted text and the share of the page its images cover (0–1)."""
    try:
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else {}
        xobjects = resources.get("/XObject") if hasattr(resources, "get") else None
        xobjects = xobjects.get_object() if xobjects is not None else {}
        images = {name for name, ref in xobjects.items() if ref.get_object().get("/Subtype") == "/Image"}
    except (AttributeError, KeyError, TypeError, ValueError):
        images = set()  # odd resources: judge the page by its text alone, as before OCR existed
    covered = 0.0

    def visit(operator: bytes, operands: list[Any], cm: list[float], tm: list[float]) -> None:
        nonlocal covered
        # An image is drawn into the unit square mapped by the current matrix: its area is |det(cm)|.
        if (operator == b"Do" and operands and operands[0] in images) or operator == b"INLINE IMAGE":
            covered += abs(cm[0] * cm[3] - cm[1] * cm[2])

    text = page.extract_text(visitor_operand_before=visit) or ""
    box = page.mediabox
    area = abs(float(box.width) * float(box.height)) or A4_AREA
    return text, min(1.0, covered / area)


def scan_reason(text: str, image_share: float, page_area: float, settings: OcrSettings) -> str | None:
    """Why a page's text layer cannot be used (so it needs OCR), or None if it can."""
    visible = [c for c in text if not c.isspace()]
    scale = max(0.25, page_area / A4_AREA)
    if not visible:
        return "no text layer" if image_share > 0.05 else None  # a blank page has nothing to recognise
    unreadable = sum(1 for c in visible if c == "\ufffd" or unicodedata.category(c) in {"Cc", "Co", "Cs", "Cn"})
    if unreadable / len(visible) >= 0.3:
        return "text layer is mostly unreadable characters"
    if len(visible) < settings.min_chars_per_page * scale and image_share > 0.05:
        return f"only {len(visible)} characters of text on an image"
    if image_share >= settings.image_page_share and len(visible) < 4 * settings.min_chars_per_page * scale:
        return "a scanned image covers the page and its text layer is partial"
    return None


def page_ranges(pages: list[int]) -> str:
    """'1–3, 7' for a warning a reader can act on."""
    spans: list[list[int]] = []
    for page in sorted(pages):
        if spans and page == spans[-1][1] + 1:
            spans[-1][1] = page
        else:
            spans.append([page, page])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in spans)


# --- text clean-up ----------------------------------------------------------------------------------


def tidy_ocr_text(text: str) -> str:
    """Tesseract's text as the clause parser needs it: no spaces between CJK characters (第 十 二 条 →
    第十二条), no ligatures, no form feed."""
    text = text.replace("\f", "\n").translate(_LIGATURES)
    return "\n".join(_CJK_GAP.sub("", line).rstrip() for line in text.splitlines())


# --- images ---------------------------------------------------------------------------------------


def image_to_pdf(source: str, data: bytes) -> bytes:
    """A PNG, JPEG or TIFF (every frame of it) as an image-only PDF at the image's own resolution."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        frames = [frame.convert("L" if frame.mode in {"1", "L", "LA", "I;16"} else "RGB")
                  for frame in ImageSequence.Iterator(image)]
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DocumentError(source, f"not a readable image ({exc})") from exc
    dpi = image.info.get("dpi", (0, 0))[0] or 0
    # Phones and many tools stamp 72 dpi on photographs; a page photographed whole is nearer 200.
    resolution = float(dpi) if dpi and dpi >= 100 else 200.0
    out = io.BytesIO()
    frames[0].save(out, format="PDF", save_all=True, append_images=frames[1:], resolution=resolution)
    return out.getvalue()


# --- OCR with the cache -----------------------------------------------------------------------------


def languages_for(language: str | None, settings: OcrSettings) -> list[str] | None:
    """Tesseract languages for a declared document language; None if it must be detected."""
    if len(settings.languages) == 1:
        return list(settings.languages)
    chosen = [lang for lang in _LANGUAGES.get(str(language or "").lower(), []) if lang in settings.languages]
    return chosen or None


def recognise(source: str, pdf: bytes, pages: list[int], options: OcrOptions, *,
              language: str | None = None, cache_key: str | None = None, photo: bool = False) -> OcrResult:
    """OCR `pages` (1-based) of `pdf`, reusing what the cache holds for these bytes; raises DocumentError
    naming the file when Tesseract is missing, OCR fails or the per-file time limit is reached. `photo`:
    the pages are photographs (tilted, lit unevenly), so they are deskewed and thresholded locally."""
    settings = options.settings
    key = cache_key or hashlib.sha256(pdf).hexdigest()
    cache_file = options.cache_dir / f"{key}.json"
    cached = _read_cache(cache_file)
    result = OcrResult(pages={n: p for n, p in cached.get("pages", {}).items() if n in pages},
                       languages=cached.get("languages", []))
    missing = [n for n in pages if n not in result.pages]
    if not missing:
        return result
    if shutil.which("tesseract") is None:
        raise DocumentError(source, "this file needs OCR but Tesseract is not installed",
                            "run `make ocr-tools`, or ingest with --no-ocr to skip scanned pages")
    started = time.monotonic()
    deadline = started + settings.time_limit_s
    languages = result.languages or languages_for(language, settings)
    done = len(pages) - len(missing)
    if languages is None:
        # First pass on one page with every language, then the rest in the language found.
        first = _run_ocrmypdf(source, pdf, missing[:1], list(settings.languages), settings, deadline,
                              options.progress, done, len(pages), photo)
        result.pages.update(first)
        found = detect_language(" ".join(p.text for p in first.values()))
        languages = languages_for(found, settings) or list(settings.languages)
        missing, done = missing[1:], done + 1
    if missing:
        result.pages.update(_run_ocrmypdf(source, pdf, missing, languages, settings, deadline,
                                          options.progress, done, len(pages), photo))
    result.languages = languages
    result.recognised = len(pages) - len(cached.get("pages", {}).keys() & set(pages))
    result.seconds = time.monotonic() - started
    _write_cache(cache_file, {**cached.get("pages", {}), **result.pages}, languages)
    return result


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if data.get("format") != CACHE_FORMAT:
        return {}
    pages = {int(p["number"]): OcrPage(int(p["number"]), str(p["text"]), p.get("confidence"))
             for p in data.get("pages", [])}
    return {"pages": pages, "languages": list(data.get("languages", []))}


def _write_cache(path: Path, pages: dict[int, OcrPage], languages: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CACHE_FORMAT, "languages": languages,
               "pages": [{"number": p.number, "text": p.text, "confidence": p.confidence}
                         for p in sorted(pages.values(), key=lambda p: p.number)]}
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)


def _run_ocrmypdf(source: str, pdf: bytes, pages: list[int], languages: list[str], settings: OcrSettings,
                  deadline: float, progress: Callable[[str], None] | None, done: int,
                  total: int, photo: bool) -> dict[int, OcrPage]:
    name = Path(source).name
    with tempfile.TemporaryDirectory(prefix="xiaoshen-ocr-") as work:
        folder = Path(work)
        (folder / "pages").mkdir()
        (folder / "tmp").mkdir()
        (folder / "in.pdf").write_bytes(pdf)
        remaining = max(1, int(deadline - time.monotonic()))
        command = [
            *_LAUNCH, "--plugin", str(PLUGIN), "-l", "+".join(languages),
            "--pages", ",".join(str(n) for n in pages), "--force-ocr", "--output-type", "none",
            "--optimize", "0", "--quiet", "--jobs", str(settings.jobs or os.cpu_count() or 1),
            "--tesseract-timeout", str(remaining),
            # A phone photo loses whole paragraphs to a global threshold and to its tilt (a page
            # photographed at 2° kept 4 of 10 clauses; deskewed with Sauvola thresholding, all 10).
            *(["--deskew", "--tesseract-thresholding", "sauvola"] if photo else []),
            str(folder / "in.pdf"), "-",
        ]
        # OCRmyPDF's work files go to our folder, so even a killed run leaves nothing behind.
        env = {**os.environ, "XIAOSHEN_OCR_PAGES": str(folder / "pages"), "TMPDIR": str(folder / "tmp")}
        with (folder / "log.txt").open("wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=log, env=env, start_new_session=True)
            seen: set[str] = set()
            try:
                while True:
                    finished = process.poll() is not None
                    for record in sorted((folder / "pages").glob("*.json")):
                        if record.name not in seen:
                            seen.add(record.name)
                            if progress:
                                page = json.loads(record.read_text(encoding="utf-8"))
                                conf = page.get("confidence")
                                progress(f"OCR {name}: page {page['page']} recognised ({done + len(seen)} of "
                                         f"{total}" + (f", confidence {conf:.0f}" if conf is not None else "")
                                         + ")")
                    if finished:
                        break
                    if time.monotonic() > deadline:
                        _stop(process)
                        raise DocumentError(
                            source, f"OCR stopped at the per-file time limit of {settings.time_limit_s:g} s "
                            f"with {done + len(seen)} of {total} scanned pages recognised",
                            "raise ocr.time_limit_s (XIAOSHEN_OCR__TIME_LIMIT_S) or split the file")
                    time.sleep(0.2)
            finally:
                if process.poll() is None:
                    _stop(process)
        if process.returncode != 0:
            lines = [ln.strip() for ln in (folder / "log.txt").read_text(errors="replace").splitlines() if ln.strip()]
            raise DocumentError(source, f"OCR failed (ocrmypdf exit {process.returncode}: "
                                f"{lines[-1][:200] if lines else 'no message'})")
        found: dict[int, OcrPage] = {}
        for record in (folder / "pages").glob("*.json"):
            page = json.loads(record.read_text(encoding="utf-8"))
            found[int(page["page"])] = OcrPage(int(page["page"]), tidy_ocr_text(page["text"]), page["confidence"])
    for number in pages:  # a page Tesseract found nothing on still counts as recognised (and empty)
        found.setdefault(number, OcrPage(number, "", None))
    return found


# OCRmyPDF runs in its own session so a time limit can kill its whole tree; on Linux it also asks to be
# killed if the ingest dies (PR_SET_PDEATHSIG survives exec), so a terminated ingest leaves no OCR running.
_LAUNCH = [sys.executable, "-c", "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGKILL); "
           "os.execv(sys.executable, [sys.executable, '-m', 'ocrmypdf', *sys.argv[1:]])"] \
    if sys.platform.startswith("linux") else [sys.executable, "-m", "ocrmypdf"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill OCRmyPDF with its workers and Tesseract processes (its own session, started by us)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
