"""The audit log: every action chained to the one before; any edit, deletion or truncation is detected."""

from __future__ import annotations

import json
import os
from itertools import pairwise
from pathlib import Path

import pytest
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


# --- a keyed chain, a signed head and checkpoints kept elsewhere (issue 11, part 5) -------------------

def _keyed(tmp_path: Path, n: int = 4, every: int = 100):  # type: ignore[no-untyped-def]
    """A log in its own folder, its key and checkpoints in two others, with `n` entries."""
    from xiaoshen.settings import AuditSettings

    settings = AuditSettings(key_file=tmp_path / "keys" / "audit.key", checkpoint_dir=tmp_path / "checkpoints",
                             checkpoint_every=every)
    log = AuditLog(tmp_path / "log" / "audit.jsonl", settings)
    for i in range(n):
        log.append(user="officer", action="ask", subject=f"question {i}")
    return log


def _old_style_hash(entry: dict) -> str:  # type: ignore[type-arg]
    """The hash as the unkeyed chain computed it: SHA-256 of the sorted JSON of every field but `hash`."""
    import hashlib

    payload = {k: v for k, v in entry.items() if k not in {"hash", "key_id"}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _forge_entry(last: dict, **changes: object) -> dict:  # type: ignore[type-arg]
    """What a writer without the key can make: a next entry, hashed the only way it can."""
    forged = {**last, "seq": last["seq"] + 1, "prev_hash": last["hash"], "user": "intruder",
              "subject": "approved by the committee", **changes}
    forged["hash"] = _old_style_hash(forged)
    return forged


def _write_head(log: AuditLog, seq: int, chain_head: str) -> None:
    log.head_path.write_text(json.dumps({"seq": seq, "hash": chain_head}), encoding="utf-8")


def test_a_forged_append_with_a_rewritten_head_is_detected(tmp_path: Path) -> None:
    for changes in ({}, {"key_id": None}):  # keeping the key id, or passing as a legacy entry
        log = _keyed(tmp_path / str(len(changes)))
        last = json.loads(log.path.read_text(encoding="utf-8").splitlines()[-1])
        forged = _forge_entry(last, **changes)
        with log.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(forged) + "\n")
        _write_head(log, forged["seq"], forged["hash"])
        report = log.verify()
        assert not report.ok, changes
        assert any(p.startswith("line 5:") for p in report.problems), report.problems
        assert any("head file" in p for p in report.problems)


def test_a_cut_tail_with_an_earlier_head_put_back_is_caught_by_the_checkpoint(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=3, every=5)
    saved_head = log.head_path.read_bytes()  # a genuine, signed head of entry 3
    for i in range(3):
        log.append(user="officer", action="ask", subject=f"later question {i}")
    assert log.verify().ok and log.verify().checkpoint.seq == 5  # type: ignore[union-attr]
    _rewrite(log, lambda lines: lines[:3])
    log.head_path.write_bytes(saved_head)
    report = log.verify()
    assert not report.ok
    assert any("records 5 entries but the log holds 3" in p for p in report.problems), report.problems


def test_a_cut_tail_with_a_recomputed_head_is_detected(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=6)
    entries = log.entries()
    _rewrite(log, lambda lines: lines[:4])
    _write_head(log, 4, entries[3].hash)
    report = log.verify()
    assert not report.ok and any("not signed" in p for p in report.problems), report.problems


def test_a_whole_chain_rewritten_without_the_key_is_detected(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=5, every=5)
    prev, lines = "0" * 64, []
    for entry in log.entries():  # the same actions, re-chained the only way an intruder can
        fake = {**entry.model_dump(mode="json"), "subject": entry.subject.replace("question", "Q"),
                "prev_hash": prev}
        fake.pop("key_id")
        fake["hash"] = prev = _old_style_hash(fake)
        lines.append(json.dumps(fake))
    log.path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    _write_head(log, 5, prev)
    report = log.verify()
    assert not report.ok
    assert any("is not the one the checkpoint" in p for p in report.problems), report.problems


def test_a_chain_rewritten_under_another_key_is_detected(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=3)
    key_file = tmp_path / "keys" / "audit.key"
    bank_key = key_file.read_text()
    key_file.write_text("ab" * 32 + "\n")  # the intruder writes a whole new chain under a key of their own
    log.path.unlink()
    log.head_path.unlink()
    for i in range(3):
        log.append(user="intruder", action="ask", subject=f"question {i}")
    key_file.write_text(bank_key)
    report = log.verify()
    assert not report.ok and any(p.startswith("line 1: signed with key") for p in report.problems)
    assert any("head file's signature" in p for p in report.problems)


def test_deleting_the_log_and_its_head_is_detected_by_the_checkpoint(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=3)
    log.checkpoint()
    log.path.unlink()
    log.head_path.unlink()
    report = log.verify()
    assert not report.ok and report.entries == 0
    assert any("records 3 entries but the log holds 0" in p for p in report.problems)


def test_the_key_lives_outside_the_log_folder_and_is_private(tmp_path: Path) -> None:
    from xiaoshen.errors import AuditLogError
    from xiaoshen.settings import AuditSettings

    log = _keyed(tmp_path, n=1)
    key_file = tmp_path / "keys" / "audit.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in log.path.read_text()
    entry = log.entries()[0]
    assert entry.key_id and entry.hash != _old_style_hash(entry.model_dump(mode="json"))
    with pytest.raises(AuditLogError, match="own folder"):
        AuditLog(tmp_path / "log" / "audit.jsonl", AuditSettings(key_file=tmp_path / "log" / "audit.key"))


def test_a_missing_key_once_the_log_is_keyed_is_a_clear_error(tmp_path: Path) -> None:
    from xiaoshen.errors import AuditLogError

    log = _keyed(tmp_path, n=2)
    (tmp_path / "keys" / "audit.key").unlink()
    with pytest.raises(AuditLogError, match=r"audit key file .* is missing, but the log .* is signed with key"):
        log.append(user="officer", action="ask", subject="q")
    with pytest.raises(AuditLogError, match="is missing"):
        log.verify()
    assert not (tmp_path / "keys" / "audit.key").exists()  # no new key was made up to sign with


def _legacy_log(path: Path, n: int) -> None:
    """A log as the unkeyed chain wrote it."""
    prev, lines = "0" * 64, []
    for seq in range(1, n + 1):
        entry = {"seq": seq, "time": "2026-01-02T03:04:05+00:00", "user": "officer", "action": "ask",
                 "subject": f"old question {seq}", "clause_ids": [], "documents": [], "backend": None,
                 "settings_hash": None, "groundedness": None, "details": {}, "prev_hash": prev}
        entry["hash"] = prev = _old_style_hash(entry)
        lines.append(json.dumps(entry, ensure_ascii=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    path.with_name(path.name + ".head").write_text(json.dumps({"seq": n, "hash": prev}), encoding="utf-8")


def test_an_old_unkeyed_log_still_verifies_and_is_reported_as_legacy(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=0)
    _legacy_log(log.path, 3)
    report = log.verify()
    assert report.ok and report.legacy_entries == 3
    assert any("entries 1–3 are unkeyed" in w for w in report.warnings)
    log.append(user="officer", action="ask", subject="a new question")  # continues the chain, keyed
    report = log.verify()
    assert report.ok and report.entries == 4 and report.legacy_entries == 3
    assert log.entries()[-1].key_id is not None


def test_verify_reports_the_last_trusted_checkpoint(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=7, every=3)
    report = log.verify()
    assert report.ok and report.checkpoint is not None and report.checkpoint.seq == 6
    assert "entry 6" in report.checkpoint_line()
    assert log.checkpoint().seq == 7 and log.verify().checkpoint.seq == 7  # type: ignore[union-attr]
    assert len(log.checkpoint_path.read_text().splitlines()) == 3
    assert log.checkpoint_path.parent != log.path.parent


def test_a_forged_checkpoint_is_detected(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=3)
    log.checkpoint()
    line = json.loads(log.checkpoint_path.read_text())
    line["seq"] = 2
    log.checkpoint_path.write_text(json.dumps(line) + "\n")
    report = log.verify()
    assert not report.ok and any("forged" in p for p in report.problems)


def test_append_after_a_cut_off_line_starts_a_clean_line_and_records_it(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=2)
    with log.path.open("a", encoding="utf-8") as fh:
        fh.write('{"seq": 3, "time": "2026-')  # the process died mid-write
    assert log.verify().ok  # an unfinished write is noted, not a break
    log.append(user="officer", action="ask", subject="next question")
    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert lines[2] == '{"seq": 3, "time": "2026-'
    repair, entry = (json.loads(x) for x in lines[3:])
    assert repair["action"] == "audit_repair" and repair["details"]["damaged_line"] == 3
    assert entry["subject"] == "next question" and entry["seq"] == 4
    report = log.verify()
    assert report.ok and any("line 3: cut off mid-write, recorded by entry 3" in w for w in report.warnings)


def test_invalid_utf8_in_the_log_is_named_not_a_crash(tmp_path: Path) -> None:
    log = _keyed(tmp_path, n=3)
    data = log.path.read_bytes().split(b"\n")
    data[1] = data[1].replace(b"question", b"qu\xff\xfestion")
    log.path.write_bytes(b"\n".join(data))
    report = log.verify()
    assert not report.ok and report.problems[0].startswith("line 2: not valid UTF-8")
    assert len(log.entries()) == 2


def test_a_garbage_head_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    from xiaoshen.errors import AuditLogError

    log = _keyed(tmp_path, n=2)
    log.head_path.write_bytes(b"\x00garbage{")
    with pytest.raises(AuditLogError, match=r"head file .* is damaged"):
        log.append(user="officer", action="ask", subject="q")
    env = {**os.environ, "XIAOSHEN_AUDIT__KEY_FILE": str(tmp_path / "keys" / "audit.key"),
           "XIAOSHEN_AUDIT__CHECKPOINT_DIR": str(tmp_path / "checkpoints")}
    for command in (["verify"], ["checkpoint"]):
        run = subprocess.run([sys.executable, "-m", "xiaoshen.cli", "audit", *command, "--log", str(log.path)],
                             capture_output=True, text=True, env=env, cwd=Path(__file__).parent.parent)
        assert run.returncode in (1, 4) and "Traceback" not in run.stderr, run.stderr
        assert [line for line in run.stderr.splitlines() if "damaged" in line], run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_cli_checkpoint_and_verify_name_the_last_trusted_checkpoint(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    log = _keyed(tmp_path, n=2)
    monkeypatch.setenv("XIAOSHEN_AUDIT__KEY_FILE", str(tmp_path / "keys" / "audit.key"))
    monkeypatch.setenv("XIAOSHEN_AUDIT__CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    runner = CliRunner()
    made = runner.invoke(app, ["audit", "checkpoint", "--log", str(log.path)])
    assert made.exit_code == 0 and "checkpoint: entry 2" in made.output
    checked = runner.invoke(app, ["audit", "verify", "--log", str(log.path)])
    assert checked.exit_code == 0 and "last trusted checkpoint: entry 2" in checked.output
    log.path.unlink()
    log.head_path.unlink()
    gone = runner.invoke(app, ["audit", "verify", "--log", str(log.path)])
    assert gone.exit_code == 1 and "records 2 entries" in gone.output


def test_verify_during_concurrent_appends_never_sees_a_line_without_its_head(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    log = _keyed(tmp_path, n=1, every=7)
    with ThreadPoolExecutor(4) as pool:
        writes = [pool.submit(log.append, user="u", action="ask", subject=str(i)) for i in range(30)]
        reports = [log.verify() for _ in range(10)]
        for write in writes:
            write.result()
    assert all(r.ok for r in reports), [r.problems for r in reports if not r.ok]
    final = log.verify()
    assert final.ok and final.entries == 31 and final.checkpoint is not None and final.checkpoint.seq == 28
