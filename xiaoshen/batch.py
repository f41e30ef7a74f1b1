"""Review notes for a folder (or CSV) of applications: one failure never stops the rest, and a re-run skips
applications whose input, policies and settings are unchanged."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import Application, ApplicationError, load_application, load_applications_csv
from xiaoshen.review.messages import Language
from xiaoshen.review.note import DEFAULT_RULES, ReviewNote, draft_note
from xiaoshen.review.portfolio import CSV_COLUMNS, PortfolioRow, csv_row, portfolio_row, render_summary_html
from xiaoshen.review.render import render_docx, render_html, render_markdown
from xiaoshen.settings import Settings

APPLICATION_SUFFIXES = {".json", ".yaml", ".yml"}
STATE_FILE = ".batch-state.json"
SUMMARY_COLUMNS = CSV_COLUMNS
FORMATS = ("md", "docx", "html")
RENDERERS: dict[str, Callable[..., str | bytes]] = {
    "md": render_markdown, "html": render_html, "docx": render_docx}


@dataclass
class BatchReport:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (application or file, reason)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def collect(source: Path) -> list[Application | ApplicationError]:
    """Applications from a folder of JSON/YAML files or from one CSV; bad ones come back as errors."""
    if source.is_file() and source.suffix.lower() == ".csv":
        return load_applications_csv(source)
    if not source.is_dir():
        raise XiaoshenError(f"{source} is neither a folder of applications nor a CSV file")
    items: list[Application | ApplicationError] = []
    for path in sorted(p for p in source.iterdir() if p.suffix.lower() in APPLICATION_SUFFIXES):
        try:
            items.append(load_application(path))
        except ApplicationError as exc:
            items.append(exc)
    return items


def parse_formats(value: str | Sequence[str]) -> list[str]:
    """'md,docx' (or a list) -> ['md', 'docx']; an unknown format is an error naming it."""
    names = [v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise XiaoshenError(f"unknown note format {', '.join(unknown) or '(none)'}", f"use {', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


def _fingerprint(app: Application, index: ClauseIndex, settings: Settings, rules: Path, formats: list[str],
                 roles: list[str] | None = None, language: str | None = None, prepared_by: str = "") -> str:
    """What a batch note depends on: the application, the index build (policies), the settings, the rules,
    the formats asked for (asking for another format redoes the note), its language and its preparer."""
    payload = json.dumps([app.model_dump(mode="json"), index.build_id, settings.fingerprint(),
                          hashlib.sha256(rules.read_bytes()).hexdigest(), sorted(formats),
                          sorted(roles) if roles is not None else None, language, prepared_by], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def note_files(app_id: str, formats: Sequence[str]) -> dict[str, str]:
    """Format -> file name of an application's note in the batch folder."""
    return {fmt: f"{app_id}.{fmt}" for fmt in formats}


def run_batch(source: Path, out_dir: Path, *, index: ClauseIndex, settings: Settings, workers: int = 1,
              rules: Path = DEFAULT_RULES, formats: Sequence[str] = ("md",),
              progress: Callable[[str], None] | None = None, roles: list[str] | None = None,
              language: Language | None = None, summary_language: Language = "en",
              prepared_by: str = "") -> BatchReport:
    """Draft a note per application into `out_dir` in each format, with summary.csv, summary.html and
    errors.csv beside them. Each note is in its application's language (or `language`); the summary is in the
    reader's (`summary_language`)."""
    formats = parse_formats(formats)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / STATE_FILE
    state: dict[str, dict[str, str]] = json.loads(state_path.read_text()) if state_path.exists() else {}
    report = BatchReport()
    pending: list[tuple[Application, str]] = []
    for item in collect(source):
        if isinstance(item, ApplicationError):
            report.errors.append((item.source, str(item)))
            continue
        digest = _fingerprint(item, index, settings, rules, formats, roles, language, prepared_by)
        previous = state.get(item.id)
        files = note_files(item.id, formats).values()
        if previous and previous.get("hash") == digest and "row" in previous and all(
                (out_dir / name).exists() for name in files):
            report.skipped.append(item.id)
            if progress:
                progress(item.id)
        else:
            pending.append((item, digest))

    def work(job: tuple[Application, str]) -> tuple[str, str, ReviewNote | None, str]:
        app, digest = job
        try:
            note = draft_note(app, index=index, settings=settings, rules_path=rules, roles=roles, language=language,
                              prepared_by=prepared_by)
            for fmt, name in note_files(app.id, formats).items():
                rendered = RENDERERS[fmt](note)
                path = out_dir / name
                if isinstance(rendered, bytes):
                    path.write_bytes(rendered)
                else:
                    path.write_text(rendered, encoding="utf-8")
            return app.id, digest, note, ""
        except Exception as exc:  # one application's failure must not stop the others
            return app.id, digest, None, f"{type(exc).__name__}: {exc}"
        finally:
            if progress:
                progress(app.id)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for app_id, digest, note, error in pool.map(work, pending):
            if note is None:
                report.errors.append((app_id, error))
                state.pop(app_id, None)
                continue
            report.written.append(app_id)
            state[app_id] = {"hash": digest, "row": portfolio_row(note, note_files(app_id, formats)).model_dump_json()}
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
    rows = summary_rows(out_dir)
    _write_csv(out_dir / "summary.csv", SUMMARY_COLUMNS, [csv_row(row, summary_language) for row in rows])
    (out_dir / "summary.html").write_text(render_summary_html(rows, lang=summary_language), encoding="utf-8")
    _write_csv(out_dir / "errors.csv", ["application", "reason"],
               [{"application": a, "reason": r} for a, r in report.errors])
    return report


def summary_rows(out_dir: Path) -> list[PortfolioRow]:
    """The portfolio rows of every note drafted into a batch folder, by application id."""
    state_path = out_dir / STATE_FILE
    state: dict[str, dict[str, str]] = json.loads(state_path.read_text()) if state_path.exists() else {}
    return [PortfolioRow.model_validate_json(v["row"]) for _, v in sorted(state.items()) if "row" in v]


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
