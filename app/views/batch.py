"""Batch: a CSV or a zip of application files in → a draft note per application, the portfolio summary
with its charts, and a zip of everything to download. One bad application never stops the others."""

from __future__ import annotations

import csv
import io
import queue
import tempfile
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import shell
import streamlit as st
import tables

from xiaoshen.audit import record_batch
from xiaoshen.batch import run_batch, summary_rows
from xiaoshen.errors import XiaoshenError
from xiaoshen.review.messages import translate
from xiaoshen.review.note import recommendation_label
from xiaoshen.review.portfolio import CHART_METRICS, chart_caption, ratio_chart_svg
from xiaoshen.settings import PROJECT_ROOT

APPLICATION_SUFFIXES = {".json", ".yaml", ".yml"}
MAX_UNZIPPED_BYTES = 50 * 1024 * 1024

user = shell.require_user()
settings = shell.settings()
index = shell.index()

st.title("Batch review notes")
st.info("The assistant drafts a note per application; a person decides on each. Applications that fail "
        "validation are listed with the reason, and the rest are still drafted.")


def unpack(upload: Any, folder: Path) -> Path:
    """The uploaded CSV as a file, or the zip's application files in a folder (no path escapes the folder)."""
    name = Path(upload.name).name
    data = upload.getvalue()
    if name.lower().endswith(".csv"):
        target = folder / name
        target.write_bytes(data)
        return target
    source = folder / "applications"
    source.mkdir()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise XiaoshenError(f"{name} is not a zip file", "upload a .zip of JSON/YAML files or a .csv") from None
    members = [m for m in archive.infolist() if not m.is_dir()
               and PurePosixPath(m.filename).suffix.lower() in APPLICATION_SUFFIXES
               and not PurePosixPath(m.filename).name.startswith(".")]
    if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
        raise XiaoshenError(f"{name} unpacks to more than 50 MB", "split the batch")
    if not members:
        raise XiaoshenError(f"{name} holds no .json, .yaml or .yml application files")
    for member in members:
        # Flatten to the file name: a member called ../../x.json must not write outside the folder.
        (source / PurePosixPath(member.filename).name).write_bytes(archive.read(member))
    return source


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                archive.write(path, path.name)
    return buffer.getvalue()


SAMPLE_FOLDER = PROJECT_ROOT / "data" / "sample_applications"
SAMPLE_CSV = PROJECT_ROOT / "data" / "sample_applications.csv"
SAMPLES = f"The {sum(1 for p in SAMPLE_FOLDER.iterdir() if p.suffix in APPLICATION_SUFFIXES)} sample applications"
SAMPLE_CSV_CHOICE = "The sample CSV (one row per application)"
UPLOAD = "Upload a CSV or zip"


class _SampleUpload:
    """A bundled sample, handled exactly like an uploaded file: the sample folder as a zip, or the CSV."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"{path.name}.zip" if path.is_dir() else path.name

    def getvalue(self) -> bytes:
        return zip_folder(self.path) if self.path.is_dir() else self.path.read_bytes()


# The full sample set is the default: one click on "Draft the notes" drafts every sample application.
choice = st.radio("Applications", [SAMPLES, SAMPLE_CSV_CHOICE, UPLOAD], horizontal=True, key="batch_source")
if choice == UPLOAD:
    upload = st.file_uploader("A CSV (one row per application) or a zip of JSON/YAML application files",
                              type=["csv", "zip"], key="batch_upload")
else:
    upload = _SampleUpload(SAMPLE_FOLDER if choice == SAMPLES else SAMPLE_CSV)
c1, c2 = st.columns(2)
formats = c1.multiselect("Note formats", ["md", "docx", "html"], default=["md", "html"], key="batch_formats")
workers = c2.slider("Applications drafted in parallel", 1, 4, 2, key="batch_workers")
c1, c2 = st.columns(2)
NOTE_LANGUAGES = {"auto": "Each in its applicant's language", "en": "All in English", "zh": "全部中文"}
note_language = c1.selectbox("Language of the notes", list(NOTE_LANGUAGES), format_func=NOTE_LANGUAGES.__getitem__,
                             key="batch_note_language")
summary_language = c2.selectbox("Language of the summary", ["en", "zh"], key="batch_summary_language",
                                format_func={"en": "English", "zh": "中文"}.__getitem__)

if upload is not None and st.button("Draft the notes", type="primary", key="run_batch"):
    root = settings.index_dir.parent / "batches"
    root.mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix=datetime.now(UTC).strftime("%Y%m%d-%H%M%S-"), dir=root))
    bar = st.progress(0.0, text="Reading the applications…")
    done: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source = unpack(upload, Path(tmp))
            total = len(list(source.iterdir())) if source.is_dir() else max(
                sum(1 for _ in csv.DictReader(source.open(encoding="utf-8-sig"))), 1)

            # run_batch reports progress from its worker threads, which may not touch the page: it runs in
            # a thread of its own and this script thread moves the bar.
            finished: queue.Queue[str] = queue.Queue()
            outcome: dict[str, Any] = {}

            def work() -> None:
                try:
                    outcome["report"] = run_batch(source, out_dir, index=index, settings=settings,
                                                  workers=workers, formats=formats or ["md"], progress=finished.put,
                                                  roles=list(user.roles), prepared_by=user.name,
                                                  language=None if note_language == "auto" else note_language,
                                                  summary_language=summary_language)
                except Exception as exc:  # re-raised below, in the script thread
                    outcome["error"] = exc

            worker = threading.Thread(target=work, daemon=True)
            worker.start()
            while worker.is_alive() or not finished.empty():
                try:
                    done.append(finished.get(timeout=0.2))
                except queue.Empty:
                    continue
                bar.progress(min(len(done) / max(total, 1), 1.0), text=f"{len(done)} of {total}: {done[-1]}")
            if "error" in outcome:
                raise outcome["error"]
            report = outcome["report"]
    except XiaoshenError as exc:
        bar.empty()
        st.error(str(exc))
        st.stop()
    bar.progress(1.0, text="Done")
    record_batch(shell.audit_log(), user.username, Path(upload.name).name, report, settings.fingerprint(),
                 formats)
    st.session_state["batch"] = {"out_dir": str(out_dir), "errors": report.errors, "written": len(report.written)}

batch = st.session_state.get("batch")
if batch:
    out_dir = Path(batch["out_dir"])
    rows = summary_rows(out_dir)
    st.success(f"{batch['written']} notes drafted, {len(batch['errors'])} application(s) failed.")
    if batch["errors"]:
        st.markdown("#### Applications that could not be drafted")
        tables.show_table([{"application": name, "reason": reason} for name, reason in batch["errors"]],
                          columns={"application": "Application", "reason": "Reason"},
                          values={"application": str, "reason": str})
    st.download_button("Download the notes and the summary (zip)", zip_folder(out_dir),
                       f"xiaoshen-batch-{out_dir.name}.zip", mime="application/zip", key="download_batch")
    st.markdown("#### Portfolio summary")
    lang = summary_language
    summary = [{"application": r.id, "borrower": r.borrower, "product": translate(r.product, lang),
                "draft recommendation": recommendation_label(r.recommendation, lang),
                "approval authority": translate(r.approval_authority, lang),
                "failed checks": "; ".join(r.failed_checks), "exceptions": "; ".join(r.exceptions),
                **{CHART_METRICS[m]: r.ratios.get(m, "") for m in CHART_METRICS}} for r in rows]
    # In full and wrapped (app/tables.py), headings in the reader's language.
    # First letter up only: "DSCR" stays "DSCR", not "Dscr".
    tables.show_table(summary, columns={key: (h := translate(key, lang))[:1].upper() + h[1:] for key in summary[0]}
                      if summary else None)
    # The chart's title names the ratio and how to read it; its caption says what the chart alone does not.
    for metric in CHART_METRICS:
        svg = ratio_chart_svg(rows, metric, lang=lang)
        if svg:
            st.image(svg, caption=chart_caption(rows, metric, lang))
