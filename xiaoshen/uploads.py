"""Uploads pending review: a policy uploaded through the app is answerable at once, and stays marked
`pending_review` until an administrator has read it and marks it reviewed.

An upload can outrank the policy in force: a new version of a doc id becomes `current` the moment it is
ingested, and any file may hold a clause that matches a question better than the clause meant to answer
it. Nothing in the text can prove it was meant to be there, so trust comes from a person: the Library
lists pending uploads to administrators with what each one would displace, and the mark records who
reviewed which bytes. A changed file (new content hash) is pending again.

The register is a small JSON file beside the index (`uploads-review.json`), written whole under an
exclusive `flock` and replaced atomically, so app sessions in several processes can share it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from xiaoshen.errors import XiaoshenError
from xiaoshen.settings import Settings

REGISTER_NAME = "uploads-review.json"
ReviewStatus = Literal["pending_review", "reviewed"]


class Upload(BaseModel):
    """One uploaded file as the register knows it."""

    source: str = Field(description="Path the upload was saved and ingested under.")
    content_hash: str = Field(description="Hash of the bytes (and sidecar) that were uploaded.")
    doc_id: str = ""
    version: str = ""
    uploaded_by: str
    uploaded_at: str
    status: ReviewStatus = "pending_review"
    reviewed_by: str = ""
    reviewed_at: str = ""


class ReviewRegister:
    """The review state of uploaded documents, keyed by source path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_settings(cls, settings: Settings) -> ReviewRegister:
        return cls(settings.index_dir / REGISTER_NAME)

    def uploads(self) -> dict[str, Upload]:
        """Every upload the register holds (empty when none was ever recorded)."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise XiaoshenError(f"Cannot read the upload review register {self.path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(raw)
            return {source: Upload.model_validate(row) for source, row in data.items()}
        except (json.JSONDecodeError, ValidationError, AttributeError) as exc:
            raise XiaoshenError(f"The upload review register {self.path} is damaged ({type(exc).__name__})",
                                "restore it from a backup, or delete it to mark every upload unreviewed") from exc

    def pending(self) -> list[Upload]:
        """Uploads no administrator has reviewed yet, oldest first."""
        return sorted((u for u in self.uploads().values() if u.status == "pending_review"),
                      key=lambda u: u.uploaded_at)

    def status_of(self, source: str) -> ReviewStatus | None:
        upload = self.uploads().get(source)
        return upload.status if upload else None

    def record_upload(self, source: str, content_hash: str, *, doc_id: str, version: str, user: str) -> Upload:
        """Mark an ingested upload pending review (unless these very bytes were already reviewed)."""
        with self._editing() as uploads:
            known = uploads.get(source)
            if known is not None and known.content_hash == content_hash and known.status == "reviewed":
                return known
            upload = Upload(source=source, content_hash=content_hash, doc_id=doc_id, version=version,
                            uploaded_by=user, uploaded_at=_now())
            uploads[source] = upload
            return upload

    def mark_reviewed(self, source: str, user: str) -> Upload:
        """Record that `user` has reviewed the upload saved as `source`."""
        with self._editing() as uploads:
            if source not in uploads:
                raise XiaoshenError(f"No upload {source} awaits review", "reload the Library page")
            upload = uploads[source].model_copy(update={"status": "reviewed", "reviewed_by": user,
                                                        "reviewed_at": _now()})
            uploads[source] = upload
            return upload

    def forget(self, source: str) -> None:
        """Drop a removed document's entry."""
        with self._editing() as uploads:
            uploads.pop(source, None)

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Upload]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            uploads = self.uploads()
            yield uploads
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({s: u.model_dump() for s, u in sorted(uploads.items())}, ensure_ascii=False,
                                      indent=1), encoding="utf-8")
            tmp.replace(self.path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
