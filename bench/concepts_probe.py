"""How the off-topic rule (xiaoshen/answer/concepts.py) does on questions nobody fitted it on: the
off-topic and answerable questions of data/concepts_dev_questions.jsonl over ../shared/corpora (not the
holdout), and the answerable dev and ObliQA questions, which it must leave alone. Also prints, per
question, the share of its content words' IDF weight that no clause mentions: the candidate rule that
issue 12 names as a lever.

    python bench/concepts_probe.py SAMPLE_INDEX CORPORA_INDEX
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import DEV_FILE, OBLIQA  # noqa: E402
from xiaoshen.answer import concepts  # noqa: E402
from xiaoshen.index import ClauseIndex, KeywordIndex  # noqa: E402
from xiaoshen.settings import load_settings  # noqa: E402

PROBE_FILE = ROOT / "data" / "concepts_dev_questions.jsonl"


def unknown_share(question: str, keyword: KeywordIndex) -> tuple[float, list[str]]:
    """The share of the question's content-word IDF weight carried by words no clause mentions."""
    words = [w for w in concepts._words(question) if w.tokens and not w.surface[:1].isdigit()]
    content = [w for w in words if not any(t in concepts._modifiers(w.chinese) for t in w.tokens)]
    weight = {w.surface: max(keyword.idf(t) for t in w.tokens) for w in content}
    unknown = [w.surface for w in content if not concepts._mentioned(w, keyword)]
    total = sum(weight.values()) or 1.0
    return sum(weight[w] for w in unknown) / total, unknown


def main() -> None:
    samples, corpora = (ClauseIndex(load_settings(index_dir=Path(p), cache_dir=Path(p).parent / "keyword-cache"))
                        .keyword_index() for p in sys.argv[1:3])
    probe = [json.loads(line) for line in PROBE_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    dev = [json.loads(line) for line in DEV_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    obliqa = json.loads(OBLIQA.read_text(encoding="utf-8"))
    sets = [("corpora probe, off-topic", [r["question"] for r in probe if r["kind"] == "off_topic"], corpora),
            ("corpora probe, answerable", [r["question"] for r in probe if r["kind"] == "answerable"], corpora),
            ("dev, answerable", [r["question"] for r in dev if r.get("answerable", True)], samples),
            ("ObliQA", [q.get("Question") or q["question"] for q in obliqa], corpora)]
    print("| set | questions | declined by the rule | unknown IDF share: min / median / max |")
    print("|---|---|---|---|")
    for name, questions, keyword in sets:
        shares = sorted(unknown_share(q, keyword)[0] for q in questions)
        declined = sum(bool(concepts.missing_concepts(q, keyword)) for q in questions)
        print(f"| {name} | {len(questions)} | {declined} | {shares[0]:.2f} / {shares[len(shares) // 2]:.2f} / "
              f"{shares[-1]:.2f} |")


if __name__ == "__main__":
    main()
