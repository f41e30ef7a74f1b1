"""Record the chat exchanges the LLM-backend tests replay, from a real OpenAI-compatible server.

    python scripts/start_llm_server.py --port 8089 &          # llama.cpp server + Qwen2.5-0.5B (see notes)
    python scripts/record_llm_exchanges.py --upstream http://127.0.0.1:8089/v1

It ingests the sample policies into a temporary index (the same content the tests build), asks each
question in tests/data/llm_questions.json through the `openai` backend via a recording proxy, and
writes tests/data/llm_exchanges/*.json. Re-run it whenever the sample policies or the prompt change.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import xiaoshen  # noqa: E402,F401
from ingest.pipeline import ingest  # noqa: E402
from tests.llm_replay import RECORDINGS, ExchangeServer  # noqa: E402
from xiaoshen.answer import answer  # noqa: E402
from xiaoshen.index import ClauseIndex  # noqa: E402
from xiaoshen.settings import load_settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="Base URL of the real server, e.g. http://127.0.0.1:8089/v1")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    args = parser.parse_args()
    questions = json.loads((ROOT / "tests" / "data" / "llm_questions.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp, ExchangeServer(RECORDINGS, upstream=args.upstream) as proxy:
        settings = load_settings(index_dir=Path(tmp) / "index", cache_dir=Path(tmp) / "cache")
        settings.llm.base_url, settings.llm.model = proxy.base_url, args.model
        # The 0.5B test model answers NOT_ADDRESSED to nearly everything when allowed to, which
        # would leave the tests nothing to verify; see tests/test_llm_backend.py.
        settings.llm.max_excerpts, settings.llm.allow_decline = 4, False
        index = ClauseIndex(settings)
        ingest([ROOT / "data" / "sample_policies"], index=index)
        for question in questions:
            result = answer(question, index=index, settings=settings, backend="openai")
            print(f"{question}\n  -> {result.answer}\n  groundedness {result.groundedness:.2f}, "
                  f"removed markers {result.removed_markers}, abstained {result.abstained}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
