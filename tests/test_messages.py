"""How a note writes a figure in each language (xiaoshen/review/messages.py): periods without a '.0' on a whole
one, an age in 岁 in Chinese and a period in 年."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xiaoshen.review.messages import quantity


@pytest.mark.parametrize(("value", "unit", "lang", "shown"), [
    ("120", "months", "en", "120 months"),
    ("120.0", "months", "en", "120 months"),
    ("7.5", "months", "en", "7.5 months"),
    ("7.96", "months", "en", "8 months"),  # rounded to one decimal first: 8.0 is whole
    ("1", "months", "en", "1 month"),
    ("120", "months", "zh", "120个月"),
    ("7.5", "months", "zh", "7.5个月"),
    ("30", "years", "en", "30 years"),
    ("30", "years", "zh", "30年"),
    ("6.5", "years", "zh", "6.5年"),
    ("45", "age", "en", "45 years"),
    ("45", "age", "zh", "45岁"),
    ("77.58", "age", "zh", "77.6岁"),
])
def test_periods_and_ages_read_as_a_person_writes_them(value: str, unit: str, lang: str, shown: str) -> None:
    assert quantity(Decimal(value), unit, lang) == shown


def test_the_other_units_keep_their_fixed_decimals() -> None:
    assert quantity(Decimal("1.2"), "x", "en") == "1.20x"
    assert quantity(Decimal("75"), "%", "zh") == "75.0%"
    assert quantity(Decimal("640"), "points", "zh") == "640分"
    assert quantity(None, "months", "zh") == "不适用"
