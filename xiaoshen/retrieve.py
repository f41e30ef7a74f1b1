"""Hybrid retrieval: dense (Chroma) + BM25, fused by weighted reciprocal rank, with metadata filters.

Filters are applied inside both searches (the Chroma `where` and the keyword mask), never after
fusion, so a filtered-out clause cannot take a slot in the top k. Superseded versions rank behind the
current one, unless the question asks for a version by number or by year ("under the 2023 version
(v2.0)"): then that version of the document ranks ahead and its other versions behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field

from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.query import Query, version_key
from xiaoshen.settings import Settings
from xiaoshen.text import keyword_tokens
from xiaoshen.types import Clause, DocumentSummary, Hit

if TYPE_CHECKING:
    from llama_index.core.vector_stores.types import MetadataFilters


def _versions_asked_for(query: Query, clauses: list[Clause]) -> set[tuple[str, str]]:
    """(doc id, version) pairs among the candidates that the question asks for by number or year."""
    numbers, years = query.versions
    if not numbers and not years:
        return set()
    asked = {(c.doc_id, c.version) for c in clauses
             if version_key(c.version) in numbers or (c.effective_date and c.effective_date.year in years)}
    # "Under the Collateral Policy v2.0": the number belongs to the document the question names, when it
    # names one (by id, or by the best-covered title, at least half its words), not to every document
    # that happens to have a version 2.0.
    words = query.words  # with the acronyms the policies define ("CRE")
    titles = {c.doc_id: set(keyword_tokens(c.title, bigrams=False)) for c in clauses}
    share = {doc: len(title & words) / len(title) for doc, title in titles.items() if title}
    best = max(share.values(), default=0.0)
    named = {doc for doc in titles if doc.lower() in query.text.lower()} or \
        {doc for doc, value in share.items() if value >= 0.5 and value == best}
    return {pair for pair in asked if pair[0] in named} if named else asked


class ClauseFilter(BaseModel):
    """Which clauses a search may return. Empty lists mean no restriction."""

    doc_ids: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    formats: list[str] = Field(default_factory=list)
    sections: list[str] = Field(default_factory=list)
    current_only: bool = False
    roles: list[str] | None = Field(
        default=None,
        description="The reader's roles: only clauses open to everyone or to one of these roles. "
        "None means unrestricted (a local operator who already holds the index files).",
    )

    FIELDS: ClassVar[dict[str, str]] = {  # CLI key -> attribute
        "doc_id": "doc_ids", "language": "languages", "lang": "languages", "format": "formats",
        "type": "formats", "section": "sections",
    }

    @classmethod
    def parse(cls, pairs: list[str]) -> ClauseFilter:
        """From CLI `KEY=VALUE` pairs: doc_id, language, format/type, section, status=current, current=true."""
        values: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not value:
                raise XiaoshenError(f"Filter {pair!r} is not KEY=VALUE", "e.g. --filter doc_id=NCB-CRE-002")
            if key in cls.FIELDS:
                values.setdefault(cls.FIELDS[key], []).append(value)
            elif (key, value.lower()) in {("status", "current"), ("current", "true"), ("current", "yes")}:
                values["current_only"] = True
            else:
                allowed = ", ".join([*cls.FIELDS, "status=current", "current=true"])
                raise XiaoshenError(f"Unknown filter {pair!r}", f"use one of: {allowed}")
        return cls(**values)

    def _conditions(self) -> list[tuple[str, list[str]]]:
        conditions = [("doc_id", self.doc_ids), ("language", self.languages), ("format", self.formats),
                      ("section", self.sections)]
        if self.current_only:
            conditions.append(("status", ["current"]))
        return [(key, values) for key, values in conditions if values]

    def for_roles(self, roles: list[str] | None) -> ClauseFilter:
        """This filter, restricted to what a reader with `roles` may see."""
        return self.model_copy(update={"roles": None if roles is None else sorted(set(roles))})

    def _access_keys(self) -> list[str]:
        # One boolean per role in the store's metadata (see index.clause_metadata): a clause is
        # readable when it is public or carries any of the reader's roles.
        return ["access_public", *(f"role_{role}" for role in self.roles or [])]

    def to_chroma_where(self) -> dict[str, Any] | None:
        """The same filter for the Chroma query: the `where` that LlamaIndex's Chroma store makes of
        `to_metadata_filters()` (a test holds the two equal), written out so that a search never imports
        `llama_index.core` (2.3 s of a cold process)."""
        clauses: list[dict[str, Any]] = [
            {key: {"$eq": values[0]}} if len(values) == 1 else {key: {"$in": values}}
            for key, values in self._conditions()
        ]
        if self.roles is not None:
            access = [{key: {"$eq": True}} for key in self._access_keys()]
            clauses.append(access[0] if len(access) == 1 else {"$or": access})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def to_metadata_filters(self) -> MetadataFilters | None:
        """The same filter as LlamaIndex metadata filters (for LlamaIndex's own retrievers)."""
        from llama_index.core.vector_stores.types import (
            FilterCondition,
            FilterOperator,
            MetadataFilter,
            MetadataFilters,
        )

        filters: list[MetadataFilter | MetadataFilters] = [
            MetadataFilter(key=key, value=values[0], operator=FilterOperator.EQ) if len(values) == 1
            else MetadataFilter(key=key, value=values, operator=FilterOperator.IN)
            for key, values in self._conditions()
        ]
        if self.roles is not None:
            # model_construct: LlamaIndex's MetadataFilter does not validate booleans, yet Chroma stores
            # and compares them natively, and the translation to a Chroma `where` passes the value through.
            access = [MetadataFilter.model_construct(key=key, value=True, operator=FilterOperator.EQ)
                      for key in self._access_keys()]
            filters.append(access[0] if len(access) == 1
                           else MetadataFilters(filters=access, condition=FilterCondition.OR))
        return MetadataFilters(filters=filters, condition=FilterCondition.AND) if filters else None

    def matches(self, metadata: dict[str, Any]) -> bool:
        """The same filter for the keyword index."""
        if self.roles is not None and not any(metadata.get(key) is True for key in self._access_keys()):
            return False
        return all(str(metadata.get(key)) in values for key, values in self._conditions())

    def allows(self, item: Clause | DocumentSummary) -> bool:
        """Whether a reader under this filter may see a clause or document (lookups by id, listings)."""
        return self.roles is None or not item.access or bool(set(item.access) & set(self.roles))


def search(
    query: Query | str,
    *,
    index: ClauseIndex,
    settings: Settings,
    k: int | None = None,
    filters: ClauseFilter | None = None,
) -> list[Hit]:
    """The top-k clauses for `query`, current versions ranked ahead of superseded ones unless the
    question asks for an earlier version."""
    if isinstance(query, str):
        if not query.strip():
            raise XiaoshenError("Empty query", "type a question or keywords")
        query = index.query(query)
    if not query.text:
        raise XiaoshenError("Empty query", "type a question or keywords")
    conf = settings.retrieval
    k = k or conf.top_k
    filters = filters or ClauseFilter()
    dense_weight = conf.dense_weight
    if conf.dense_weight_zh is not None and query.language == "zh":
        dense_weight = conf.dense_weight_zh
    dense = index.dense_search(query, conf.candidates, filters.to_chroma_where())
    sparse = index.keyword_search(query, conf.candidates, filters.matches)

    fused: dict[str, dict[str, Any]] = {}

    def entry(clause: Clause) -> dict[str, Any]:
        return fused.setdefault(clause.clause_id, {"clause": clause, "score": 0.0})

    for rank, (clause, cosine) in enumerate(dense, start=1):
        e = entry(clause)
        e["score"] += dense_weight / (conf.rrf_k + rank)
        e["dense_rank"], e["dense_similarity"] = rank, cosine
    for rank, (clause, score) in enumerate(sparse, start=1):
        e = entry(clause)
        e["score"] += conf.sparse_weight / (conf.rrf_k + rank)
        e["sparse_rank"], e["sparse_score"] = rank, score
    # A clause only BM25 found (a long list clause whose one matching item the embedding of the whole
    # misses) would get no dense share at all and sink below clauses both found weakly. Its real cosine
    # places it in the dense ranking instead (the question about 年营业收入上限 found 第十条 first by
    # BM25, and lost it below rank 50 without this).
    dense_cosines = [cosine for _, cosine in dense]
    missing = [cid for cid, e in fused.items() if "dense_rank" not in e]
    for cid, cosine in index.dense_similarities(query, missing).items():
        e = fused[cid]
        rank = 1 + sum(c > cosine for c in dense_cosines)
        e["score"] += dense_weight / (conf.rrf_k + rank)
        e["dense_similarity"] = cosine
    asked = _versions_asked_for(query, [e["clause"] for e in fused.values()])
    asked_docs = {doc_id for doc_id, _ in asked}
    for e in fused.values():
        clause = e["clause"]
        if clause.doc_id in asked_docs:
            if (clause.doc_id, clause.version) not in asked:
                e["score"] *= conf.superseded_penalty
        elif clause.status == "superseded":
            e["score"] *= conf.superseded_penalty

    ranked = sorted(fused.values(), key=lambda e: (-e["score"], e["clause"].clause_id))[:k]
    return [Hit(rank=rank, **e) for rank, e in enumerate(ranked, start=1)]
