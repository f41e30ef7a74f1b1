"""Would pseudo-relevance feedback close BM25's vocabulary gap (officers' words against the regulation's)?
The BM25 query is extended with the rarest words shared by the embedding's top hits, which do not depend
on the question's wording, and the gold clause's BM25 rank is compared with and without (recall at 1 / 5 /
20, per set and language). The holdout is scored, never fitted on (bench/ANSWERS.md, round 7).

    python bench/prf_probe.py SAMPLE_INDEX CORPORA_INDEX
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import DEV_FILE, HOLDOUT_FILE, OBLIQA, PRU, recall  # noqa: E402
from xiaoshen.evaluate import EvalQuestion, load_questions, matches_gold  # noqa: E402
from xiaoshen.index import ClauseIndex  # noqa: E402
from xiaoshen.settings import load_settings  # noqa: E402
from xiaoshen.text import keyword_tokens  # noqa: E402
from xiaoshen.types import Clause  # noqa: E402

# (dense hits read, words added, times the question's own words are repeated so they keep the lead)
VARIANTS = ((3, 5, 2), (5, 5, 2), (3, 10, 3))


def ranks(index: ClauseIndex, questions: list[EvalQuestion], doc_id: str | None, hits_read: int, added: int,
          repeat: int) -> list[tuple[str, int | None, int | None]]:
    """(language, gold BM25 rank without feedback, with) per answerable question."""
    keyword = index.keyword_index()
    keep = (lambda m: m.get("doc_id") == doc_id) if doc_id else (lambda m: True)
    where = {"doc_id": {"$eq": doc_id}} if doc_id else None
    out = []
    for q in questions:
        if not q.answerable:
            continue
        query = index.query(q.question)
        shared = Counter(t for clause, _ in index.dense_search(query, hits_read, where)
                         for t in set(keyword_tokens(clause.text, bigrams=False)))
        own = set(query.bm25_tokens)
        extra = [t for _, t in sorted(((n * keyword.idf(t), t) for t, n in shared.items()
                                       if t not in own and n >= 2 and keyword.idf(t) > 1.5), reverse=True)[:added]]
        expanded = dataclasses.replace(query, bm25_tokens=query.bm25_tokens * repeat + tuple(extra))

        out.append((query.language, _gold_rank(q, index.keyword_search(query, 100, keep)),
                    _gold_rank(q, index.keyword_search(expanded, 100, keep))))
    return out


def _gold_rank(question: EvalQuestion, hits: list[tuple[Clause, float]]) -> int | None:
    return next((r for r, (c, _) in enumerate(hits, 1) if any(matches_gold(c, g) for g in question.gold)), None)


def main() -> None:
    samples, corpora = (ClauseIndex(load_settings(index_dir=Path(p))) for p in sys.argv[1:3])
    sets = [("dev", samples, load_questions(DEV_FILE), None), ("ObliQA", corpora, load_questions(OBLIQA), PRU),
            ("holdout", corpora, load_questions(HOLDOUT_FILE), None)]
    print("| dense hits / words added / repeat | set | BM25 | BM25 + feedback |")
    print("|---|---|---|---|")
    for variant in VARIANTS:
        for name, index, questions, doc_id in sets:
            rows = ranks(index, questions, doc_id, *variant)
            for lang in ("en", "zh"):
                mine = [r for r in rows if r[0] == lang]
                if mine:
                    cells = [" / ".join(f"{recall([r[i] for r in mine], k):.2f}" for k in (1, 5, 20))
                             for i in (1, 2)]
                    print(f"| {' / '.join(map(str, variant))} | {name} {lang.upper()} ({len(mine)}) | "
                          f"{cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
