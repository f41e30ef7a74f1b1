"""Every fault a user can cause is one line on stderr and a documented exit code, never a traceback; a
read-only index still answers (issue 11, part 6). Each case runs the real `xiaoshen` CLI in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xiaoshen.settings import unknown_variables

ROOT = Path(__file__).resolve().parent.parent


def xiaoshen(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "xiaoshen.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=timeout)


def one_line_error(run: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The single stderr line of a failed run, after checking its exit code and that it names `words`."""
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    lines = run.stderr.strip().splitlines()
    assert run.returncode == code and len(lines) == 1, (run.returncode, run.stderr)
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def test_a_malformed_settings_file_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "xiaoshen.toml"
    config.write_text("[retrieval\ntop_k = 3\n", encoding="utf-8")
    run = xiaoshen("docs", "--index", str(tmp_path / "index"), env={"XIAOSHEN_CONFIG": str(config)})
    one_line_error(run, 2, str(config), "not valid TOML", "line 1")


def test_a_missing_settings_file_is_an_error_not_ignored(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    run = xiaoshen("docs", "--index", str(tmp_path / "index"), env={"XIAOSHEN_CONFIG": str(missing)})
    one_line_error(run, 2, "XIAOSHEN_CONFIG", str(missing), "not a file")


def test_an_unknown_variable_is_an_error_naming_the_closest_one(tmp_path: Path) -> None:
    run = xiaoshen("docs", "--index", str(tmp_path / "index"), env={"XIAOSHEN_INDX_DIR": str(tmp_path)})
    one_line_error(run, 2, "XIAOSHEN_INDX_DIR", "did you mean XIAOSHEN_INDEX_DIR?")


def test_the_projects_own_variables_are_allowed() -> None:
    allowed = {"XIAOSHEN_CONFIG": "x.toml", "XIAOSHEN_REQUIRE_LLM": "1", "XIAOSHEN_REQUIRE_BROWSER": "1",
               "XIAOSHEN_LLM_CACHE": "/tmp", "XIAOSHEN_NEW_PASSWORD": "pw", "XIAOSHEN_INDEX_DIR": "/tmp",
               "XIAOSHEN_RETRIEVAL__TOP_K": "3", "XIAOSHEN_AUDIT__KEY_FILE": "/k", "PATH": "/bin"}
    assert unknown_variables(allowed) == []
    assert unknown_variables({"XIAOSHEN_REQUIRE_LMM": "1"}) == [
        "unknown variable XIAOSHEN_REQUIRE_LMM (did you mean XIAOSHEN_REQUIRE_LLM?)"]
    # Every XIAOSHEN_* variable the Makefile, CI and scripts set is one the settings accept.
    sources = [ROOT / "Makefile", ROOT / ".ci" / "run", *ROOT.glob("scripts/*.py"), *ROOT.glob("tests/*.py")]
    import re

    used = {m for path in sources if path.exists()
            for m in re.findall(r"XIAOSHEN_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))}
    used -= {"XIAOSHEN_INDX_DIR", "XIAOSHEN_REQUIRE_LMM"}  # the typos this file tests
    assert unknown_variables(dict.fromkeys(used, "1")) == []


def test_an_index_path_that_is_a_file_or_under_one_is_one_line(tmp_path: Path) -> None:
    afile = tmp_path / "policies.txt"
    afile.write_text("not an index", encoding="utf-8")
    one_line_error(xiaoshen("search", "LTV", "--index", str(afile)), 3, str(afile), "is a file")
    one_line_error(xiaoshen("docs", "--index", str(afile / "sub" / "index")), 3, "is under", "which is a file")


def _read_only_prefix(folder: Path) -> list[str]:
    """A command prefix under which `folder` is read-only for the child: a private mount namespace with a
    read-only bind mount when we are root (chmod does not stop root), else plain permissions."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return []
    unshare = shutil.which("unshare")
    probe = ["sh", "-c", f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" && exec "$@"',
             "sh"]
    if unshare is None or subprocess.run([unshare, "-m", *probe, "true"], capture_output=True).returncode:
        pytest.skip("root without a mount namespace (unshare -m): cannot make a folder read-only for root here")
    return [unshare, "-m", *probe]


def test_a_read_only_index_still_serves_search_and_ask_and_refuses_ingest(sample_index, tmp_path: Path) -> None:
    # A copy, so that the session's index is never touched; its keyword cache is left behind, so the
    # read-only run also has to build it without writing it.
    folder = tmp_path / "ro"
    shutil.copytree(sample_index.settings.index_dir, folder / "index")
    prefix = _read_only_prefix(folder)
    assert subprocess.run([*prefix, "sh", "-c", f'touch "{folder}/x"'], capture_output=True).returncode != 0
    index, scratch = str(folder / "index"), tmp_path / "tmp"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    search = xiaoshen("search", "maximum LTV for raw land", "--index", index, "--json", prefix=prefix, env=env)
    note = one_line_error(search, 0, "read-only", "private copy")
    assert note.startswith("note:") and '"doc_id": "NCB-CRE-002"' in search.stdout
    ask = xiaoshen("ask", "What is the maximum LTV for raw land?", "--index", index, "--json", prefix=prefix,
                   env=env)
    one_line_error(ask, 0, "read-only")
    assert '"abstained": false' in ask.stdout and "50%" in ask.stdout
    ingest = xiaoshen("ingest", str(ROOT / "data" / "sample_policies"), "--index", index, prefix=prefix, env=env)
    one_line_error(ingest, 3, "read-only", "not written")
    assert not (folder / "keyword-cache").exists() and not (folder / "x").exists()
    assert not list(scratch.glob("xiaoshen-read-only-index-*"))  # the private copies went with their processes
