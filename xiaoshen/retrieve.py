"""Hybrid retrieval: dense (Chroma) + BM25, fused by weighted reciprocal rank, with metadata filters.

Filters are applied inside both searches (the Chroma `where` and the keyword mask), never after
fusion, so a filtered-out clause cannot take a slot in the top k.
"""

from __future__ import annotations

from typing import Any, ClassVar

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from pydantic import BaseModel, Field

from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.settings import Settings
from xiaoshen.types import Clause, DocumentSummary, Hit


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

    def to_metadata_filters(self) -> MetadataFilters | None:
        """The same filter for the Chroma query, as LlamaIndex metadata filters."""
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
    query: str,
    *,
    index: ClauseIndex,
    settings: Settings,
    k: int | None = None,
    filters: ClauseFilter | None = None,
) -> list[Hit]:
    """The top-k clauses for `query`, current versions ranked ahead of superseded ones."""
    query = query.strip()
    if not query:
        raise XiaoshenError("Empty query", "type a question or keywords")
    conf = settings.retrieval
    k = k or conf.top_k
    filters = filters or ClauseFilter()
    dense = index.dense_search(query, conf.candidates, filters.to_metadata_filters())
    sparse = index.keyword_index().search(query, conf.candidates, filters.matches)

    fused: dict[str, dict[str, Any]] = {}

    def entry(clause: Clause) -> dict[str, Any]:
        return fused.setdefault(clause.clause_id, {"clause": clause, "score": 0.0})

    for rank, (clause, cosine) in enumerate(dense, start=1):
        e = entry(clause)
        e["score"] += conf.dense_weight / (conf.rrf_k + rank)
        e["dense_rank"], e["dense_similarity"] = rank, cosine
    for rank, (clause, score) in enumerate(sparse, start=1):
        e = entry(clause)
        e["score"] += conf.sparse_weight / (conf.rrf_k + rank)
        e["sparse_rank"], e["sparse_score"] = rank, score
    for e in fused.values():
        if e["clause"].status == "superseded":
            e["score"] *= conf.superseded_penalty

    ranked = sorted(fused.values(), key=lambda e: (-e["score"], e["clause"].clause_id))[:k]
    return [Hit(rank=rank, **e) for rank, e in enumerate(ranked, start=1)]
