"""Render scanned copies of two sample policies, for the OCR tests and the OCR benchmark.

    python scripts/build_scanned_policies.py            # the small committed set in tests/data/scanned/
    python scripts/build_scanned_policies.py --full DIR # every page of both policies, for `make bench`

What a bank's scanner produces: image-only PDFs at 200–300 dpi, each page slightly skewed, with speckle
noise, bilevel (CCITT G4, as an office MFP writes documents; JPEG pages when asked); plus one
page photographed with a phone (JPEG, tilted, uneven light). Beside each scan the text-layer PDF of the
same pages is kept, so the tests can compare clause ids page for page. Random noise is seeded: the bytes
are reproducible. Called by build_sample_policies.py; outputs are committed.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_sample_policies import OUTPUT, ROOT, parse_source, render_pdf

SCANNED = ROOT / "tests" / "data" / "scanned"
ENGLISH = OUTPUT / "NCB-CRE-002_cre_lending_standards_v3.pdf"
CHINESE_SOURCE = OUTPUT / "NCB-SME-ZH-007_小微企业流动资金贷款操作规程.md"
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian fonts-wqy-microhei (TrueType outlines:
# pypdf reads its text back; with the CFF-outline Noto CJK it reads NULs between the characters)
CJK_BOLD = CJK_FONT
CJK_SC = 0


def chinese_text_pdf(out: Path) -> Path:
    """The Chinese sample policy as a text PDF (the Markdown original has no pages to scan)."""
    meta, lines = parse_source(CHINESE_SOURCE)
    render_pdf(meta, lines, out, fonts=(CJK_FONT, CJK_BOLD, CJK_SC))
    return out


def page_subset(source: Path, pages: list[int], out: Path) -> Path:
    """The 1-based `pages` of `source` as a PDF with its text layer (the text version of a scan)."""
    from pypdf import PdfReader, PdfWriter

    reader, writer = PdfReader(source), PdfWriter()
    for number in pages:
        writer.add_page(reader.pages[number - 1])
    writer.add_metadata({k: v for k, v in (reader.metadata or {}).items() if isinstance(v, str)})
    with out.open("wb") as handle:
        writer.write(handle)
    return out


def rasterise(source: Path, pages: list[int], dpi: int) -> list[Image.Image]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(source))
    return [document[n - 1].render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for n in pages]


def scan_look(page: Image.Image, rng: random.Random, skew: float) -> Image.Image:
    """Skew, a little blur and speckle noise, as from a flatbed scanner."""
    page = page.rotate(skew, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    pixels = page.load()
    width, height = page.size
    for _ in range(width * height // 900):  # dust: dark specks on paper, white drop-outs in ink
        x, y = rng.randrange(width), rng.randrange(height)
        pixels[x, y] = rng.choice((0, 40, 255)) if pixels[x, y] > 128 else 255
    return page


def save_scan(images: list[Image.Image], out: Path, dpi: int, bilevel: bool) -> Path:
    if bilevel:
        frames = [im.point(lambda v: 255 if v > 150 else 0).convert("1") for im in images]
    else:
        # JPEG pages as a scanner's "grey, compact" preset writes them.
        frames = [Image.open(io.BytesIO(_jpeg(im, 55))) for im in images]
    frames[0].save(out, format="PDF", save_all=True, append_images=frames[1:], resolution=dpi,
                   title="", author="", creator="Scanner", producer="Scanner")
    return out


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def photograph(page: Image.Image, rng: random.Random) -> Image.Image:
    """A phone photo of a page on a desk: tilted, warm, lit unevenly, slightly soft."""
    page = page.rotate(-2.2, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=140)
    width, height = page.size
    light = Image.linear_gradient("L").resize((width, height)).point(lambda v: 255 - v // 5)
    page = Image.composite(page, Image.new("L", page.size, 0), light).filter(ImageFilter.GaussianBlur(0.8))
    pixels = page.load()
    for _ in range(width * height // 1500):
        x, y = rng.randrange(width), rng.randrange(height)
        pixels[x, y] = max(0, pixels[x, y] - rng.randrange(30, 90))
    warm = Image.merge("RGB", (page.point(lambda v: min(255, v + 12)), page, page.point(lambda v: v * 0.88)))
    return warm


def build(out_dir: Path, english_pages: list[int], chinese_pages: list[int], photo_page: int | None,
          work: Path) -> list[Path]:
    """Write the scans (and the text versions of the same pages) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(15)
    chinese_pdf = chinese_text_pdf(work / "NCB-SME-ZH-007.pdf")
    if not chinese_pages:
        from pypdf import PdfReader

        chinese_pages = list(range(1, len(PdfReader(chinese_pdf).pages) + 1))
    written: list[Path] = []
    english_stem, chinese_stem = "NCB-CRE-002_cre_lending_standards_v3", "NCB-SME-ZH-007_小微企业流动资金贷款操作规程"
    skews = [0.6, -0.8, 0.4, -0.5, 0.9, -0.3, 0.7, -0.6, 0.5, -0.9, 0.3, -0.4]
    english = [scan_look(im, rng, skews[i % len(skews)]) for i, im in enumerate(rasterise(ENGLISH, english_pages, 300))]
    written.append(save_scan(english, out_dir / f"{english_stem}.scan.pdf", 300, bilevel=True))
    written.append(page_subset(ENGLISH, english_pages, out_dir / f"{english_stem}.text.pdf"))
    chinese = [scan_look(im, rng, -skews[i % len(skews)]) for i, im in
               enumerate(rasterise(chinese_pdf, chinese_pages, 200))]
    written.append(save_scan(chinese, out_dir / f"{chinese_stem}.scan.pdf", 200, bilevel=True))
    written.append(page_subset(chinese_pdf, chinese_pages, out_dir / f"{chinese_stem}.text.pdf"))
    if photo_page is not None:
        photo = photograph(rasterise(ENGLISH, [photo_page], 170)[0], rng)
        path = out_dir / f"{english_stem}.photo-p{photo_page}.jpg"
        path.write_bytes(_jpeg(photo, 62))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", type=Path, help="write scans of every page here instead (not committed)")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        if args.full:
            from pypdf import PdfReader

            every = list(range(1, len(PdfReader(ENGLISH).pages) + 1))
            written = build(args.full, every, [], None, Path(work))
        else:
            written = build(SCANNED, [1, 2, 3], [1, 2, 3], 4, Path(work))
    for path in written:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
