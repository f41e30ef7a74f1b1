"""Would the embedding of a clause's best quotable unit rank better than the embedding of the whole clause
(which MiniLM cuts at 256 tokens)? Scores every clause exactly, per set, three ways: the whole clause's
cosine (today's dense half), the best unit's, and their sum; prints the gold clause's recall at 1 / 5 / 20.
The holdout is scored, never fitted on (bench/ANSWERS.md, round 7).

    python bench/dense_units_probe.py SAMPLE_INDEX CORPORA_INDEX
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import DEV_FILE, HOLDOUT_FILE, OBLIQA, PRU, recall  # noqa: E402
from xiaoshen.evaluate import EvalQuestion, load_questions, matches_gold  # noqa: E402
from xiaoshen.index import ClauseIndex, clause_units, cosines_to  # noqa: E402
from xiaoshen.settings import load_settings  # noqa: E402

SCORES = ("whole clause", "best unit", "whole + best unit")


def gold_ranks(index: ClauseIndex, questions: list[EvalQuestion], doc_id: str | None = None
               ) -> list[tuple[str, list[int | None]]]:
    """(language, gold rank under each of SCORES) per answerable question."""
    clauses = [c for c in index.clauses() if doc_id is None or c.doc_id == doc_id]
    keyword = index.keyword_index()
    stored = index.collection.get(include=["embeddings"])
    by_clause = {keyword.clause_of.get(r, r): e for r, e in zip(stored["ids"], stored["embeddings"], strict=True)}
    whole = np.asarray([by_clause[c.clause_id] for c in clauses], dtype=np.float32)
    owner, units = [], []
    for j, clause in enumerate(clauses):
        for unit in clause_units(clause.text) or [clause.text]:
            owner.append(j)
            units.append(unit)
    unit_vectors = index.text_vectors(units)
    out = []
    for q in questions:
        gold = np.array([any(matches_gold(c, g) for g in q.gold) for c in clauses])
        if not q.answerable or not gold.any():
            continue
        query = index.query(q.question)
        clause_cos = cosines_to(query.vector, whole)
        best = np.full(len(clauses), -1.0)
        np.maximum.at(best, np.asarray(owner), cosines_to(query.vector, unit_vectors))
        ranks: list[int | None] = []
        for scores in (clause_cos, best, clause_cos + best):
            hits = np.nonzero(gold[np.argsort(-scores, kind="stable")])[0]
            ranks.append(int(hits[0]) + 1 if len(hits) else None)
        out.append((query.language, ranks))
    return out


def main() -> None:
    samples, corpora = (ClauseIndex(load_settings(index_dir=Path(p))) for p in sys.argv[1:3])
    sets = [("dev", gold_ranks(samples, load_questions(DEV_FILE))),
            ("ObliQA", gold_ranks(corpora, load_questions(OBLIQA), PRU))]
    holdout = gold_ranks(corpora, load_questions(HOLDOUT_FILE))
    sets += [(f"holdout {lang.upper()}", [r for r in holdout if r[0] == lang]) for lang in ("en", "zh")]
    print("| set | " + " | ".join(SCORES) + " |")
    print("|---" * (len(SCORES) + 1) + "|")
    for name, rows in sets:
        cells = [" / ".join(f"{recall([r[1][i] for r in rows], k):.2f}" for k in (1, 5, 20))
                 for i in range(len(SCORES))]
        print(f"| {name} ({len(rows)}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
