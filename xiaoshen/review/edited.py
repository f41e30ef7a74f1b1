"""The credit officer's edited draft (Markdown) as HTML and Word, so every download carries the edits.

The drafted note is rendered from its structure (render.py); once a person has edited the Markdown,
that text is the note. markdown-it (already installed with Rich) parses it with raw HTML disabled, so
policy text quoted in the note can never become markup in either output.
"""

from __future__ import annotations

import io
from html import escape

from docx import Document
from docx.text.paragraph import Paragraph
from markdown_it import MarkdownIt
from markdown_it.token import Token

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_STYLE = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}"
          "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #999;padding:.25rem .5rem;"
          "vertical-align:top}blockquote{border-left:4px solid #c60;margin:1rem 0;padding:.25rem 1rem;"
          "background:#fff6ec}")


def edited_html(markdown: str, title: str, lang: str = "en") -> str:
    """A standalone HTML page of the edited note; any HTML in the text is shown as text."""
    body = _MARKDOWN.render(markdown)
    return (f"<!doctype html><html lang=\"{'zh-CN' if lang == 'zh' else 'en'}\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def edited_docx(markdown: str) -> bytes:
    """A Word document of the edited note: headings, paragraphs, bullet lists, quotes and real tables."""
    document = Document()
    tokens = _MARKDOWN.parse(markdown)
    depth = 0  # list nesting
    quote = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            level = min(int(token.tag[1]), 4) - 1
            _runs(document.add_heading(level=level), tokens[i + 1])
            i += 3
            continue
        if token.type == "bullet_list_open" or token.type == "ordered_list_open":
            depth += 1
        elif token.type in {"bullet_list_close", "ordered_list_close"}:
            depth -= 1
        elif token.type == "blockquote_open":
            quote = True
        elif token.type == "blockquote_close":
            quote = False
        elif token.type == "table_open":
            i = _table(document, tokens, i)
            continue
        elif token.type == "inline" and tokens[i - 1].type == "paragraph_open":
            style = ("List Bullet 2" if depth > 1 else "List Bullet") if depth else ("Quote" if quote else None)
            _runs(document.add_paragraph(style=style), token)
        i += 1
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _runs(paragraph: Paragraph, inline: Token) -> None:
    bold = italic = False
    for child in inline.children or []:
        if child.type in {"strong_open", "strong_close"}:
            bold = child.type == "strong_open"
        elif child.type in {"em_open", "em_close"}:
            italic = child.type == "em_open"
        elif child.type in {"text", "code_inline"}:
            run = paragraph.add_run(child.content)
            run.bold, run.italic = bold or None, italic or None
        elif child.type in {"softbreak", "hardbreak"}:
            paragraph.add_run(" " if child.type == "softbreak" else "\n")


def _table(document: object, tokens: list[Token], start: int) -> int:
    """Add the table starting at tokens[start]; return the index after its close."""
    rows: list[list[Token]] = []
    i = start
    while tokens[i].type != "table_close":
        if tokens[i].type == "tr_open":
            rows.append([])
        elif tokens[i].type == "inline":
            rows[-1].append(tokens[i])
        i += 1
    width = max((len(r) for r in rows), default=0)
    if rows and width:
        table = document.add_table(rows=len(rows), cols=width)  # type: ignore[attr-defined]
        table.style = "Table Grid"
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                paragraph = table.cell(r, c).paragraphs[0]
                _runs(paragraph, cell)
                if r == 0:
                    for run in paragraph.runs:
                        run.bold = True
    return i + 1
