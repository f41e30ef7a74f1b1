"""One entry point for CLI, app and batch: retrieve → evidence bar → backend draft → verify → Answer."""

from __future__ import annotations

import re
import time

from xiaoshen.answer.backends import BACKENDS, TokenSink
from xiaoshen.answer.conflicts import find_conflicts
from xiaoshen.answer.evidence import answer_probability, evidence_features
from xiaoshen.answer.rerank import rerank
from xiaoshen.answer.sentences import split_sentences
from xiaoshen.answer.verify import verify
from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import ClauseFilter, search
from xiaoshen.settings import Settings
from xiaoshen.text import detect_language
from xiaoshen.types import Answer, AnswerSentence, Citation, Hit, Language

NOT_ADDRESSED = {
    "en": "The policies in the index do not address this question.",
    "zh": "现有制度未涉及该问题。",
}
# Text in a policy that tries to steer the assistant is quoted, never obeyed, and flagged.
_INSTRUCTION = re.compile(
    r"ignore (all |any )?(previous|prior|above) instructions|disregard (the |all )?(previous|above)|"
    r"you are now|system prompt|approve (this|the) (loan|application) (regardless|without)|"
    r"忽略(之前|以上|上述)(的)?(所有)?指令|无视(以上|上述)",
    re.I,
)


def answer(
    question: str,
    *,
    index: ClauseIndex,
    settings: Settings,
    backend: str | None = None,
    filters: ClauseFilter | None = None,
    on_token: TokenSink | None = None,
) -> Answer:
    """Answer a policy question from the index, every sentence cited and checked, or abstain."""
    started = time.perf_counter()
    name = backend or settings.answer.backend
    if name not in BACKENDS:
        raise XiaoshenError(f"Unknown answer backend {name!r}", "choose one of: " + ", ".join(sorted(BACKENDS)))
    language: Language = detect_language(question)
    conf = settings.answer
    found = search(question, index=index, settings=settings, k=max(conf.retrieve_k, conf.rerank_k), filters=filters)
    # The evidence bar always judges the reranked hits; the context is in the order the backend asks
    # for, and `retrieval` reports that order, so marker [n] is always retrieval rank n.
    ranked = rerank(question, found, index, conf)
    drafter = BACKENDS[name](settings, index)
    hits = (ranked.hits if getattr(drafter, "reranked_context", True) else found)[: conf.retrieve_k]
    context = hits[: settings.answer.context_k]
    base = {"question": question, "language": language, "backend": name, "retrieval": hits,
            "settings_hash": settings.fingerprint(), "index_build": index.build_id}
    warnings = [f"[{n}] {h.clause.label} contains text that reads like an instruction to the assistant; "
                "it is quoted as policy text and not followed." for n, h in enumerate(context, start=1)
                if _INSTRUCTION.search(h.clause.text)]

    probability = answer_probability(evidence_features(question, ranked, index.keyword_index()), settings.answer)
    if not context or probability < settings.answer.evidence_threshold:
        return _abstain(base, context, warnings, started)

    draft = drafter.draft(question, context, language, on_token)
    if draft.declined or not draft.text.strip():
        return _abstain(base, context, warnings, started)
    checked = verify(draft.text, context, index, settings.answer)
    if not checked.sentences:
        return _abstain(base, context, [*warnings, "The backend returned no usable sentence."], started)

    quotes = {**checked.quotes, **(draft.quotes or {})}
    conflicts = find_conflicts(question, context, index.keyword_index())
    notes = [AnswerSentence(text=c.note(context, language), citations=[n for n, _, _ in c.statements],
                            supported=True, reasoning=True) for c in conflicts]
    for conflict in conflicts:
        for n, _, sentence in conflict.statements:
            quotes.setdefault(n, sentence)
    sentences = checked.sentences + notes
    cited = sorted({n for s in sentences for n in s.citations})
    citations = [Citation.for_clause(n, context[n - 1].clause, quotes.get(n, _first_sentence(context[n - 1])))
                 for n in cited]
    text = " ".join([checked.text, *(s.text for s in notes)])
    warnings += [f"[{c.n}] {c.label} is a superseded version." for c in citations if c.status == "superseded"]
    if checked.removed_markers:
        warnings.append(f"{checked.removed_markers} citation marker(s) pointed to no retrieved clause and were removed.")
    unsupported = sum(not s.supported for s in sentences if not s.reasoning)
    if unsupported:
        warnings.append(f"{unsupported} sentence(s) are not supported by the clauses they cite.")
    policy = [s for s in sentences if not s.reasoning]
    return Answer(**base, answer=text, sentences=sentences, citations=citations,
                  groundedness=sum(s.supported for s in policy) / len(policy) if policy else 0.0,
                  removed_markers=checked.removed_markers, warnings=warnings,
                  latency_ms=round((time.perf_counter() - started) * 1000, 1))


def _abstain(base: dict[str, object], context: list[Hit], warnings: list[str], started: float) -> Answer:
    language = base["language"]
    see_also = [Citation.for_clause(n, h.clause, _first_sentence(h)) for n, h in enumerate(context[:3], start=1)]
    return Answer(**base, answer=NOT_ADDRESSED[language], abstained=True, groundedness=1.0,  # type: ignore[arg-type,index]
                  see_also=see_also, warnings=warnings,
                  latency_ms=round((time.perf_counter() - started) * 1000, 1))


def _first_sentence(hit: Hit) -> str:
    sentences = split_sentences(hit.clause.text)
    return sentences[0] if sentences else hit.clause.text[:200]


