#!/usr/bin/env python3
"""Write requirements.lock: every package of `.[dev,llm-test]`, pinned with == and the SHA-256 of the file
pip installs on this platform (CPython 3.11, manylinux x86_64), so `pip install --require-hashes` refuses
a swapped wheel. Run by `make lock`; needs the package registry (PyPI) and this machine's pip config.

pip resolves with `-c constraints.txt` in a dry run (`pip install --dry-run --ignore-installed --report`),
so the lock holds exactly the wheels pip would choose here, with the hashes pip saw: torch is the CPU wheel
that pip's find-links (this machine's disk) offers, hashed from that file. `pip-compile --generate-hashes`
was tried first: here it fell back to downloading every release file of every package for every platform
(13 GB in 14 minutes before it was stopped), because it needs the per-release file list of PyPI's JSON API.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "xiaoshen"
# Installed with --no-build-isolation by the Makefile, so the project's build backend is locked too.
BUILD_REQUIREMENTS = ["setuptools"]

HEADER = """\
# requirements.lock: every dependency of xiaoshen[dev,llm-test] with the SHA-256 of the wheel pip installs
# on CPython 3.11, manylinux x86_64. Written by `make lock` (scripts/lock.py) from pyproject.toml and
# constraints.txt; do not edit. Installed by `make install`:
#     pip install --require-hashes -r requirements.lock && pip install --no-deps --no-build-isolation -e .
"""


def resolve(python: str, extras: str) -> list[dict]:
    """pip's own resolution (what `pip install` would do now, here) as its JSON installation report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--dry-run",
               "--ignore-installed", "--report", str(report), "-c", str(ROOT / "constraints.txt"),
               f"{ROOT}[{extras}]", *BUILD_REQUIREMENTS]
        subprocess.run(cmd, check=True, cwd=ROOT)
        return json.loads(report.read_text(encoding="utf-8"))["install"]


def lock_lines(install: list[dict]) -> list[str]:
    entries = []
    for item in install:
        meta, info = item["metadata"], item["download_info"]
        if canonicalize_name(meta["name"]) == PROJECT:
            continue
        digest = (info.get("archive_info") or {}).get("hashes", {}).get("sha256")
        if not digest:
            raise SystemExit(f"pip reported no SHA-256 for {meta['name']} {meta['version']} ({info.get('url')}); "
                             "a lock needs a hash for every file")
        entries.append((canonicalize_name(meta["name"]), f"{meta['name']}=={meta['version']} \\\n"
                                                          f"    --hash=sha256:{digest}"))
    return [line for _, line in sorted(entries)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter whose pip resolves (the venv's)")
    ap.add_argument("--extras", default="dev,llm-test")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "requirements.lock")
    a = ap.parse_args(argv)
    lines = lock_lines(resolve(a.python, a.extras))
    a.output.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} pinned, hashed requirements to {a.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
