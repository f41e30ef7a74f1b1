"""The shared table layout for the Review and Batch pages: human words and units, every row shown."""

from __future__ import annotations

import sys

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "app"))
import tables


def test_values_read_in_the_banks_words_and_units() -> None:
    assert tables.words("approve_with_conditions") == "Approve with conditions"
    assert tables.words("exception_needed") == "Exception needed"
    assert tables.words("NCB-CRE-002") == "NCB-CRE-002" and tables.words("DSCR") == "DSCR"
    assert tables.months(120.0) == "120 months" and tables.months(1) == "1 month"
    assert tables.number(1234567.5) == "1,234,567.5" and tables.number(0.7812, "%") == "0.78 %"
    assert tables.number(None) == ""


def _page() -> None:
    import tables

    rows = [{"figure": f"Figure {n}", "value": float(n), "recommendation": "approve_with_conditions",
             "tenor_months": 120.0} for n in range(13)]
    tables.show_table(rows, columns={"figure": "Figure", "value": "Value", "recommendation": "Draft recommendation",
                                     "tenor_months": "Tenor"}, values={"tenor_months": tables.months})


def test_a_table_shows_every_row_with_its_headings() -> None:
    at = AppTest.from_function(_page, default_timeout=120).run()
    assert not at.exception
    [table] = at.table
    frame = table.value
    assert len(frame) == 13 and list(frame.columns) == ["Figure", "Value", "Draft recommendation", "Tenor"]
    assert set(frame["Draft recommendation"]) == {"Approve with conditions"} and set(frame["Tenor"]) == {"120 months"}
    assert frame["Value"].iloc[3] == "3"
