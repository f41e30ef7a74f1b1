"""Shared fixtures: a network guard for every test, one embedding model and one ingested sample index
per session."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import xiaoshen  # noqa: F401  (sets the offline environment before any model library is imported)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_POLICIES = ROOT / "data" / "sample_policies"
CORPORA = ROOT.parent / "shared" / "corpora"
# What tests/test_corpora.py ingests with the real model: the ObliQA document, and the Chinese laws.
RETRIEVAL_CORPUS = [CORPORA / "en" / "adgm-pru-ch4-credit-risk.md", CORPORA / "zh"]
# The real regulations sit beside the repository (../shared/corpora); a clone elsewhere has none.
needs_corpora = pytest.mark.skipif(not (CORPORA / "en").is_dir(), reason="../shared/corpora is not present")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NetworkBlocked(RuntimeError):
    """A test tried to reach a non-loopback address."""


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths and the like
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise NetworkBlocked(f"test tried to open a socket to {address!r}; only loopback is allowed")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise NetworkBlocked(f"test tried to open a socket to {address!r}; only loopback is allowed")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def no_network() -> Iterator[None]:
    """Every test runs with sockets limited to loopback: any hidden download fails the test."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by every worker of this pytest run (pytest-xdist gives each worker a basetemp
    under the run's own)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(autouse=True, scope="session")
def private_audit_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests write their audit entries to a log of their own, never to the project's var/audit.jsonl."""
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    # The audit key and checkpoints default under the XDG config and state folders: private ones too.
    # One sentence store for every index the tests build, shared by the run's workers (it is
    # content-addressed, and SQLite takes concurrent writers): the sample policies are embedded once per run,
    # not once per test index or per worker.
    private = {"XIAOSHEN_ACCESS__AUDIT_LOG": str(path),
               "XIAOSHEN_SENTENCE_STORE": str(run_folder(tmp_path_factory) / "sentences.sqlite"),
               "XDG_CONFIG_HOME": str(tmp_path_factory.mktemp("xdg-config")),
               "XDG_STATE_HOME": str(tmp_path_factory.mktemp("xdg-state"))}
    previous = {name: os.environ.get(name) for name in private}
    os.environ.update(private)
    yield path
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def embedding():  # type: ignore[no-untyped-def]
    """The real packaged embedding model, loaded once (on the threads XIAOSHEN_EMBEDDING__THREADS allows)."""
    from xiaoshen.embeddings import build_embedding
    from xiaoshen.settings import load_settings

    return build_embedding(load_settings().embedding)


def make_settings(index_dir: Path, **overrides: object):  # type: ignore[no-untyped-def]
    from xiaoshen.settings import load_settings

    return load_settings(index_dir=index_dir, cache_dir=index_dir.parent / f"{index_dir.name}-cache", **overrides)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedding):  # type: ignore[no-untyped-def]
    """The sample policies ingested once into an embedded Chroma store."""
    from ingest.pipeline import ingest
    from xiaoshen.index import ClauseIndex

    settings = make_settings(tmp_path_factory.mktemp("sample") / "index")
    index = ClauseIndex(settings, embedding=embedding)
    report = ingest([SAMPLE_POLICIES], index=index)
    assert not report.failed, [f"{o.source}: {o.reason}" for o in report.failed]
    return index


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort): with `make test`'s two workers the longest modules start at once
    and the short ones fill in around them, instead of one long module starting last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionstart(session: pytest.Session) -> None:
    """With `make test`'s workers, before they start: embed the sample policies and the retrieval corpus
    into the run's shared sentence store, here on every core, so the workers' ingests of them (one model
    thread each) read the vectors instead of computing them, and never two at once."""
    config = session.config
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    # The workers' basetemps are folders of this one (pytest-xdist), so this is their run_folder().
    store = config._tmp_path_factory.getbasetemp() / "sentences.sqlite"  # type: ignore[attr-defined]
    _embed_into(store, [SAMPLE_POLICIES], units=True)
    if CORPORA.is_dir():
        _embed_into(store, RETRIEVAL_CORPUS, units=False)


def _embed_into(store: Path, paths: list[Path], *, units: bool) -> None:
    from ingest.pipeline import discover, read_and_split
    from xiaoshen.index import ClauseIndex
    from xiaoshen.injection import mark_suspicious
    from xiaoshen.settings import load_settings

    embedding = load_settings().embedding.model_copy(update={"threads": 0})
    settings = make_settings(store.parent / "embedded-first" / "index", sentence_store=store, embedding=embedding,
                             ingest={"embed_units": units})
    index = ClauseIndex(settings)
    for path in discover(paths):
        _, clauses = read_and_split(path, settings.ingest)
        index.embed_clauses(mark_suspicious(clauses))
    index.sentences.close()
