"""The audit log: every action chained to the one before; any edit, deletion or truncation is detected."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from typer.testing import CliRunner

from xiaoshen.audit import AuditLog, filter_entries, mask_identifiers
from xiaoshen.cli import app


def _log_with(tmp_path: Path, n: int = 4) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(n):
        log.append(user=f"user{i % 2}", action="ask", subject=f"question {i}", clause_ids=[f"c{i}"],
                   documents=["NCB-CRE-002 v3.0"], backend="extractive", settings_hash="abc", groundedness=1.0)
    return log


def _rewrite(log: AuditLog, edit) -> None:  # type: ignore[no-untyped-def]
    lines = log.path.read_text(encoding="utf-8").splitlines()
    log.path.write_text("".join(line + "\n" for line in edit(lines)), encoding="utf-8")


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    report = _log_with(tmp_path).verify()
    assert report.ok and report.entries == 4 and not report.problems


def test_each_entry_holds_the_hash_of_the_one_before(tmp_path: Path) -> None:
    entries = _log_with(tmp_path).entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert all(b.prev_hash == a.hash for a, b in pairwise(entries))


def test_an_edited_line_is_detected_by_its_line_number(tmp_path: Path) -> None:
    log = _log_with(tmp_path)

    def edit(lines: list[str]) -> list[str]:
        entry = json.loads(lines[1])
        entry["user"] = "someone-else"
        return [lines[0], json.dumps(entry), *lines[2:]]

    _rewrite(log, edit)
    report = log.verify()
    assert not report.ok and any(p.startswith("line 2:") and "edited" in p for p in report.problems)


def test_a_deleted_line_is_detected(tmp_path: Path) -> None:
    log = _log_with(tmp_path)
    _rewrite(log, lambda lines: [lines[0], *lines[2:]])
    report = log.verify()
    assert not report.ok and any("line 2:" in p for p in report.problems)


def test_lines_cut_off_the_end_are_detected(tmp_path: Path) -> None:
    log = _log_with(tmp_path)
    _rewrite(log, lambda lines: lines[:-1])
    report = log.verify()
    assert not report.ok and any("ends at entry 3" in p for p in report.problems)


def test_borrower_identifiers_are_masked_before_they_are_written(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(user="officer", action="ask", subject="Can 110101199001011234 borrow 2,500,000 at 80% LTV?")
    written = log.path.read_text(encoding="utf-8")
    assert "110101199001011234" not in written and "1234" in written
    assert "2,500,000" in written and "80%" in written  # amounts and ratios are not identifiers
    assert mask_identifiers("account 6222 0200 1234 5678") == "account **** **** **** 5678"


def test_entries_filter_by_user_action_and_date(tmp_path: Path) -> None:
    entries = _log_with(tmp_path).entries()
    assert [e.seq for e in filter_entries(entries, user="user1")] == [2, 4]
    assert filter_entries(entries, action="review") == []
    assert len(filter_entries(entries, since="2000-01-01", until="2999-12-31")) == 4


def test_cli_verify_exits_1_and_names_the_broken_line(tmp_path: Path) -> None:
    log = _log_with(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--log", str(log.path)])
    assert ok.exit_code == 0 and "4 entries" in ok.output
    _rewrite(log, lambda lines: [lines[0], lines[2], lines[1], lines[3]])
    broken = runner.invoke(app, ["audit", "verify", "--log", str(log.path)])
    assert broken.exit_code == 1 and "line 2" in broken.output


def test_cli_exports_csv_and_jsonl(tmp_path: Path) -> None:
    log = _log_with(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "export", "--log", str(log.path), "--user", "user0",
                                 "--out", str(tmp_path / "out.csv")])
    assert result.exit_code == 0
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0].startswith("seq,time,user,action") and len(rows) == 3
    runner.invoke(app, ["audit", "export", "--log", str(log.path), "--out", str(tmp_path / "out.jsonl")])
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 4


def test_concurrent_writers_keep_one_unbroken_chain(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    log = AuditLog(tmp_path / "audit.jsonl")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: log.append(user="u", action="ask", subject=str(i)), range(40)))
    report = log.verify()
    assert report.ok and report.entries == 40
