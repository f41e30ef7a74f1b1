"""The typed records that carry the flow: policy files → clauses → index → hits."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

Language = Literal["en", "zh"]
DocumentStatus = Literal["current", "superseded"]


class PolicyDocument(BaseModel):
    """One policy file as read: its text, where each page starts, and its identifying metadata."""

    doc_id: str = Field(description="Stable policy id, e.g. 'NCB-CRE-002'; from metadata or the file name.")
    title: str = Field(description="Human title of the policy.")
    version: str = Field(default="1", description="Version as the policy states it, e.g. '3.0'.")
    effective_date: date | None = Field(default=None, description="Date the version took effect.")
    language: Language = Field(default="en", description="Dominant language of the text.")
    declared_status: DocumentStatus | None = Field(
        default=None, description="Status the file itself declares; otherwise derived from versions."
    )
    access: list[str] = Field(default_factory=list, description="Roles allowed to read it; empty = everyone.")
    source: str = Field(description="Path of the file it was read from.")
    format: str = Field(description="Reader used: pdf, docx, md, html or txt.")
    content_hash: str = Field(description="SHA-256 of the file's bytes, its sidecar and the ingest "
                              "rules' version; drives incremental ingest.")
    text: str = Field(description="Full text; pages joined by newlines.")
    page_starts: list[int] = Field(
        default_factory=list, description="Character offset where each page starts; empty if unpaged."
    )
    normalised: list[str] = Field(
        default_factory=list, description="Normalisation steps that changed the text at ingest (ingest/normalise.py)."
    )
    normalised_spans: list[tuple[int, int, list[str]]] = Field(
        default_factory=list, description="(start, end, steps) of each changed line of `text`."
    )

    def normalised_in(self, start: int, end: int) -> list[str]:
        """The normalisation steps that changed the text between offsets `start` and `end`."""
        steps = {s for a, b, names in self.normalised_spans if a <= end and b >= start for s in names}
        return [s for s in self.normalised if s in steps]
    ocr_pages: dict[int, float | None] = Field(
        default_factory=dict, description="Pages whose text came from OCR → mean Tesseract word confidence (0–100)."
    )
    notes: list[str] = Field(default_factory=list, description="Warnings for whoever ingests it (skipped scans).")

    def page_at(self, offset: int) -> int | None:
        """The 1-based page that holds character `offset`, or None for unpaged formats."""
        if not self.page_starts:
            return None
        page = 1
        for number, start in enumerate(self.page_starts, start=1):
            if start <= offset:
                page = number
            else:
                break
        return page


class Clause(BaseModel):
    """A citable unit of policy: one numbered clause (or one part of a long clause) with its provenance."""

    clause_id: str = Field(description="Derived from doc id, version, section and part; stable across re-ingests.")
    doc_id: str
    title: str = Field(description="Title of the document the clause belongs to.")
    version: str
    effective_date: date | None = None
    status: DocumentStatus = "current"
    source: str = Field(description="Path of the source file.")
    format: str = "md"
    language: Language = "en"
    access: list[str] = Field(default_factory=list)
    section: str = Field(description="Section id as printed, e.g. '4.2.1', '第十二条', '§ 1026.43(c)(2)'.")
    heading: str = Field(default="", description="Heading path joined with ' › '.")
    page_start: int | None = None
    page_end: int | None = None
    part: int = Field(default=0, description="Index of this part when a long clause was split.")
    text: str = Field(description="The clause text as ingested.")
    content_hash: str = Field(default="", description="Hash of the source file this clause came from.")
    normalised: list[str] = Field(default_factory=list, description="Normalisation steps that changed this "
                                  "clause's text at ingest, e.g. ['zero_width', 'nfkc'].")
    suspicious: bool = Field(default=False, description="Reads like an instruction to an assistant "
                             "(xiaoshen/injection.py); flagged at ingest, never obeyed.")
    suspicious_reason: str = Field(default="", description="Why it was flagged: the kind and the words.")
    ocr_pages: dict[int, float] = Field(
        default_factory=dict, description="Pages of this clause recognised from a scan → their mean OCR "
        "confidence (0–100, 0 if no word was found); empty for a text layer.")

    @property
    def ocr(self) -> bool:
        """True if (part of) the clause's text was recognised from a scan: check it against the page."""
        return bool(self.ocr_pages)

    @property
    def ocr_confidence(self) -> float | None:
        """The lowest mean OCR confidence among the clause's pages, or None if it was not OCR'd."""
        return min(self.ocr_pages.values()) if self.ocr_pages else None

    @property
    def page_label(self) -> str:
        if self.page_start is None:
            return ""
        if self.page_end is None or self.page_end == self.page_start:
            return f"p. {self.page_start}"
        return f"pp. {self.page_start}–{self.page_end}"

    @property
    def label(self) -> str:
        """Citation label derived from metadata, e.g. 'NCB-CRE-002 v3.0 §4.2.1, p. 7'."""
        section = self.section if self.section.startswith(("§", "第", "Article", "Section")) else f"§{self.section}"
        parts = [f"{self.doc_id} v{self.version} {section}"]
        if self.page_label:
            parts.append(self.page_label)
        return ", ".join(parts)


def clause_id_for(doc_id: str, version: str, section: str, ordinal: int, part: int) -> str:
    """Stable id from what identifies a clause; `ordinal` separates repeated section labels."""
    key = f"{doc_id}\x1f{version}\x1f{section}\x1f{ordinal}\x1f{part}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


class Hit(BaseModel):
    """A clause returned by retrieval, with its fused score and the evidence behind it."""

    rank: int
    score: float = Field(description="Fused reciprocal-rank score (higher is better).")
    clause: Clause
    dense_rank: int | None = Field(default=None, description="Rank in the embedding list, if it appeared.")
    dense_similarity: float | None = Field(default=None, description="Cosine similarity to the query.")
    sparse_rank: int | None = Field(default=None, description="Rank in the BM25 list, if it appeared.")
    sparse_score: float | None = None
    rerank_score: float | None = Field(default=None, description="The answer stage's rerank score, if reranked.")

    def to_json(self) -> dict[str, object]:
        """The documented JSON hit: rank, score, doc_id, title, source, section, heading, page, text (+ extras)."""
        c = self.clause
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "doc_id": c.doc_id,
            "title": c.title,
            "source": c.source,
            "section": c.section,
            "heading": c.heading,
            "page": c.page_start,
            "text": c.text,
            "version": c.version,
            "status": c.status,
            "language": c.language,
            "clause_id": c.clause_id,
            "label": c.label,
        }


class DocumentSummary(BaseModel):
    """One ingested document as the index knows it (for `xiaoshen docs`)."""

    doc_id: str
    title: str
    version: str
    effective_date: date | None
    status: DocumentStatus
    language: Language
    source: str
    format: str
    clauses: int
    content_hash: str
    access: list[str] = Field(default_factory=list)
    consistent: bool = Field(default=True, description="False if clauses from two file versions coexist.")
    normalised: list[str] = Field(default_factory=list, description="Normalisation steps that changed its text.")
    suspicious_clauses: int = Field(default=0, description="Clauses that read like instructions to an assistant.")
    ocr_pages: int = Field(default=0, description="Pages (holding clauses) whose text was recognised from a scan.")
    low_confidence_pages: list[int] = Field(default_factory=list, description="OCR'd pages whose mean "
                                            "confidence is below ocr.low_confidence: check them.")


class Citation(BaseModel):
    """A marker [n] in an answer, pointing at a retrieved clause, with the words it quotes."""

    n: int = Field(description="The marker number used in the answer text.")
    clause_id: str
    doc_id: str
    title: str
    version: str
    section: str
    page: int | None = None
    quote: str = Field(description="The exact span of the clause that supports the citing sentence(s).")
    source: str
    label: str = Field(description="e.g. 'NCB-CRE-002 v3.0 §4.2, p. 4'.")
    status: DocumentStatus = "current"

    @classmethod
    def for_clause(cls, n: int, clause: Clause, quote: str) -> Citation:
        return cls(n=n, clause_id=clause.clause_id, doc_id=clause.doc_id, title=clause.title,
                   version=clause.version, section=clause.section, page=clause.page_start, quote=quote,
                   source=clause.source, label=clause.label, status=clause.status)


class AnswerSentence(BaseModel):
    """One sentence of an answer with the citations it carries and whether they support it."""

    text: str = Field(description="The sentence without its citation markers.")
    citations: list[int] = Field(default_factory=list, description="Marker numbers it cites.")
    supported: bool = Field(description="True if the cited clauses support it (words, meaning and numbers).")
    support: float = Field(default=0.0, description="Best support score against the cited clauses (0–1).")
    issues: list[str] = Field(default_factory=list, description="Why it is not supported, if it is not.")
    reasoning: bool = Field(default=False, description="The assistant's own remark, not a policy statement.")


class Answer(BaseModel):
    """A grounded answer: every sentence cites retrieved clauses or is visibly flagged."""

    question: str
    language: Language
    answer: str = Field(description="Answer text with inline [n] markers.")
    sentences: list[AnswerSentence] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    groundedness: float = Field(description="Supported policy sentences / policy sentences: the quoted words are "
                                "in the cited clauses. Not whether those clauses answer the question.")
    confidence: float = Field(default=0.0, description="Calibrated probability that the clause the answer opens "
                              "with answers this question (0.8: right about 8 times in 10).")
    abstained: bool = False
    decline: Literal["not_mentioned", "not_stated"] | None = Field(
        default=None, description="Why it abstained: a key concept no clause mentions, or on-topic clauses that "
        "do not state what was asked.")
    missing_concepts: list[str] = Field(default_factory=list, description="The question's words no clause "
                                        "in the index mentions.")
    see_also: list[Citation] = Field(default_factory=list, description="Nearest clauses when abstaining.")
    removed_markers: int = Field(default=0, description="Markers that pointed to no retrieved clause.")
    warnings: list[str] = Field(default_factory=list)
    backend: str
    retrieval: list[Hit] = Field(default_factory=list, description="The hits the answer could use.")
    settings_hash: str = ""
    index_build: str = ""
    latency_ms: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The documented JSON: answer, citations, sentences, groundedness, abstained, backend, retrieval."""
        data = self.model_dump(mode="json", exclude={"retrieval"})
        data["retrieval"] = [h.to_json() for h in self.retrieval]
        return data
