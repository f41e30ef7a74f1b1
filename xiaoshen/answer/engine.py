"""One entry point for CLI, app and batch: retrieve → evidence bar → backend draft → verify → Answer."""

from __future__ import annotations

import re
import time
from typing import Any

from xiaoshen.answer.backends import BACKENDS, TokenSink
from xiaoshen.answer.concepts import missing_concepts
from xiaoshen.answer.conflicts import find_conflicts
from xiaoshen.answer.evidence import answer_confidence, answer_probability, evidence_features, focus_phrase
from xiaoshen.answer.rerank import rerank
from xiaoshen.answer.sentences import split_sentences
from xiaoshen.answer.verify import verify
from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.injection import classify, finding_of
from xiaoshen.retrieve import ClauseFilter, search
from xiaoshen.settings import Settings
from xiaoshen.types import Answer, AnswerSentence, Citation, Hit, Language

NOT_ADDRESSED = {
    "en": "The policies in the index do not address this question.",
    "zh": "现有制度未涉及该问题。",
}
NOT_MENTIONED = {
    "en": "The policies in the index do not mention {concepts}.",
    "zh": "现有制度未提及{concepts}。",
}
NOT_STATED = {
    "en": " The nearest clauses cover {topic} but do not state {asked}.",
    "zh": "最相近的条款涉及{topic}，但未规定{asked}。",
}


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
    if not question.strip():
        raise XiaoshenError("Empty query", "type a question or keywords")
    # Tokenised, weighed and embedded once for every stage below.
    query = index.query(question)
    language: Language = query.language
    conf = settings.answer
    found = search(query, index=index, settings=settings, k=max(conf.retrieve_k, conf.rerank_k), filters=filters)
    # The evidence bar always judges the reranked hits; the context is in the order the backend asks
    # for, and `retrieval` reports that order, so marker [n] is always retrieval rank n.
    ranked = rerank(query, found, index, conf)
    drafter = BACKENDS[name](settings, index)
    hits = (ranked.hits if getattr(drafter, "reranked_context", True) else found)[: conf.retrieve_k]
    context = hits[: settings.answer.context_k]
    base = {"question": question, "language": language, "backend": name, "retrieval": hits,
            "settings_hash": settings.fingerprint(), "index_build": index.build_id}
    # Text in a policy that tries to steer the assistant is never obeyed, and flagged (xiaoshen/injection.py).
    warnings = [f"[{n}] {h.clause.label} contains text that reads like an instruction to the assistant "
                f"({finding.reason()}); it is policy text to check, never followed."
                for n, h in enumerate(context, start=1) if (finding := finding_of(h.clause)) is not None]

    keyword = index.keyword_index()
    probability = answer_probability(evidence_features(query, ranked, keyword), settings.answer)
    base["confidence"] = round(answer_confidence(probability, ranked, settings.answer), 3)
    missing = missing_concepts(question, keyword)
    if missing:
        return _abstain(base, context, warnings, started, missing=missing)
    if not context or probability < settings.answer.evidence_threshold:
        return _abstain(base, context, warnings, started)

    draft = drafter.draft(query, context, on_token)
    if draft.declined or not draft.text.strip():
        return _abstain(base, context, warnings, started)
    checked = verify(draft.text, context, index, settings.answer)
    if not checked.sentences:
        return _abstain(base, context, [*warnings, "The backend returned no usable sentence."], started)

    quotes = {**checked.quotes, **(draft.quotes or {})}
    conflicts = find_conflicts(query, context, keyword)
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


def _abstain(base: dict[str, Any], context: list[Hit], warnings: list[str], started: float,
             missing: list[str] | None = None) -> Answer:
    """Decline, saying why: a key concept no clause mentions, or nearest clauses that do not state it."""
    language: Language = base["language"]
    see_also = [Citation.for_clause(n, h.clause, _first_sentence(h)) for n, h in enumerate(context[:3], start=1)]
    if missing:
        quoted = ("、" if language == "zh" else ", ").join(f"“{w}”" for w in missing)
        text, decline = NOT_MENTIONED[language].format(concepts=quoted), "not_mentioned"
    else:
        text, decline = NOT_ADDRESSED[language], "not_stated"
        if context:
            asked = focus_phrase(base["question"]) or ("所问事项" if language == "zh" else "what was asked")
            text += NOT_STATED[language].format(topic=_topic(context[0], language), asked=asked)
    return Answer(**base, answer=text, abstained=True, decline=decline, missing_concepts=missing or [],
                  groundedness=1.0, see_also=see_also, warnings=warnings,
                  latency_ms=round((time.perf_counter() - started) * 1000, 1))


def _topic(hit: Hit, language: Language) -> str:
    """What the nearest clause is about, in its policy's words: its heading, else its document's title."""
    heading = re.split(r"\s*[>›/]\s*", hit.clause.heading)[-1] if hit.clause.heading else ""
    heading = re.sub(r"^[\d.()（）第一二三四五六七八九十百章节条\s]+", "", heading).strip() or hit.clause.title
    return f"{heading}（{hit.clause.label}）" if language == "zh" else f"{heading} ({hit.clause.label})"


def _first_sentence(hit: Hit) -> str:
    sentences = split_sentences(hit.clause.text)
    # A see-also quote is the clause's first sentence that is not an instruction to the assistant.
    plain = [s for s in sentences if classify(s) is None]
    return (plain or sentences or [hit.clause.text[:200]])[0]


