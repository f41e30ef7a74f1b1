"""A Markdown policy opened from a citation reads as a document: its front matter (doc id, version,
effective date…) as a header table, the body rendered — not the raw file with its YAML block on top.

The page is a static file on the app's own origin, so it is built to be inert: the body's raw HTML is
escaped (markdown-it with html off), links to scripts are refused by markdown-it's link check, and a
Content-Security-Policy that allows no script at all is part of the page.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt

MARKDOWN_SUFFIXES = {".md", ".markdown"}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
          "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
          "text-align:left;vertical-align:top}th{background:#f4f4f4}")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter (empty if none, or if it is not a mapping) and the body after it."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for n, line in enumerate(lines[1:], start=1):
        if line.strip() in {"---", "..."}:
            try:
                meta = yaml.safe_load("".join(lines[1:n])) or {}
            except yaml.YAMLError:
                return {}, text
            return (meta, "".join(lines[n + 1:])) if isinstance(meta, dict) else ({}, text)
    return {}, text


def render_markdown_source(text: str, name: str) -> str:
    """A self-contained, script-free HTML page of a Markdown policy: header table, then the body."""
    meta, body = split_front_matter(text)
    title = str(meta.get("title") or name)
    rows = "".join(f"<tr><th>{html.escape(_heading(str(k)))}</th><td>{html.escape(_value(v))}</td></tr>"
                   for k, v in meta.items())
    table = f"<table>{rows}</table>" if rows else ""
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(body)
    return (f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
            f'content="{_CSP}"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>'
            f"<body>{table}{rendered}</body></html>")


_HEADINGS = {"doc_id": "Document id", "effective_date": "Effective", "access": "Readable by", "supersedes": "Replaces"}


def _heading(key: str) -> str:
    return _HEADINGS.get(key, key.replace("_", " ").capitalize())


def _value(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def write_rendered(source: Path, target_dir: Path) -> Path:
    """The rendered page of a Markdown source in `target_dir` (rewritten when the source is newer)."""
    target = target_dir / (source.stem + ".html")
    if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
        target_dir.mkdir(parents=True, exist_ok=True)
        target.write_text(render_markdown_source(source.read_text(encoding="utf-8"), source.name), encoding="utf-8")
    return target
