"""Batch review notes: bad applications land in errors.csv without stopping the rest; a re-run skips
what has not changed and redoes what has."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import ROOT
from xiaoshen.batch import run_batch
from xiaoshen.cli import app as cli
from xiaoshen.index import ClauseIndex

APPS = ROOT / "data" / "sample_applications"
BAD = ROOT / "tests" / "data" / "bad_applications"


def folder_with(tmp_path: Path, names: list[str], bad: list[str]) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in names:
        shutil.copy(next(APPS.glob(f"{name}*")), folder)
    for name in bad:
        shutil.copy(BAD / name, folder)
    return folder


def test_bad_inputs_are_reported_and_the_rest_are_drafted(sample_index: ClauseIndex, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, ["APP-002", "APP-041"], ["malformed.json", "negative_amount.json"])
    out = tmp_path / "out"
    report = run_batch(folder, out, index=sample_index, settings=sample_index.settings, workers=2)
    assert sorted(report.written) == ["APP-002", "APP-041"], report.errors
    assert report.exit_code == 1
    errors = list(csv.DictReader((out / "errors.csv").open()))
    assert {Path(e["application"]).name for e in errors} == {"malformed.json", "negative_amount.json"}
    summary = {r["id"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert summary["APP-002"]["recommendation"] == "Approve with conditions"
    assert summary["APP-002"]["exceptions"] == "Loan-to-value (LTV) ≤ 75.0%", "the check's title, not its rule id"
    assert (out / "APP-002.md").read_text().startswith("# Credit review note — APP-002")


def test_a_rerun_skips_unchanged_and_redoes_changed(sample_index: ClauseIndex, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, ["APP-031", "APP-041"], [])
    out = tmp_path / "out"
    run_batch(folder, out, index=sample_index, settings=sample_index.settings)
    again = run_batch(folder, out, index=sample_index, settings=sample_index.settings)
    assert sorted(again.skipped) == ["APP-031", "APP-041"] and not again.written
    changed = next(folder.glob("APP-041*"))
    changed.write_text(changed.read_text().replace('"notes": "', '"notes": "changed: '), encoding="utf-8")
    third = run_batch(folder, out, index=sample_index, settings=sample_index.settings)
    assert third.written == ["APP-041"] and third.skipped == ["APP-031"]
    assert len(list(csv.DictReader((out / "summary.csv").open()))) == 2


def test_csv_input_and_cli_exit_status(sample_index: ClauseIndex, tmp_path: Path) -> None:
    env = {"XIAOSHEN_INDEX_DIR": str(sample_index.settings.index_dir),
           "XIAOSHEN_CACHE_DIR": str(sample_index.settings.keyword_cache_dir)}
    result = CliRunner().invoke(cli, ["batch", str(BAD / "one_good_one_bad.csv"), "--out", str(tmp_path / "o")],
                                env=env)
    assert result.exit_code == 1, result.output
    assert "1 drafted" in result.output and "row 3" in result.output


def test_notes_in_every_requested_format_and_a_new_format_redoes_the_note(sample_index: ClauseIndex,
                                                                          tmp_path: Path) -> None:
    folder = folder_with(tmp_path, ["APP-002", "APP-041"], [])
    out = tmp_path / "out"
    run_batch(folder, out, index=sample_index, settings=sample_index.settings, formats=["md"])
    report = run_batch(folder, out, index=sample_index, settings=sample_index.settings, formats="md,docx,html")
    assert sorted(report.written) == ["APP-002", "APP-041"], "asking for more formats redoes the notes"
    for name in ("APP-002.md", "APP-002.docx", "APP-002.html"):
        assert (out / name).stat().st_size > 0
    (out / "APP-041.docx").unlink()
    again = run_batch(folder, out, index=sample_index, settings=sample_index.settings, formats=["md", "docx", "html"])
    assert again.written == ["APP-041"] and again.skipped == ["APP-002"], "a missing file redoes its note"
    summary = {r["id"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert summary["APP-002"]["note"] == "APP-002.md; APP-002.docx; APP-002.html"


def test_summary_html_links_every_note_and_charts_ratios_offline(sample_index: ClauseIndex, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, ["APP-002", "APP-006", "APP-031", "APP-034"], [])
    out = tmp_path / "out"
    run_batch(folder, out, index=sample_index, settings=sample_index.settings, formats="md,html")
    page = (out / "summary.html").read_text(encoding="utf-8")
    for app_id in ("APP-002", "APP-006", "APP-031", "APP-034"):
        assert f'href="{app_id}.md"' in page and f'href="{app_id}.html"' in page
    assert page.count("<svg") == 3, "DSCR, LTV and DTI charts"
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert "Loan-to-value (LTV) ≤ 75.0%" in page and "cre-oo-ltv" not in page and "Decline" in page


def test_a_mixed_portfolio_has_each_note_in_its_language_and_the_summary_in_the_readers(
        sample_index: ClauseIndex, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, ["APP-002", "APP-024"], [])
    out = tmp_path / "out"
    report = run_batch(folder, out, index=sample_index, settings=sample_index.settings, summary_language="zh",
                       prepared_by="Wang Fang")
    assert sorted(report.written) == ["APP-002", "APP-024"], report.errors
    assert (out / "APP-002.md").read_text(encoding="utf-8").startswith("# Credit review note — APP-002")
    chinese = (out / "APP-024.md").read_text(encoding="utf-8")
    assert chinese.startswith("# 授信审查报告 — APP-024") and "编写人：Wang Fang" in chinese
    page = (out / "summary.html").read_text(encoding="utf-8")
    assert "授信审查报告初稿汇总" in page and "附条件同意" in page and "不构成授信决策" in page
    summary = {r["id"]: r for r in csv.DictReader((out / "summary.csv").open(encoding="utf-8"))}
    assert summary["APP-024"]["recommendation"] == "附条件同意"


def test_an_unknown_format_is_a_usage_error(sample_index: ClauseIndex, tmp_path: Path) -> None:
    env = {"XIAOSHEN_INDEX_DIR": str(sample_index.settings.index_dir),
           "XIAOSHEN_CACHE_DIR": str(sample_index.settings.keyword_cache_dir)}
    result = CliRunner().invoke(cli, ["batch", str(APPS), "--out", str(tmp_path / "o"), "--format", "md,pdf"],
                                env=env)
    assert result.exit_code == 2 and "pdf" in result.output
