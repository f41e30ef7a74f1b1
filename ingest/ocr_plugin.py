"""OCRmyPDF plugin (loaded with `--plugin` by ingest/ocr.py): Tesseract as OCRmyPDF runs it, plus, for
each page it recognises, a JSON file with the page's text and its mean word confidence.

OCRmyPDF keeps Tesseract's per-word confidence (hOCR `x_wconf`) to itself and its sidecar text carries
no page numbers we can trust for skipped pages; this engine writes both, per page, into the folder
named by XIAOSHEN_OCR_PAGES, the moment the page is done, so the caller can also report progress.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ocrmypdf import hookimpl
from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOcrEngine

PAGES_ENV = "XIAOSHEN_OCR_PAGES"
_WORD = re.compile(r"class=['\"]ocrx_word['\"][^>]*title=['\"][^'\"]*x_wconf (\d+)[^>]*>(.*?)</span>", re.S)
_TAG = re.compile(r"<[^>]+>")


def mean_word_confidence(hocr: str) -> float | None:
    """Mean Tesseract confidence (0–100) of the non-empty words in an hOCR page."""
    scores = [int(conf) for conf, inner in _WORD.findall(hocr) if _TAG.sub("", inner).strip()]
    return sum(scores) / len(scores) if scores else None


class ConfidenceTesseract(TesseractOcrEngine):
    """TesseractOcrEngine that also leaves each page's text and confidence for Xiaoshen."""

    @staticmethod
    def generate_hocr(input_file, output_hocr, output_text, options):  # type: ignore[no-untyped-def]
        TesseractOcrEngine.generate_hocr(input_file, output_hocr, output_text, options)
        folder = os.environ.get(PAGES_ENV)
        if not folder:
            return
        # OCRmyPDF names every per-page work file with the 1-based page number first ("000003_ocr_hocr…").
        page = int(Path(output_hocr).name[:6])
        hocr = Path(output_hocr).read_text(encoding="utf-8", errors="replace")
        text = Path(output_text).read_text(encoding="utf-8", errors="replace")
        record = {"page": page, "text": text, "confidence": mean_word_confidence(hocr)}
        target = Path(folder) / f"{page:06d}.json"
        partial = target.with_suffix(".part")
        partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        partial.replace(target)  # the caller polls the folder: a page appears whole or not at all


@hookimpl
def get_ocr_engine(options):  # type: ignore[no-untyped-def]
    return ConfidenceTesseract()
