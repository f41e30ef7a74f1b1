"""PolicyDocument → clauses: recognise the numbering a reader cites, keep headings and pages.

Handles dotted numbers (4.2.1, 4.4.2.(1), 4.1.1.Guidance.1, APP4.A4.1.Guidance.14), `Section 4`, `§ 1026.43(c)(2)`,
`Article 395`, PRC-style 第十二条 under 第三章/第一节 headings, and sub-items such as (a), (1), (iv),
（一）, 一、. A clause is one numbered provision with its sub-items; a clause longer than the limit is
cut at its top-level sub-items (section ids like `§ 1026.43(c)`, `第十二条（一）`) and, failing that,
by sentences with overlap, every part keeping its section id.

LlamaIndex's MarkdownNodeParser splits on headings only and its SentenceSplitter ignores numbering,
so neither can tell where clause 4.2.1 ends; the SentenceSplitter is still used for the last step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.limits import bounded_lines
from xiaoshen.settings import IngestSettings
from xiaoshen.types import Clause, PolicyDocument, clause_id_for

_CN_NUM = "一二三四五六七八九十百千零〇两"
_BOLD = r"(?:\*\*|__)?"

# Markers that start a citable clause. Each pattern's group "id" is the section as printed.
_CLAUSE_PATTERNS = [
    re.compile(rf"^{_BOLD}(?P<id>§+\s*\d+[\w.\-]*(?:\(\w{{1,5}}\))*){_BOLD}"),
    re.compile(rf"^{_BOLD}(?P<id>(?:Article|ARTICLE|Art\.)\s+\d+[a-z]?){_BOLD}\b"),
    re.compile(rf"^{_BOLD}(?P<id>(?:Section|SECTION|Sec\.)\s+\d+(?:\.\d+)*[A-Za-z]?){_BOLD}\b"),
    re.compile(rf"^{_BOLD}(?P<id>第[{_CN_NUM}\d]+条(?:之[{_CN_NUM}]+)?){_BOLD}"),
    # Dotted numbers, also an appendix's (ADGM's APP4.A4.1.Guidance.14: without it the appendix's 60
    # guidance paragraphs ran together as chunks of APP4.A4.1, none citable by its own number).
    re.compile(
        rf"^{_BOLD}(?P<id>(?:\d{{1,3}}|APP\d{{1,2}})(?:\.(?:\d{{1,3}}|[A-Z]\d{{1,2}}|[A-Z][A-Za-z]+))+\.?"
        rf"(?:\(\w{{1,4}}\))*)\.?{_BOLD}(?=\s|$)"
    ),
]
# Headings that are not Markdown headings: 第三章 / 第一节 / 第二编, Chapter/Part lines.
_CN_HEADING = re.compile(rf"^{_BOLD}第[{_CN_NUM}\d]+(?P<kind>分编|编|章|节){_BOLD}")
_EN_HEADING = re.compile(r"^(?:CHAPTER|Chapter|PART|Part|TITLE|Title|Subpart|SUBPART)\s+[\dIVXLCA-Z]+\b")
_NUMBERED_TITLE = re.compile(r"^(\d{1,2})\s+([A-Z\u4e00-\u9fff][^.。;；:：]{2,80})$")
_MD_HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*#*$")
# "*Paragraph 2(c)(1)(i).*" or "*14(a)(1) In general.*" on its own line: the sub-heading the CFPB's official
# interpretations put over the comments on one paragraph (without it every comment there was cited by the
# heading above it, so comment 1 on 2(c)(1)(i) and comment 1 on 2(c)(1)(ii) were both "2(c)(1)").
_EMPHASISED_PARAGRAPH = re.compile(
    r"^(\*{1,2}|_{1,2})(?:Paragraphs?\s+)?(?P<id>\d+[a-z]?(?:\(\w{1,5}\))+)(?:\.|\s+[^*_]{1,80})?\1$"
)
# A document of official interpretations numbers its comments per paragraph: "comment 9(b)(2)-1".
_COMMENTARY_TITLE = re.compile(r"Official (?:Staff )?(?:Interpretations|Commentary)|Supplement I\b", re.IGNORECASE)
# Sub-items inside a clause, with the family each belongs to (families nest in order of appearance). A
# marker may stand alone on its line, its text below: the PRA Rulebook's paragraph numbers (" 6.").
_ITEM = re.compile(
    rf"^(?:[-*+]\s+)?{_BOLD}(?P<id>\((?:[a-z]{{1,4}}|[A-Z]{{1,2}}|\d{{1,3}})\)|（[{_CN_NUM}\d]+）|\([{_CN_NUM}]+\)"
    rf"|[{_CN_NUM}]+、|\d{{1,3}}[.、](?!\d)|[a-zA-Z]\.(?=\s)|[ivx]+\.(?=\s)){_BOLD}"
)
_CJK_END = re.compile(r"[\u4e00-\u9fff，、；：（）]$")
_CJK_START = re.compile(r"^[\u4e00-\u9fff，、；：（）]")
_ROMAN = re.compile(r"^[ivxlc]+$")
_SENTENCE_END = ("." , "。", ";", "；", ":", "：", "?", "？", "!", "！", ")", "）", "|")


@dataclass
class _Block:
    kind: str  # "heading", "clause", "item", "text"
    start: int
    end: int
    section: str = ""
    level: int = 0  # heading level, or item depth
    title: str = ""
    lines: list[str] = field(default_factory=list)
    family: str = ""
    indent: int = 0

    @property
    def body(self) -> str:
        return "\n".join(self.lines).strip()


def split_clauses(document: PolicyDocument, settings: IngestSettings | None = None) -> list[Clause]:
    """Split a policy document into clauses with section ids, heading paths and pages."""
    settings = settings or IngestSettings()
    blocks = _blocks(document, settings.max_line_chars)
    units = _group_clauses(blocks, settings)
    return _to_clauses(document, units, settings)


# --- 1. lines → blocks ----------------------------------------------------------------------------


def _clause_marker(line: str) -> str | None:
    for pattern in _CLAUSE_PATTERNS:
        match = pattern.match(line)
        if match:
            return re.sub(r"\s+", " ", match.group("id")).rstrip(".").strip()
    return None


def _item_family(marker: str, previous_letter: str | None) -> str:
    core = marker.strip("()（）.、")
    if marker.startswith("（") or (marker.endswith("、") and not core.isdigit()):
        return "cjk"
    if core.isdigit():
        return "digit-paren" if marker.startswith("(") else "digit-dot"
    if _ROMAN.match(core) and not (previous_letter and len(core) == 1 and ord(core) == ord(previous_letter) + 1):
        return "roman"
    if core.isupper():
        return "upper"
    return "lower-paren" if marker.startswith("(") else "lower-dot"


def _blocks(document: PolicyDocument, max_line_chars: int) -> list[_Block]:
    text = document.text
    paged_flow = document.format in {"pdf", "txt", "image"}
    blocks: list[_Block] = []
    previous_line = ""
    last_letter: str | None = None
    last_chapter = 0
    last_section = ""
    last_level = 0
    for start, raw in bounded_lines(text, max_line_chars):
        end = start + len(raw)
        line = raw.strip()
        if not line:
            previous_line = ""
            continue
        heading = _heading(line, paged_flow)
        if not paged_flow:
            if heading is not None:
                last_level = heading[0]
            elif paragraph := _EMPHASISED_PARAGRAPH.match(line):
                heading = (min(last_level + 1, 6), line.strip("*_ "), paragraph.group("id"))
        if heading is not None and paged_flow and heading[2].isdigit():
            # "10 Loss …" may be a table row; a chapter number must follow the previous chapter's.
            if int(heading[2]) not in {last_chapter + 1, 1}:
                heading = None
            else:
                last_chapter = int(heading[2])
        # In PDF/TXT flow text a wrapped line may begin with a number ("…see clause\n4.2.1 of…");
        # only a line after a sentence end, a heading or a blank starts a new provision there.
        fresh = not paged_flow or not previous_line or previous_line.endswith(_SENTENCE_END) or (
            blocks and blocks[-1].kind == "heading"
        )
        if heading is not None:
            level, title, section = heading
            blocks.append(_Block("heading", start, end, section=section, level=level, title=title))
        elif (marker := _clause_marker(line)) and (fresh or _follows(last_section, marker)):
            body = _strip_marker(line, marker)
            blocks.append(_Block("clause", start, end, section=marker, lines=[body] if body else []))
            last_letter, last_section = None, marker
        elif fresh and (item := _ITEM.match(line)):
            marker = item.group("id")
            family = _item_family(marker, last_letter)
            core = marker.strip("()（）.、")
            if family in {"lower-paren", "lower-dot"} and len(core) == 1:
                last_letter = core
            indent = len(raw) - len(raw.lstrip())
            blocks.append(
                _Block("item", start, end, section=marker.rstrip("."), family=family, lines=[line], indent=indent)
            )
        elif blocks and blocks[-1].kind != "heading":
            if paged_flow and blocks[-1].lines and len(blocks[-1].lines[-1]) + len(line) < max_line_chars:
                # PDF lines are visual lines; rejoin them into the sentence a reader sees (up to the line
                # bound: past it, rejoining re-copies an ever longer string and the time goes quadratic).
                joint = "" if _CJK_END.search(blocks[-1].lines[-1]) and _CJK_START.match(line) else " "
                blocks[-1].lines[-1] += joint + line
            else:
                blocks[-1].lines.append(line)
            blocks[-1].end = end
        else:
            blocks.append(_Block("text", start, end, lines=[line]))
        previous_line = line
    return _demote_title_clauses(blocks)


def _follows(previous: str, marker: str) -> bool:
    """Whether `marker` is the number that comes next after `previous` (4.2.1 → 4.2.2, 4.3, 4.2.1.1, 5.1)."""
    if previous.startswith("第") and marker.startswith("第"):
        # 第N条 after 第(N-1)条 starts the next article even when the line before lacks its "。" (OCR drops
        # or misreads it); a cross-reference that wraps to a line start names another article.
        before, after = _article_number(previous), _article_number(marker)
        return before is not None and after == before + 1
    a, b = previous.split("."), marker.split(".")
    if not previous or not all(p.isdigit() for p in a + b):
        return False
    if b == [*a, "1"]:
        return True
    for depth in range(min(len(a), len(b)), 0, -1):
        if b[: depth - 1] == a[: depth - 1] and int(b[depth - 1]) == int(a[depth - 1]) + 1:
            return all(x == "1" for x in b[depth:])
    return False


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _article_number(section: str) -> int | None:
    """12 for 第十二条 (or 第12条); None for 第十二条之一 and other forms."""
    match = re.fullmatch(rf"第([{_CN_NUM}\d]+)条", section)
    if not match:
        return None
    numeral = match.group(1)
    if numeral.isdigit():
        return int(numeral)
    total, digit = 0, 0
    for char in numeral:
        unit = {"十": 10, "百": 100, "千": 1000}.get(char)
        if unit:
            total += (digit or 1) * unit
            digit = 0
        elif char in _CN_DIGITS:
            digit = _CN_DIGITS[char]
        else:
            return None
    return total + digit


def _heading(line: str, paged_flow: bool) -> tuple[int, str, str] | None:
    """(level, title, section id) if the line is a heading."""
    md = _MD_HEADING.match(line)
    if md and not paged_flow:
        title = md.group(2).strip("* ")
        return len(md.group(1)), title, _clause_marker(title) or _cn_heading_id(title) or _leading_id(title)
    cn = _CN_HEADING.match(line)
    if cn and len(line) <= 60 and not line.endswith(("。", "；")):
        level = {"编": 1, "分编": 2, "章": 2, "节": 3}[cn.group("kind")]
        return level, line.strip("* "), _cn_heading_id(line) or ""
    if _EN_HEADING.match(line) and len(line) <= 90 and not line.endswith("."):
        return 2, line, ""
    if paged_flow and (numbered := _NUMBERED_TITLE.match(line)):
        return 2, line, numbered.group(1)
    return None


def _cn_heading_id(title: str) -> str | None:
    match = _CN_HEADING.match(title)
    return match.group(0).strip("*") if match else None


def _leading_id(title: str) -> str:
    """A heading's own number, e.g. '4' in '4 Loan-to-Value', '2(e)' in '2(e) Applicant.', 'APP4.A4.2'."""
    title = re.sub(r"^(?:Paragraphs?|Comments?)\s+", "", title)  # "Paragraph 4(a)." is 4(a)'s heading
    match = re.match(r"^([\dA-Z][\w.]*(?:\(\w{1,5}\))*)[\s.:—-]", title + " ")
    if match and re.search(r"\d", match.group(1)):
        return match.group(1).rstrip(".")
    return ""


def _strip_marker(line: str, marker: str) -> str:
    """The line without its leading marker and Markdown emphasis around it."""
    stripped = re.sub(r"^(?:\*\*|__)", "", line)
    compact = re.sub(r"\s+", " ", stripped)
    # Fall back to dropping the first word when the marker had a trailing dot or other spacing.
    body = compact[len(marker):] if compact.startswith(marker) else re.sub(r"^\S+", "", compact, count=1)
    return body.lstrip(".*_ ").strip()


def _demote_title_clauses(blocks: list[_Block]) -> list[_Block]:
    """A numbered line with only a short title, followed by its own children, is a heading (4.2 Scope)."""
    result: list[_Block] = []
    for i, block in enumerate(blocks):
        nxt = next((b for b in blocks[i + 1:] if b.kind in {"clause", "heading"}), None)
        title_only = block.kind == "clause" and len(block.body) <= 90 and not block.body.endswith(_SENTENCE_END)
        has_children = nxt is not None and nxt.kind == "clause" and (
            nxt.section.startswith(block.section + ".") or nxt.section.startswith(block.section + "(")
        )
        followed_by_item = i + 1 < len(blocks) and blocks[i + 1].kind == "item"
        if title_only and (has_children or not block.body) and not followed_by_item:
            depth = block.section.count(".") + 2
            result.append(_Block("heading", block.start, block.end, section=block.section, level=min(depth, 6),
                                 title=f"{block.section} {block.body}".strip()))
        else:
            result.append(block)
    return result


# --- 2. blocks → clause units (a clause with its items) -------------------------------------------


@dataclass
class _Unit:
    section: str
    heading: list[str]
    start: int
    end: int
    lead: list[str]
    items: list[_Block]

    def text(self) -> str:
        return "\n".join([*self.lead, *(i.body for i in self.items)]).strip()


def _group_clauses(blocks: list[_Block], settings: IngestSettings) -> list[_Unit]:
    units: list[_Unit] = []
    headings: list[tuple[int, str, str]] = []  # (level, title, section)
    current: _Unit | None = None

    def heading_path() -> list[str]:
        return [title for _, title, _ in headings]

    for block in blocks:
        if block.kind == "heading":
            headings = [h for h in headings if h[0] < block.level]
            headings.append((block.level, block.title, block.section))
            current = None
            continue
        if block.kind == "clause":
            current = _Unit(block.section, heading_path(), block.start, block.end, [block.body] if block.body else [], [])
            units.append(current)
            continue
        if current is None:
            # Unnumbered text under a heading: cite it by the heading's number, else its title.
            section = next((s for _, _, s in reversed(headings) if s), "") or next(
                (title[:80] for _, title, _ in reversed(headings) if title), "preamble"
            )
            current = _Unit(section, heading_path(), block.start, block.end, [], [])
            units.append(current)
        if block.kind == "item":
            current.items.append(block)
        else:
            current.lead.append(block.body)
        current.end = block.end
    return [u for u in _merge_fragments(units, settings) if u.text()]


def _merge_fragments(units: list[_Unit], settings: IngestSettings) -> list[_Unit]:
    """Unnumbered stray text shorter than the minimum joins the clause before it."""
    merged: list[_Unit] = []
    for unit in units:
        numbered = bool(_clause_marker(unit.section)) or unit.section.startswith("第")
        if merged and not numbered and len(unit.text()) < settings.min_clause_chars and unit.heading == merged[-1].heading:
            merged[-1].lead.append(unit.text())
            merged[-1].end = unit.end
        else:
            merged.append(unit)
    return merged


# --- 3. units → Clause records, splitting the long ones ---------------------------------------------


def _to_clauses(document: PolicyDocument, units: list[_Unit], settings: IngestSettings) -> list[Clause]:
    pieces: list[tuple[_Unit, str, str, int, int]] = []  # unit, section, text, start, end
    commentary = bool(_COMMENTARY_TITLE.search(document.title))
    for unit in units:
        for section, text, start, end in _split_unit(unit, settings, commentary=commentary):
            pieces.append((unit, section, text, start, end))

    clauses: list[Clause] = []
    seen: dict[str, int] = {}
    for unit, section, text, start, end in pieces:
        for part, chunk in enumerate(_split_text(text, settings)):
            ordinal = seen.get(f"{section}#{part}", 0)
            seen[f"{section}#{part}"] = ordinal + 1
            clauses.append(
                Clause(
                    clause_id=clause_id_for(document.doc_id, document.version, section, ordinal, part),
                    doc_id=document.doc_id,
                    title=document.title,
                    version=document.version,
                    effective_date=document.effective_date,
                    status=document.declared_status or "current",
                    source=document.source,
                    format=document.format,
                    language=document.language,
                    access=document.access,
                    section=section,
                    heading=" › ".join(unit.heading),
                    page_start=document.page_at(start),
                    page_end=document.page_at(end),
                    part=part,
                    text=chunk,
                    content_hash=document.content_hash,
                    normalised=document.normalised_in(start, end),
                    ocr_pages=_ocr_pages(document, start, end),
                )
            )
    return clauses


def _ocr_pages(document: PolicyDocument, start: int, end: int) -> dict[int, float]:
    """The OCR'd pages a clause spans, with their confidence (provenance shown beside its citations)."""
    first, last = document.page_at(start), document.page_at(end)
    if not document.ocr_pages or first is None or last is None:
        return {}
    return {n: round(document.ocr_pages[n] or 0.0, 1) for n in range(first, last + 1) if n in document.ocr_pages}


def _split_unit(unit: _Unit, settings: IngestSettings, *, commentary: bool = False) -> list[tuple[str, str, int, int]]:
    """Keep a clause whole if it fits; otherwise cut at its top-level sub-items."""
    text = unit.text()
    if len(text) <= settings.max_clause_chars or not unit.items:
        section = unit.section
        if commentary and not unit.lead and len(unit.items) == 1 and unit.items[0].family == "digit-dot":
            section = _item_section(unit.section, unit.items[0].section, commentary)
        return [(section, text, unit.start, unit.end)]
    # Indentation, where the source has it (CFR text), tells nesting better than the marker family; the
    # first item's, not the least: the PRA Rulebook indents its paragraph numbers (" 1.") and not the
    # points inside them ("- (a)").
    top = unit.items[0]
    groups: list[list[_Block]] = []
    for item in unit.items:
        if (item.family == top.family and item.indent <= top.indent) or not groups:
            groups.append([item])
        else:
            groups[-1].append(item)
    parts: list[tuple[str, str, int, int]] = []
    lead = "\n".join(unit.lead).strip()
    if lead:
        parts.append((unit.section, lead, unit.start, unit.items[0].start))
    for group in groups:
        body = "\n".join(b.body for b in group)
        section = _item_section(unit.section, group[0].section, commentary)
        if len(body) > settings.max_clause_chars and len(group) > 1:
            sub = _Unit(section, unit.heading, group[0].start, group[-1].end, [group[0].body], group[1:])
            parts.extend(_split_unit(sub, settings))
        elif parts and len(body) < settings.min_clause_chars:
            prev_section, prev_text, prev_start, _ = parts[-1]
            parts[-1] = (prev_section, f"{prev_text}\n{body}", prev_start, group[-1].end)
        else:
            parts.append((section, body, group[0].start, group[-1].end))
    return parts


def _item_section(section: str, marker: str, commentary: bool) -> str:
    """The section id of an item: 4.2(a), 第十条（二）, or in official interpretations "Comment 9(b)(2)-1"."""
    if commentary and marker.rstrip(".").isdigit():
        # "Section 1002.9" is paragraph 9 of the regulation: its own comments are "Comment 9-2".
        base = re.sub(r"^(?:Section|§)\s*\d+\.", "", section)
        return f"Comment {base}-{marker.rstrip('.')}"
    return f"{section}{_item_label(marker)}"


def _item_label(marker: str) -> str:
    core = marker.strip("()（）.、")
    if marker.startswith("（") or (marker.endswith("、") and not core.isdigit()):
        return f"（{core}）"
    return f"({core})"


def _split_text(text: str, settings: IngestSettings) -> list[str]:
    if len(text) <= settings.max_clause_chars:
        return [text]
    from llama_index.core.node_parser import SentenceSplitter

    # Character "tokens" keep the splitter away from tiktoken (a download) and treat CJK fairly.
    splitter = SentenceSplitter(
        chunk_size=settings.max_clause_chars,
        chunk_overlap=settings.overlap_chars,
        tokenizer=list,
        paragraph_separator="\n",
    )
    return [chunk.strip() for chunk in splitter.split_text(text) if chunk.strip()]
