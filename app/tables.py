"""Tables an officer reads without scrolling sideways: every row shown, long text wrapped to the page width,
columns and values in the bank's words ("Approve with conditions", "120 months"), not the program's
(`approve_with_conditions`, `120.0`).

`st.dataframe` is a scrolling grid: it shows about ten rows and cuts wide columns off. For the short
tables of a review note and a batch summary a static `st.table` fits better: it grows to its rows and
wraps its cells. Use `st.dataframe` only where sorting a long table matters more than reading it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import streamlit as st

# Words the bank uses for the program's values; anything else in snake_case becomes a sentence.
WORDS = {
    "approve": "Approve", "approve_with_conditions": "Approve with conditions", "decline": "Decline",
    "pass": "Pass", "fail": "Fail", "exception_needed": "Exception needed", "not_assessable": "Not assessable",
    "current": "Current", "superseded": "Superseded", "drifted": "Drifted",
}


def words(value: Any) -> str:
    """A program value in plain words: `approve_with_conditions` → 'Approve with conditions'."""
    text = str(value)
    if text in WORDS:
        return WORDS[text]
    if "_" in text and text.replace("_", "").isalnum() and text == text.lower():
        return text.replace("_", " ").capitalize()
    return text


def number(value: Any, unit: str = "", places: int = 2) -> str:
    """A figure with thousands separators and no '.0' on a whole number: 120.0 → '120', 1234567.5 → '1,234,567.5'."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"{value} {unit}".strip()
    rounded = round(float(value), places)
    text = f"{int(rounded):,}" if rounded == int(rounded) else f"{rounded:,.{places}f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def months(value: Any) -> str:
    """A tenor in months: 120.0 → '120 months', 1 → '1 month'."""
    text = number(value)
    return f"{text} month" if text == "1" else f"{text} months" if text else ""


def show_table(rows: Sequence[Mapping[str, Any]], *, columns: Mapping[str, str] | None = None,
               values: Mapping[str, Any] | None = None) -> None:
    """Rows shown in full and wrapped to the page width.

    `columns` picks and names the columns (key → heading, in order; default: every key, in plain words);
    `values` formats a column (key → function of the value; default: `words` for text, `number` for figures).
    """
    if not rows:
        return
    columns = columns or {key: words(key).capitalize() for key in rows[0]}
    formats = values or {}

    def cell(key: str, value: Any) -> str:
        if key in formats:
            return str(formats[key](value))
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return number(value)
        if isinstance(value, list | tuple):
            return ", ".join(words(v) for v in value)
        return "" if value is None else words(value)

    table = [{heading: cell(key, row.get(key)) for key, heading in columns.items()} for row in rows]
    st.table(table, hide_index=True)
