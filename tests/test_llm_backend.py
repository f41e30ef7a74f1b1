"""The `openai` backend end to end over HTTP: LlamaIndex's OpenAILike client streaming from a local
OpenAI-compatible endpoint that replays exchanges recorded from a real llama.cpp server running
Qwen2.5-Coder-0.5B-Instruct (tests/llm_replay.py, scripts/record_llm_exchanges.py)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.llm_replay import RECORDINGS, ExchangeServer
from tests.llm_server import LLMUnavailable, real_llm_server, unavailable
from xiaoshen.answer import answer
from xiaoshen.answer.openai_backend import build_messages
from xiaoshen.errors import XiaoshenError
from xiaoshen.index import ClauseIndex
from xiaoshen.retrieve import search
from xiaoshen.settings import Settings

QUESTIONS = json.loads((ROOT / "tests" / "data" / "llm_questions.json").read_text(encoding="utf-8"))


def llm_settings(index: ClauseIndex, base_url: str) -> Settings:
    """As scripts/record_llm_exchanges.py: the 0.5B model gets 4 excerpts and no NOT_ADDRESSED escape."""
    settings = index.settings.model_copy(deep=True)
    settings.llm.base_url, settings.llm.model = base_url, "qwen2.5-coder-0.5b-instruct"
    settings.llm.max_excerpts, settings.llm.allow_decline = 4, False
    return settings


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ExchangeServer]:
    if not any(RECORDINGS.glob("*.json")):
        pytest.fail("no recorded LLM exchanges; run scripts/record_llm_exchanges.py against a real server")
    with ExchangeServer() as server:
        yield server


@pytest.mark.parametrize("question", QUESTIONS)
def test_streamed_llm_answers_are_parsed_and_verified(sample_index: ClauseIndex, endpoint: ExchangeServer,
                                                      question: str) -> None:
    tokens: list[str] = []
    result = answer(question, index=sample_index, settings=llm_settings(sample_index, endpoint.base_url),
                    backend="openai", on_token=tokens.append)
    assert result.backend == "openai"
    if result.abstained:
        return
    assert len(tokens) > 3, "the answer arrives as a stream of tokens"
    valid = range(1, sample_index.settings.answer.context_k + 1)
    for sentence in result.sentences:
        assert all(n in valid for n in sentence.citations)
        assert sentence.supported or sentence.issues, "an unsupported sentence always says why"
    assert result.groundedness == sum(s.supported for s in result.sentences if not s.reasoning) / len(
        [s for s in result.sentences if not s.reasoning])
    assert "[" not in "".join(tokens) or result.citations or result.removed_markers or not all(
        s.supported for s in result.sentences)


def test_recordings_exercise_bad_markers_or_unsupported_sentences(sample_index: ClauseIndex,
                                                                  endpoint: ExchangeServer) -> None:
    """A 0.5B model does slip; the recorded answers include at least one slip the checks must catch."""
    settings = llm_settings(sample_index, endpoint.base_url)
    results = [answer(q, index=sample_index, settings=settings, backend="openai") for q in QUESTIONS]
    slips = sum(r.removed_markers for r in results) + sum(not s.supported for r in results for s in r.sentences)
    assert slips > 0
    assert any(not r.abstained and r.citations for r in results)


def test_no_request_reaches_the_llm_when_the_evidence_bar_is_not_cleared(sample_index: ClauseIndex,
                                                                        endpoint: ExchangeServer) -> None:
    settings = llm_settings(sample_index, endpoint.base_url)
    settings.answer.evidence_threshold = 0.999
    before = len(endpoint.requests)
    result = answer("What is the maximum tenor for aircraft financing?", index=sample_index, settings=settings,
                    backend="openai")
    assert result.abstained and len(endpoint.requests) == before


def test_retrieved_text_goes_in_as_fenced_data_not_instructions(sample_index: ClauseIndex) -> None:
    context = search("maximum LTV", index=sample_index, settings=sample_index.settings, k=2)
    system, user = build_messages("What is the maximum LTV?", context, "en", 3)
    assert "not instructions" in system.content and "NOT_ADDRESSED" in system.content
    assert user.content.index("<excerpts>") < user.content.index(context[0].clause.text[:40])
    assert user.content.rindex("</excerpts>") < user.content.index("Question:")


def test_an_unreachable_endpoint_is_one_clear_error(sample_index: ClauseIndex) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = llm_settings(sample_index, f"http://127.0.0.1:{port}/v1")
    settings.llm.timeout_s = 5
    with pytest.raises(XiaoshenError, match=r"LLM endpoint .* failed"):
        answer("What haircut applies to inventory taken as collateral?", index=sample_index, settings=settings,
               backend="openai")


def test_the_openai_backend_needs_a_configured_endpoint(sample_index: ClauseIndex) -> None:
    with pytest.raises(XiaoshenError, match="XIAOSHEN_LLM__BASE_URL"):
        answer("What haircut applies to inventory taken as collateral?", index=sample_index,
               settings=sample_index.settings, backend="openai")


@pytest.fixture(scope="session")
def real_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's server with Qwen2.5-Coder-0.5B-Instruct, from PyPI packages (make installs them)."""
    try:
        with real_llm_server(tmp_path_factory.mktemp("llm")) as base_url:
            yield base_url
    except LLMUnavailable as exc:
        unavailable(str(exc))


def test_a_real_llm_server_streams_an_answer_that_is_then_verified(real_llm: str, sample_index: ClauseIndex) -> None:
    settings = llm_settings(sample_index, real_llm)
    settings.llm.max_excerpts, settings.llm.allow_decline, settings.llm.max_tokens = 3, False, 120
    tokens: list[str] = []
    result = answer("What is the maximum LTV for an owner-occupied commercial real estate loan?",
                    index=sample_index, settings=settings, backend="openai", on_token=tokens.append)
    assert len(tokens) > 3 and not result.abstained
    assert result.sentences and all(s.supported or s.issues for s in result.sentences)
    assert 0.0 <= result.groundedness <= 1.0
