"""The review note's words in each language: a message catalog and locale formatting (Babel).

A note is drafted once, language-neutral: sentences are `Message`s (a message id, the English text with
{placeholders}, as gettext keys them, and typed arguments), and fixed labels are English msgids. Rendering
looks each up in the catalog of the reader's language (`catalog_zh.ZH`); an id with no translation falls back to
English, so a new label is never lost, only untranslated. Numbers, currencies and dates go through Babel.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, Union

from babel.dates import format_date
from babel.numbers import format_decimal, get_currency_name
from pydantic import BaseModel, Field

from xiaoshen.review.catalog_zh import ZH

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
LOCALE = {"en": "en_US", "zh": "zh_CN"}
CATALOGS: dict[str, dict[str, str]] = {"en": {}, "zh": ZH}


class Term(BaseModel):
    """A fixed phrase (an English msgid) translated when rendered, e.g. a figure's label."""

    term: str


class Money(BaseModel):
    """An amount in a currency, written as each language writes money (USD 1,234 / 人民币123.40万元)."""

    amount: Decimal
    currency: str
    places: int = Field(default=0, description="Decimals in the English form (the Chinese form uses 万元 to 2).")


class Quantity(BaseModel):
    """A figure's value in its unit ('x', '%', 'points', 'months', 'years', 'age' or a currency code)."""

    value: Decimal | None
    unit: str


class Day(BaseModel):
    day: date


class Terms(BaseModel):
    """A list of fixed phrases, joined as the language joins a list."""

    terms: list[str]


class Bilingual(BaseModel):
    """Words a rules file or policy gives in both languages (a condition as each version of the policy words it)."""

    en: str
    zh: str


class Message(BaseModel):
    """One sentence: its msgid (the English template) and the arguments to fill in."""

    key: str
    args: dict[str, Arg] = Field(default_factory=dict)


Arg = Union[str, Term, Terms, Bilingual, Money, Quantity, Day, Message]  # noqa: UP007 (a forward reference pydantic resolves)
Message.model_rebuild()


def translate(msgid: str, lang: str) -> str:
    """The catalog's rendering of a fixed phrase, or the phrase itself (English, or not yet translated)."""
    return CATALOGS.get(lang, {}).get(msgid, msgid)


_PAGES = re.compile(r", pp?\. (\d+)(?:–(\d+))?$")


def clause_label(label: str, lang: str) -> str:
    """A citation label (types.Clause.label: 'NCB-CPM-001 v5.0 §6.1, pp. 6–7') with its pages in the reader's
    language: '…§6.1，第6–7页' in Chinese. The document, version and section stay as the document prints them."""
    if lang != "zh":
        return label
    return _PAGES.sub(lambda m: f"，第{m.group(1)}{'–' + m.group(2) if m.group(2) else ''}页", label)


def say(message: Message, lang: str) -> str:
    """The message in `lang`, every argument formatted for that language."""
    template = translate(message.key, lang)
    return template.format(**{name: render_arg(arg, lang) for name, arg in message.args.items()})


def render_arg(arg: Arg, lang: str) -> str:
    if isinstance(arg, Message):
        return say(arg, lang)
    if isinstance(arg, Term):
        return translate(arg.term, lang)
    if isinstance(arg, Money):
        return money(arg.amount, arg.currency, lang, arg.places)
    if isinstance(arg, Quantity):
        return quantity(arg.value, arg.unit, lang)
    if isinstance(arg, Day):
        return day(arg.day, lang)
    if isinstance(arg, Bilingual):
        return arg.zh if lang == "zh" else arg.en
    if isinstance(arg, Terms):
        return ("、" if lang == "zh" else ", ").join(translate(t, lang) for t in arg.terms)
    return arg


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _number(value: Decimal, places: int, lang: str) -> str:
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(_round(value, places), format=pattern, locale=LOCALE.get(lang, "en_US"))


def money(amount: Decimal, currency: str, lang: str, places: int = 0) -> str:
    """English: 'USD 1,234'. Chinese, as credit papers write it: '人民币800.00万元' (from 10,000 up), else '人民币3,500.00元'."""
    if lang == "zh":
        name = get_currency_name(currency, locale="zh_CN")
        if abs(amount) >= 10000:
            return f"{name}{_number(amount / 10000, 2, lang)}万元"
        return f"{name}{_number(amount, 2, lang)}元"
    return f"{currency} {_number(amount, places, lang)}"


# Periods and ages: (English singular, English plural, Chinese). An age is a count of years too, but Chinese
# writes it in 岁 ("45岁"), a period in 年 ("30年"): the unit says which, never the value.
PERIOD_UNITS = {"months": ("month", "months", "个月"), "years": ("year", "years", "年"), "age": ("year", "years", "岁")}


def quantity(value: Decimal | None, unit: str, lang: str) -> str:
    """Ratios to 2 decimals (1.20x), percentages to 1 (75.0%), periods and ages to 1 with no '.0' on a whole
    one (120 months, 7.5 months, 120个月; an age 45 years, 45岁), scores whole, money as `money`."""
    if value is None:
        return translate("n/a", lang)
    if unit == "x":
        return f"{_round(value, 2)}x"
    if unit == "%":
        return f"{_round(value, 1)}%"
    if unit == "points":
        return f"{_round(value, 0)}分" if lang == "zh" else str(_round(value, 0))
    if unit in PERIOD_UNITS:
        one, many, zh = PERIOD_UNITS[unit]
        tenths = _round(value, 1)
        number = f"{tenths:.0f}" if tenths == tenths.to_integral_value() else f"{tenths}"
        if lang == "zh":
            return f"{number}{zh}"
        return f"{number} {one if number == '1' else many}"
    return money(value, unit, lang)


def day(value: date, lang: str) -> str:
    """'2025-09-30' in English notes (as the policies write dates), '2025年9月30日' in Chinese ones."""
    if lang == "zh":
        return format_date(value, format="long", locale="zh_CN")
    return value.isoformat()
