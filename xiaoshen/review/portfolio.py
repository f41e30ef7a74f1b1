"""The portfolio view of a batch: one row per application and charts of key ratios against their limits.

Pure functions of the review notes, shared by `xiaoshen batch` (summary.csv, summary.html) and the app's Batch
page. Charts are inline SVG built here, so a summary opens offline with no script; all text is escaped.
"""

from __future__ import annotations

from html import escape

from pydantic import BaseModel, Field

from xiaoshen.review.messages import translate
from xiaoshen.review.note import RECOMMENDATIONS, ReviewNote, recommendation_label

CHART_METRICS = {"dscr": "DSCR", "ltv": "LTV", "dti": "DTI"}
CSV_COLUMNS = ["id", "borrower", "product", "recommendation", "approval_authority", "failed_checks",
               "exceptions", "not_assessable", "dscr", "ltv", "dti", "note"]
RECOMMENDATION = RECOMMENDATIONS


class RatioPoint(BaseModel):
    """One application's figure and the binding policy limit on it."""

    value: float
    limit: float
    limit_kind: str = Field(description="'max' or 'min'.")
    shown: str = Field(description="The value as the note displays it, e.g. '78.0%'.")
    shown_limit: str = Field(description="e.g. '≤ 75.0%'.")
    within: bool
    clause: str = Field(default="", description="The clause that sets the limit, e.g. 'NCB-CRE-002 §5.3'.")


class PortfolioRow(BaseModel):
    """One application in the portfolio summary."""

    id: str
    borrower: str
    product: str
    recommendation: str = Field(description="The value ('approve_with_conditions'); shown by its label.")
    approval_authority: str
    failed_checks: list[str] = Field(default_factory=list, description="Check titles (with the limit), not rule ids.")
    exceptions: list[str] = Field(default_factory=list)
    not_assessable: list[str] = Field(default_factory=list)
    language: str = "en"
    ratios: dict[str, str] = Field(default_factory=dict, description="dscr/ltv/dti as displayed in the note.")
    points: dict[str, RatioPoint] = Field(default_factory=dict, description="Chart points: metric -> point.")
    notes: dict[str, str] = Field(default_factory=dict, description="Format -> note file name.")


def portfolio_row(note: ReviewNote, notes: dict[str, str] | None = None) -> PortfolioRow:
    """The summary row of one note; `notes` maps each format written to its file name."""
    figures = {f.key: f.display() for f in note.figures if f.key in CHART_METRICS}
    points = {}
    for metric in CHART_METRICS:
        checks = [c for c in note.checks if c.metric == metric and c.figure_value is not None
                  and c.limit_value is not None]
        if not checks:
            continue
        # Several limits may apply (a mortgage's 80% ceiling and its occupancy limit): chart the strictest.
        kind = "max" if checks[0].limit.startswith("≤") else "min"
        binding = min(checks, key=lambda c: c.limit_value) if kind == "max" else max(checks, key=lambda c: c.limit_value)
        value, limit = binding.figure_value, binding.limit_value
        assert value is not None and limit is not None
        points[metric] = RatioPoint(value=float(value), limit=float(limit), limit_kind=kind, shown=binding.value,
                                    shown_limit=binding.limit, within=value <= limit if kind == "max" else value >= limit,
                                    clause=f"{binding.clause.doc_id} §{binding.clause.section}")
    return PortfolioRow(
        id=note.application_id, borrower=note.borrower, product=note.product, recommendation=note.recommendation,
        approval_authority=note.authority.approver,
        failed_checks=[_title(c) for c in note.checks if c.result == "fail"],
        exceptions=[_title(c) for c in note.checks if c.result == "exception_needed"],
        not_assessable=[_title(c) for c in note.checks if c.result == "not_assessable"],
        ratios=figures, points=points, notes=notes or {}, language=note.language)


def _title(check) -> str:  # type: ignore[no-untyped-def]
    # A reader knows a check by what it limits and the limit, never by its id in the rules file.
    return f"{check.label} {check.limit}" if check.limit_value is not None else check.label


def _tr(title: str, lang: str) -> str:
    """A check title in `lang`: its label translated, the limit as it is."""
    for sign in (" ≤ ", " ≥ "):
        if sign in title:
            label, limit = title.rsplit(sign, 1)
            return f"{translate(label, lang)}{sign}{limit}"
    return translate(title, lang)


def csv_row(row: PortfolioRow, lang: str = "en") -> dict[str, str]:
    """The row as summary.csv writes it (lists joined by '; '), labels in `lang`."""
    return {"id": row.id, "borrower": row.borrower, "product": translate(row.product, lang),
            "recommendation": recommendation_label(row.recommendation, lang),
            "approval_authority": translate(row.approval_authority, lang),
            "failed_checks": "; ".join(_tr(t, lang) for t in row.failed_checks),
            "exceptions": "; ".join(_tr(t, lang) for t in row.exceptions),
            "not_assessable": "; ".join(_tr(t, lang) for t in row.not_assessable),
            **{m: row.ratios.get(m, "") for m in CHART_METRICS}, "note": "; ".join(row.notes.values())}


CHART_TITLE = "{metric} against policy limits (bar: value; black tick: limit; red: outside the limit)"


def ratio_chart_svg(rows: list[PortfolioRow], metric: str, *, width: int = 640, lang: str = "en") -> str:
    """A horizontal bar per application for `metric`, with a tick at its own policy limit; '' if none has it.
    Its title (CHART_TITLE, in `lang`) names the ratio and says how to read the chart."""
    points = [(r.id, r.points[metric]) for r in rows if metric in r.points]
    if not points:
        return ""
    bar, label_w, value_w = 18, 80, 70
    plot_w = width - label_w - value_w
    # Cap the axis at 3× the largest limit so one very strong DSCR does not flatten every other bar.
    top = max(p.limit for _, p in points) * 3
    scale_max = min(max(max(p.value, p.limit) for _, p in points), top) * 1.05 or 1.0
    height = bar * len(points) + 30

    def x(value: float) -> float:
        return label_w + max(0.0, min(value, scale_max)) / scale_max * plot_w

    name = CHART_METRICS.get(metric, metric)
    title = translate(CHART_TITLE, lang).format(metric=name)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
             f'<text x="{label_w}" y="12" font-weight="bold">{escape(title)}</text>']
    for i, (app_id, p) in enumerate(points):
        y = 20 + i * bar
        colour = "#3a7d44" if p.within else "#c0392b"
        tip = f"{app_id}: {name} {p.shown}, limit {p.shown_limit}"
        parts += [f'<g><title>{escape(tip)}</title>',
                  f'<text x="{label_w - 4}" y="{y + 12}" text-anchor="end">{escape(app_id)}</text>',
                  f'<rect x="{label_w}" y="{y + 3}" width="{x(p.value) - label_w:.1f}" height="{bar - 6}" '
                  f'fill="{colour}"/>',
                  f'<line x1="{x(p.limit):.1f}" x2="{x(p.limit):.1f}" y1="{y}" y2="{y + bar}" stroke="#000" '
                  'stroke-width="2"/>',
                  f'<text x="{width - value_w + 4}" y="{y + 12}">{escape(p.shown)}</text></g>']
    parts.append("</svg>")
    return "".join(parts)


def chart_caption(rows: list[PortfolioRow], metric: str, lang: str = "en") -> str:
    """What a ratio chart's title does not say, in `lang`: how many applications it plots, how many are outside
    their limit, and each limit with the clause it comes from and how many applications it binds; '' if none."""
    points = [r.points[metric] for r in rows if metric in r.points]
    if not points:
        return ""

    def t(text: str) -> str:
        return translate(text, lang)

    def applications(n: int) -> str:
        return t("{n} application" if n == 1 else "{n} applications").format(n=n)

    binding: dict[tuple[str, str], int] = {}
    for p in points:
        binding[(p.shown_limit, p.clause)] = binding.get((p.shown_limit, p.clause), 0) + 1
    limits = ("；" if lang == "zh" else "; ").join(
        t("{limit} under {clause} ({applications})" if clause else "{limit} ({applications})").format(
            limit=limit, clause=clause, applications=applications(n)) for (limit, clause), n in binding.items())
    return t("{plotted} plotted, {outside} outside their limit. Limits: {limits}.").format(
        plotted=applications(len(points)), outside=sum(not p.within for p in points), limits=limits)


def render_summary_html(rows: list[PortfolioRow], title: str = "Portfolio summary of draft review notes",
                        lang: str = "en") -> str:
    """summary.html: the table (recommendation, failed checks, exceptions, key ratios, links) and the charts,
    in the reader's language `lang` (each note itself is in its applicant's language)."""
    def t(text: str) -> str:
        return translate(text, lang)

    def cell(text: str) -> str:
        return f"<td>{escape(text)}</td>"

    def links(row: PortfolioRow) -> str:
        return " ".join(f'<a href="{escape(name, quote=True)}">{escape(fmt)}</a>' for fmt, name in row.notes.items())

    counts = {k: sum(r.recommendation == k for r in rows) for k in RECOMMENDATION}
    head = "".join(f"<th>{escape(t(h))}</th>" for h in ["application", "borrower", "product", "draft recommendation",
                                                        "approval authority", "failed checks", "exceptions",
                                                        "not assessable", "DSCR", "LTV", "DTI", "note"])
    sep = "、" if lang == "zh" else ", "
    body = "".join(
        f"<tr class='{escape(r.recommendation)}'>" + cell(r.id) + cell(r.borrower) + cell(t(r.product))
        + cell(recommendation_label(r.recommendation, lang)) + cell(t(r.approval_authority))
        + cell(sep.join(_tr(x, lang) for x in r.failed_checks)) + cell(sep.join(_tr(x, lang) for x in r.exceptions))
        + cell(sep.join(_tr(x, lang) for x in r.not_assessable))
        + "".join(cell(r.ratios.get(m, "")) for m in CHART_METRICS) + f"<td>{links(r)}</td></tr>" for r in rows)
    charts = "".join(f"<figure>{svg}<figcaption>{escape(chart_caption(rows, m, lang))}</figcaption></figure>"
                     for m in CHART_METRICS if (svg := ratio_chart_svg(rows, m, lang=lang)))
    tally = ("，" if lang == "zh" else ", ").join(
        f"{n} {recommendation_label(k, lang).lower()}" for k, n in counts.items())
    style = ("body{font-family:'Noto Sans CJK SC',sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #999;padding:.2em .4em;font-size:.9em}tr.decline td{background:#fbe9e7}"
             "tr.approve_with_conditions td,tr.refer td{background:#fff8e1}.disclaimer{background:#fff4d6;padding:.5em}")
    disclaimer = t("Drafts for the credit officer, not credit decisions: the approval authority named in each note "
                   "decides.")
    counted = t("{n} applications: {tally}.").format(n=len(rows), tally=tally)
    return (f"<!doctype html><html lang='{'zh-CN' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>"
            f"<title>{escape(t(title))}</title><style>{style}</style></head><body><h1>{escape(t(title))}</h1>"
            f"<p class='disclaimer'>{escape(disclaimer)}</p><p>{escape(counted)}</p><table><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table><h2>{escape(t('Key ratios against policy limits'))}</h2>{charts}"
            "</body></html>")
