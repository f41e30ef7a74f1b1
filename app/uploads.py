"""Uploaded files, as the person who uploaded them knows them: errors name the file they chose (never a
server temp path), list every problem found, and a file of the wrong type is refused in words (Streamlit's
own type filter shows only an icon)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xiaoshen.errors import XiaoshenError
from xiaoshen.review.application import Application, ApplicationError, load_application

APPLICATION_SUFFIXES = (".json", ".yaml", ".yml")


def wrong_type(name: str, allowed: Iterable[str], what: str) -> str | None:
    """Why a file of this name is refused, in words; None if its type is allowed."""
    allowed = sorted({s.lower() for s in allowed})
    suffix = Path(name).suffix.lower()
    if suffix in allowed:
        return None
    kind = f"a {suffix} file" if suffix else "a file without an extension"
    return (f"{name}: {kind} is not {what}; use " + ", ".join(allowed) + ". "
            f"不支持此文件类型，请使用 {'、'.join(allowed)}。")


def application_from_upload(upload: Any) -> Application:
    """An uploaded application (JSON or YAML); an ApplicationError names the uploaded file's own name."""
    name = Path(upload.name).name
    refused = wrong_type(name, APPLICATION_SUFFIXES, "an application file")
    if refused:
        raise ApplicationError(name, "(file)", refused.split(": ", 1)[1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(upload.getvalue())
        try:
            return load_application(path)
        except ApplicationError as exc:
            raise ApplicationError(name, exc.field, exc.problem, problems=exc.problems, hint=exc.hint) from None


def error_lines(exc: XiaoshenError) -> list[str]:
    """Every problem of an error, one line each, starting with the file it is about."""
    problems = getattr(exc, "problems", None)
    source = getattr(exc, "source", None)
    if problems and source and len(problems) > 1:
        return [f"{source}: {len(problems)} problems"] + [f"{field}: {problem}" for field, problem in problems]
    return [str(exc)]


def show_error(exc: XiaoshenError) -> None:
    """The error on the page, every problem on its own line (as literal text, never markup)."""
    import streamlit as st

    from xiaoshen.text import literal_markdown

    first, *rest = error_lines(exc)
    st.error(literal_markdown(first) + "".join("\n- " + literal_markdown(line) for line in rest))
