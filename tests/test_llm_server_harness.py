"""The real-LLM test runs on any x86-64 CPU with AVX2, and on a CPU that cannot run the server build it is
skipped with the reason and the CPU's flags (or fails, when XIAOSHEN_REQUIRE_LLM=1 asks for it)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm_server import START, LLMUnavailable, real_llm_server, unavailable

sys.path.insert(0, str(START.parent))
import start_llm_server

needs_toolchain = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("objdump")),
                                     reason="gcc and objdump (binutils) build and read the probe objects")
needs_server = pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None,
                                  reason="the llm-test extra is not installed")

AVX2_CPU = "model name\t: Test CPU with AVX2\nflags\t\t: fpu sse sse2 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2\n"
OLD_CPU = "model name\t: Test CPU without AVX\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt\n"


def assembled(tmp_path: Path, instructions: str) -> Path:
    """An object file holding exactly these instructions (the assembler does not need the CPU to have them)."""
    source = tmp_path / "probe.s"
    source.write_text(f".text\n.globl probe\nprobe:\n{instructions}\nret\n")
    obj = tmp_path / "probe.o"
    subprocess.run(["gcc", "-c", str(source), "-o", str(obj)], check=True)
    return obj


@needs_toolchain
@pytest.mark.parametrize(("instructions", "needed"), [
    ("addq %rax, %rbx", set()),
    ("vaddps %ymm0, %ymm1, %ymm2", {"avx"}),
    ("vpaddd %ymm0, %ymm1, %ymm2\nvfmadd231ps %ymm0, %ymm1, %ymm2\nvcvtph2ps %xmm0, %ymm1\nshlx %rax, %rbx, %rcx",
     {"avx", "avx2", "fma", "f16c", "bmi2"}),
    ("vpaddd %zmm0, %zmm1, %zmm2", {"avx512f"}),
    ("vpaddb %zmm0, %zmm1, %zmm2", {"avx512f", "avx512bw"}),
    ("vpdpbusd %zmm0, %zmm1, %zmm2", {"avx512f", "avx512_vnni"}),
    ("{vex} vpdpbusd %ymm0, %ymm1, %ymm2", {"avx", "avx_vnni"}),
    ("tdpbssd %tmm0, %tmm1, %tmm2\ntilezero %tmm3", {"amx_tile", "amx_int8"}),
])
def test_the_extensions_a_library_needs_are_read_off_its_machine_code(tmp_path: Path, instructions: str,
                                                                       needed: set[str]) -> None:
    assert start_llm_server.required_isa(assembled(tmp_path, instructions)) == needed


@needs_toolchain
@needs_server
def test_the_server_build_needs_nothing_past_avx2() -> None:
    needed = set().union(*(start_llm_server.required_isa(lib) for lib in start_llm_server.server_libraries()))
    assert needed <= {"avx", "avx2", "fma", "f16c", "bmi2"}, needed


def check_cpu(tmp_path: Path, cpuinfo_text: str) -> subprocess.CompletedProcess[str]:
    """`start_llm_server.py --check-cpu` as if on a CPU that reports `cpuinfo_text`."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(cpuinfo_text)
    return subprocess.run([sys.executable, str(START), "--check-cpu", "--cpuinfo", str(cpuinfo)],
                          capture_output=True, text=True, timeout=300)


@needs_server
def test_a_cpu_with_avx2_passes_the_check(tmp_path: Path) -> None:
    result = check_cpu(tmp_path, AVX2_CPU)
    assert result.returncode == 0, result.stderr


@needs_server
def test_a_cpu_lacking_what_the_build_uses_is_refused_with_its_flags(tmp_path: Path) -> None:
    result = check_cpu(tmp_path, OLD_CPU)
    assert result.returncode == start_llm_server.CANNOT_RUN_HERE
    assert "avx2" in result.stderr and "Test CPU without AVX" in result.stderr and "sse4_2" in result.stderr


@needs_server
def test_the_real_llm_test_is_skipped_with_the_reason_on_such_a_cpu(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(OLD_CPU)
    with pytest.raises(LLMUnavailable) as refused, real_llm_server(tmp_path / "llm", cpuinfo=cpuinfo):
        pass
    reason = str(refused.value)
    assert "lacks" in reason and "SIMD flags: sse4_2" in reason
    monkeypatch.delenv("XIAOSHEN_REQUIRE_LLM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="SIMD flags"):
        unavailable(reason)
    monkeypatch.setenv("XIAOSHEN_REQUIRE_LLM", "1")
    with pytest.raises(pytest.fail.Exception, match="XIAOSHEN_REQUIRE_LLM=1"):
        unavailable(reason)
