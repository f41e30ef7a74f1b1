"""Dependencies install from a hash-pinned lock, so a swapped package fails the install; `make lock` and
`make sbom` exist. The real fresh-venv install is too slow for the suite (about 10 minutes here): these
tests check the lock's shape and that pip refuses a wheel whose hash is not the locked one."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
MAKEFILE = ROOT / "Makefile"


def locked() -> dict[str, tuple[str, list[str]]]:
    """Name -> (version, hashes) from requirements.lock; fails on any line that is not `name==version`
    followed by at least one --hash."""
    text = re.sub(r"\\\n", " ", LOCK.read_text(encoding="utf-8"))
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        assert match, f"requirements.lock line is not `name==version --hash=sha256:...`: {line[:120]}"
        name, version, hashes = match.groups()
        pins[canonicalize_name(name)] = (version, re.findall(r"[0-9a-f]{64}", hashes))
    return pins


def test_every_locked_requirement_is_pinned_with_hashes() -> None:
    pins = locked()
    assert len(pins) > 100
    assert all(hashes for _, hashes in pins.values())


def test_the_lock_covers_every_declared_dependency() -> None:
    """A dependency added to pyproject.toml without `make lock` would be missing from a fresh install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in ("dev", "llm-test"):
        declared += project["optional-dependencies"][extra]
    pins = locked()
    for spec in map(Requirement, declared):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec.name} is declared in pyproject.toml but not locked: run `make lock`"
        assert spec.specifier.contains(Version(pins[name][0]), prereleases=True), \
            f"{spec.name}=={pins[name][0]} in requirements.lock does not satisfy {spec}: run `make lock`"


def test_torch_is_locked_to_the_cpu_wheel_and_its_build_tools_are_locked() -> None:
    pins = locked()
    assert pins["torch"][0] == "2.13.0+cpu"
    # --no-build-isolation installs the project with the locked setuptools, not an unchecked download.
    assert "setuptools" in pins


def test_the_locked_torch_hash_is_the_wheel_on_this_machines_disk() -> None:
    wheels = sorted(Path("/opt/wheels").glob("torch-2.13.0+cpu-cp311-*.whl"))
    if not wheels:
        pytest.skip("no torch CPU wheel in /opt/wheels on this machine (pip's find-links here)")
    digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    assert digest in locked()["torch"][1]


def test_the_makefile_installs_from_the_lock_with_hashes_and_has_lock_and_sbom() -> None:
    make = MAKEFILE.read_text(encoding="utf-8")
    assert re.search(r"pip\S* install .*--require-hashes -r requirements\.lock", make, re.I)
    # uv installs the lock first (pip is the fallback), itself installed from its own hashed lock.
    assert re.search(r"pip\S* install .*--require-hashes -r requirements-uv\.lock", make, re.I)
    assert re.search(r"uv pip install .*--require-hashes \\\n\s*-r requirements\.lock", make, re.I)
    # Copied, not hard-linked from uv's cache: NLTK refuses to read a file with more than one link.
    assert re.search(r"uv pip install .*--link-mode copy", make)
    assert re.fullmatch(r"(#.*\n)+uv==[\d.]+ \\\n\s+--hash=sha256:[0-9a-f]{64}\n",
                        (ROOT / "requirements-uv.lock").read_text(encoding="utf-8"))
    assert re.search(r"pip\S* install .*--no-deps --no-build-isolation -e \.", make, re.I)
    assert not re.search(r"install .*-e '?\.\[", make), "an install that resolves extras bypasses the lock"
    assert re.search(r"^lock:.*\n\t.*scripts/lock.py", make, re.M)
    assert re.search(r"^sbom:", make, re.M) and "cyclonedx-py environment" in make


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal valid pure-Python wheel, built in place (no network, no build backend)."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b"VALUE = 1\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for arc, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([arc, f"sha256={digest}", len(data)])
    writer.writerow([f"{dist}/RECORD", "", ""])
    with zipfile.ZipFile(path, "w") as zf:
        for arc, data in files.items():
            zf.writestr(arc, data)
        zf.writestr(f"{dist}/RECORD", record.getvalue())
    return path


def _pip_install(tmp_path: Path, wheels: Path, lock_line: str) -> subprocess.CompletedProcess[str]:
    lock = tmp_path / "requirements.lock"
    lock.write_text(lock_line + "\n")
    # --isolated: ignore this machine's pip config and PIP_* variables (its indexes and find-links).
    return subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "install", "--no-index",
         "--find-links", str(wheels), "--target", str(tmp_path / "target"), "--require-hashes", "-r", str(lock)],
        capture_output=True, text=True, timeout=300)


def test_a_wheel_whose_hash_is_not_the_locked_one_fails_the_install(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = _wheel(wheels, "xiaoshen_probe", "1.0")
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")

    refused = _pip_install(tmp_path, wheels, f"xiaoshen-probe==1.0 --hash=sha256:{tampered}")
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stderr
    assert not (tmp_path / "target" / "xiaoshen_probe.py").exists()

    accepted = _pip_install(tmp_path, wheels, f"xiaoshen-probe==1.0 --hash=sha256:{good}")
    assert accepted.returncode == 0, accepted.stderr
    assert (tmp_path / "target" / "xiaoshen_probe.py").exists()


def test_uv_also_refuses_a_wheel_whose_hash_is_not_the_locked_one(tmp_path: Path) -> None:
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        pytest.skip("uv is not installed in this environment (make install puts it there)")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = _wheel(wheels, "xiaoshen_probe", "1.0")
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = tmp_path / "requirements.lock"

    def install(digest: str) -> subprocess.CompletedProcess[str]:
        lock.write_text(f"xiaoshen-probe==1.0 --hash=sha256:{digest}\n")
        return subprocess.run([str(uv), "pip", "install", "--no-index", "--find-links", str(wheels), "--target",
                               str(tmp_path / "target"), "--python", sys.executable, "--require-hashes", "-r",
                               str(lock)], capture_output=True, text=True, timeout=300,
                              env={k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))})

    refused = install(good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert refused.returncode != 0 and "hash mismatch" in refused.stderr.lower(), refused.stderr
    assert not (tmp_path / "target" / "xiaoshen_probe.py").exists()
    accepted = install(good)
    assert accepted.returncode == 0, accepted.stderr
    assert (tmp_path / "target" / "xiaoshen_probe.py").exists()


def test_the_sbom_gets_every_model_with_its_hash_and_stays_valid_cyclonedx(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from xiaoshen.model_files import add_to_sbom, load_manifest

    sbom = tmp_path / "sbom.cdx.json"
    sbom.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []}')
    assert add_to_sbom(sbom) == len(load_manifest().models)
    assert add_to_sbom(sbom) == 0  # a second run adds nothing twice
    text = sbom.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert load_manifest().models["qwen2.5-coder-0.5b-instruct-q4_k_m"].sha256 in text
