"""The real llama.cpp server for the tests that need one (scripts/start_llm_server.py in a child
process), and the rule for when none can run here: the test is skipped with the exact reason, CPU flags
included, unless XIAOSHEN_REQUIRE_LLM=1 makes that a failure."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START = ROOT / "scripts" / "start_llm_server.py"
CANNOT_RUN_HERE = 4  # start_llm_server.py's exit code for a CPU that lacks what the build uses


class LLMUnavailable(Exception):
    """No real server can run on this machine; the message says why."""


def unavailable(reason: str) -> None:
    """Skip the calling test, or fail it when XIAOSHEN_REQUIRE_LLM=1 asks for the real server."""
    if os.environ.get("XIAOSHEN_REQUIRE_LLM") == "1":
        pytest.fail(f"the real LLM server is required (XIAOSHEN_REQUIRE_LLM=1) but {reason}")
    pytest.skip(reason)


@contextmanager
def real_llm_server(work: Path, cpuinfo: Path | None = None) -> Iterator[str]:
    """Start the server on a free port and yield its OpenAI base URL; LLMUnavailable when this machine
    cannot run it (package not installed, or a CPU without an extension the build uses)."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise LLMUnavailable("the llm-test extra is not installed (pip install -e '.[llm-test]')")
    work.mkdir(parents=True, exist_ok=True)
    log, errors = work / "server.log", work / "start.err"
    cmd = [sys.executable, str(START), "--port", "0", "--log-file", str(log)]
    if cpuinfo is not None:
        cmd += ["--cpuinfo", str(cpuinfo)]
    with errors.open("wb") as err:
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("READY "):
            code = server.wait(timeout=60)
            said = errors.read_text(errors="replace")
            reason = next((ln.split("ERROR: ", 1)[1] for ln in said.splitlines() if "ERROR: " in ln), said[-500:])
            if code == CANNOT_RUN_HERE:
                raise LLMUnavailable(reason)
            raise RuntimeError(f"the LLM server did not start (exit {code}): {said[-2000:]}\n"
                               f"log: {log.read_text(errors='replace')[-2000:] if log.exists() else ''}")
        yield line.split()[1] + "/v1"
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
