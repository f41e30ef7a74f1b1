"""Where the embedded Chroma index is opened from: its own folder, or, when that folder is read-only (a
read-only mount, an archived copy, a user without write permission), a private temporary copy of it.

Chroma's embedded client cannot open a SQLite file it may not write ("attempt to write a readonly
database"), so a read-only index is copied once per process and the copy is opened instead: searches and
answers work as on the original, and writers are refused (`ClauseIndex.writer`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xiaoshen.errors import IndexStoreError

_SQLITE = "chroma.sqlite3"


@dataclass(frozen=True)
class IndexFolder:
    """The folder Chroma opens, and the read-only original it copies, if it is a copy."""

    path: Path
    read_only_source: Path | None = None


def is_read_only(folder: Path) -> bool:
    """Whether this process may not write the index folder or its SQLite file (access(2) answers EROFS
    for a read-only mount even to root)."""
    sqlite = folder / _SQLITE
    return not os.access(folder, os.W_OK) or (sqlite.exists() and not os.access(sqlite, os.W_OK))


def _refuse_non_folders(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexStoreError(f"The index path {index_dir} is a file, not an index folder",
                              "give --index (or XIAOSHEN_INDEX_DIR) a folder")
    for parent in index_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise IndexStoreError(f"The index path {index_dir} is under {parent}, which is a file",
                                      "give --index (or XIAOSHEN_INDEX_DIR) a folder")
            return


def open_index_folder(index_dir: Path) -> IndexFolder:
    """The folder to open for `index_dir`: created if missing, a private copy if it is read-only."""
    _refuse_non_folders(index_dir)
    if not index_dir.exists():
        try:
            index_dir.mkdir(parents=True)
        except OSError as exc:
            raise IndexStoreError(f"Cannot create the index folder {index_dir}: {exc.strerror}",
                                  "choose a writable --index folder") from exc
        return IndexFolder(index_dir)
    if not is_read_only(index_dir):
        return IndexFolder(index_dir)
    if not (index_dir / _SQLITE).exists():
        raise IndexStoreError(f"The index folder {index_dir} is read-only and holds no index",
                              "ingest into a writable folder first")
    copy = Path(tempfile.mkdtemp(prefix="xiaoshen-read-only-index-")) / "index"
    atexit.register(shutil.rmtree, copy.parent, True)
    try:
        shutil.copytree(index_dir, copy)
    except OSError as exc:
        raise IndexStoreError(f"The index folder {index_dir} is read-only and could not be copied to "
                              f"{copy.parent}: {exc}", "free space in the temporary folder (TMPDIR)") from exc
    return IndexFolder(copy, read_only_source=index_dir)
