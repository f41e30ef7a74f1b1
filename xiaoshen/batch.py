"""Review notes for a folder (or CSV) of applications: one failure never stops the rest, and a re-run skips
applications whose input, policies and settings are unchanged."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.review.application import Application, ApplicationError, load_application, load_applications_csv
from xiaoshen.review.note import DEFAULT_RULES, ReviewNote, draft_note
from xiaoshen.review.render import render_markdown
from xiaoshen.settings import Settings

APPLICATION_SUFFIXES = {".json", ".yaml", ".yml"}
STATE_FILE = ".batch-state.json"
SUMMARY_COLUMNS = ["id", "borrower", "product", "recommendation", "approval_authority", "failed_checks",
                   "exceptions", "not_assessable", "dscr", "ltv", "dti", "note"]


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


def _fingerprint(app: Application, index: ClauseIndex, settings: Settings, rules: Path) -> str:
    """What a note depends on: the application, the index build (policies), the settings and the rules."""
    payload = json.dumps([app.model_dump(mode="json"), index.build_id, settings.fingerprint(),
                          hashlib.sha256(rules.read_bytes()).hexdigest()], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def run_batch(source: Path, out_dir: Path, *, index: ClauseIndex, settings: Settings, workers: int = 1,
              rules: Path = DEFAULT_RULES, progress: Callable[[str], None] | None = None) -> BatchReport:
    """Draft a note per application into `out_dir`, with summary.csv and errors.csv beside them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / STATE_FILE
    state: dict[str, dict[str, str]] = json.loads(state_path.read_text()) if state_path.exists() else {}
    report = BatchReport()
    pending: list[tuple[Application, str]] = []
    for item in collect(source):
        if isinstance(item, ApplicationError):
            report.errors.append((item.source, str(item)))
            continue
        digest = _fingerprint(item, index, settings, rules)
        previous = state.get(item.id)
        if previous and previous.get("hash") == digest and (out_dir / f"{item.id}.md").exists():
            report.skipped.append(item.id)
            if progress:
                progress(item.id)
        else:
            pending.append((item, digest))

    def work(job: tuple[Application, str]) -> tuple[str, str, ReviewNote | None, str]:
        app, digest = job
        try:
            note = draft_note(app, index=index, settings=settings, rules_path=rules)
            (out_dir / f"{app.id}.md").write_text(render_markdown(note), encoding="utf-8")
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
            state[app_id] = {"hash": digest, "summary": json.dumps(_summary_row(note))}
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
    _write_csv(out_dir / "summary.csv", SUMMARY_COLUMNS,
               [json.loads(v["summary"]) for _, v in sorted(state.items())])
    _write_csv(out_dir / "errors.csv", ["application", "reason"],
               [{"application": a, "reason": r} for a, r in report.errors])
    return report


def _summary_row(note: ReviewNote) -> dict[str, str]:
    figures = {f.key: f.display() for f in note.figures}
    return {
        "id": note.application_id, "borrower": note.borrower, "product": note.product,
        "recommendation": note.recommendation, "approval_authority": note.authority.approver,
        "failed_checks": "; ".join(c.rule_id for c in note.checks if c.result == "fail"),
        "exceptions": "; ".join(c.rule_id for c in note.checks if c.result == "exception_needed"),
        "not_assessable": "; ".join(c.rule_id for c in note.checks if c.result == "not_assessable"),
        "dscr": figures.get("dscr", ""), "ltv": figures.get("ltv", ""), "dti": figures.get("dti", ""),
        "note": f"{note.application_id}.md",
    }


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
