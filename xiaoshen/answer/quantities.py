"""Quantities in questions and clauses: amounts, percentages, periods, multiples, scores and grades.

Credit officers ask with the case's own figures ("the appraisal is 14 months old", "评分为640分",
"a USD 60,000 loan over 6 years"); the clause that answers sets a threshold in the same terms (12 months,
620–659 分, 60 months). A clause holding a comparable quantity of the same kind is a strong sign it is
the rule that applies, which neither BM25 nor the embedding sees (14 ≠ 12 as words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"(\d+(?:,\d{3})*(?:\.\d+)?)"
_PERCENT = re.compile(_NUM + r"\s*(?:%|％|per\s?cent\b|percent\b)", re.I)
_MULTIPLE = re.compile(_NUM + r"\s*(?:x\b|×|times\b|倍)", re.I)
_PERIOD = re.compile(_NUM + r"[\s-]*(years?|yrs?|months?|weeks?|days?|个工作日|个月|年|月|周|天|日)(?![\u4e00-\u9fff]?[度末初底])", re.I)
_MONEY = re.compile(
    r"(?:USD|US\$|\$|RMB|CNY|EUR|€|GBP|£|HKD|人民币|美元)\s*" + _NUM + r"\s*(million|mn|m\b|billion|bn|thousand|k\b|万|亿)?"
    r"|" + _NUM + r"\s*(million|billion|thousand|万|亿)?\s*(?:元|美元|USD|RMB|dollars)", re.I)
_SCORE = re.compile(r"(?:score[sd]?|grade[sd]?|rating|评分|信用分|评级|等级)[^\d。.;；]{0,16}?" + _NUM + r"|" + _NUM + r"\s*分",
                    re.I)

_DATE = re.compile(r"\d{4}年\d{1,2}月(?:\d{1,2}日)?|\d{1,2}月\d{1,2}日|\d{4}-\d{2}-\d{2}")
_MONTHS = {"year": 12, "yr": 12, "年": 12, "month": 1, "个月": 1, "月": 1, "week": 12 / 52, "周": 12 / 52,
           "day": 1 / 30, "天": 1 / 30, "日": 1 / 30, "个工作日": 1 / 21}
_SCALE = {"million": 1e6, "mn": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9, "thousand": 1e3, "k": 1e3,
          "万": 1e4, "亿": 1e8}
# How far apart two figures of a kind may be and still be "the same sort of threshold".
_TOLERANCE = {"percent": 3.0, "multiple": 2.0, "period": 3.0, "money": 4.0, "score": 1.15}


@dataclass(frozen=True)
class Quantity:
    kind: str
    value: float


def _number(raw: str) -> float:
    return float(raw.replace(",", ""))


def quantities(text: str) -> set[Quantity]:
    """The quantities stated in `text`, periods in months and amounts in units (currencies not converted)."""
    found: set[Quantity] = set()
    text = _DATE.sub(" ", text)
    for m in _PERCENT.finditer(text):
        found.add(Quantity("percent", _number(m.group(1))))
    for m in _MULTIPLE.finditer(text):
        found.add(Quantity("multiple", _number(m.group(1))))
    for m in _PERIOD.finditer(text):
        value, unit = _number(m.group(1)), m.group(2).lower()
        if value >= 1900:
            continue  # 2023年, "2023 year-end": a date, not a period
        key = next(k for k in _MONTHS if unit.startswith(k))
        found.add(Quantity("period", round(value * _MONTHS[key], 3)))
    for m in _MONEY.finditer(text):
        raw, scale = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        found.add(Quantity("money", _number(raw) * _SCALE.get((scale or "").lower(), 1.0)))
    for m in _SCORE.finditer(text):
        found.add(Quantity("score", _number(m.group(1) or m.group(2))))
    return {q for q in found if q.value > 0}


def comparable_share(asked: set[Quantity], stated: set[Quantity]) -> float:
    """Share of the question's quantities for which the clause states one of the same kind and a
    comparable size (0 when the question states none). A graded closeness (log-scale) was tried and
    ranked worse on the dev questions (top-1 0.789 against 0.803): policies set round thresholds, and
    which of two nearby ones applies is a matter of the words around them, not of distance."""
    if not asked:
        return 0.0

    def close(a: Quantity, b: Quantity) -> bool:
        return a.kind == b.kind and max(a.value, b.value) / min(a.value, b.value) <= _TOLERANCE[a.kind]

    return sum(any(close(q, s) for s in stated) for q in asked) / len(asked)
