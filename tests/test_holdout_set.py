"""The held-out question set (data/holdout_questions.jsonl) is well formed and its gold snippets are real."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOLDOUT = ROOT / "data" / "holdout_questions.jsonl"
CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"

LANGS = {"en", "zh"}
KINDS = {"answerable", "unanswerable", "off_topic"}
REQUIRED = {"id", "question", "lang", "answerable", "kind", "paraphrased", "gold"}
OPTIONAL = {"needs"}
GOLD_FIELDS = {"doc_id", "section", "snippet"}
SNIPPET_CHARS = range(20, 251)

MIN_ROWS = 80
MIN_UNANSWERABLE = 16
MIN_OFF_TOPIC = 8
MIN_NEEDS_ALL = 10


def _rows() -> list[dict[str, Any]]:
    lines = HOLDOUT.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _corpus_files() -> dict[str, Path]:
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora is not present")
    return {path.stem: path for path in sorted(CORPORA.glob("*/*.md"))}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return _rows()


def test_every_line_is_a_json_object() -> None:
    for number, line in enumerate(HOLDOUT.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"line {number} is blank"
        assert isinstance(json.loads(line), dict), f"line {number} is not a JSON object"


def test_ids_are_unique(rows: list[dict[str, Any]]) -> None:
    duplicates = [i for i, n in Counter(row["id"] for row in rows).items() if n > 1]
    assert not duplicates


def test_every_row_has_exactly_the_known_fields(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        fields = set(row)
        assert fields >= REQUIRED, (row.get("id"), REQUIRED - fields)
        assert fields <= REQUIRED | OPTIONAL, (row["id"], fields - REQUIRED - OPTIONAL)
        assert isinstance(row["question"], str) and row["question"].strip(), row["id"]
        assert row["lang"] in LANGS, row["id"]
        assert row["kind"] in KINDS, row["id"]
        assert isinstance(row["answerable"], bool) and isinstance(row["paraphrased"], bool), row["id"]
        assert isinstance(row["gold"], list), row["id"]


def test_answerable_agrees_with_kind(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        assert row["answerable"] == (row["kind"] == "answerable"), row["id"]


def test_only_answerable_rows_have_gold(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if row["answerable"]:
            assert row["gold"], row["id"]
        else:
            assert row["gold"] == [] and "needs" not in row, row["id"]


def test_gold_entries_are_well_formed(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        for gold in row["gold"]:
            assert set(gold) == GOLD_FIELDS, (row["id"], set(gold))
            assert all(isinstance(gold[field], str) and gold[field] for field in GOLD_FIELDS), row["id"]
            snippet = gold["snippet"]
            assert len(snippet) in SNIPPET_CHARS, (row["id"], len(snippet))
            assert "\n" not in snippet and "*" not in snippet, (row["id"], snippet)


def test_needs_all_rows_cite_at_least_two_distinct_snippets(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if "needs" in row:
            assert row["needs"] == "all", row["id"]
            assert len({_normalise(gold["snippet"]) for gold in row["gold"]}) >= 2, row["id"]


def test_counts(rows: list[dict[str, Any]]) -> None:
    kinds = Counter(row["kind"] for row in rows)
    langs = Counter(row["lang"] for row in rows)
    assert len(rows) >= MIN_ROWS
    assert langs["en"] == langs["zh"]
    assert kinds["unanswerable"] >= MIN_UNANSWERABLE
    assert kinds["off_topic"] >= MIN_OFF_TOPIC
    assert sum(row.get("needs") == "all" for row in rows) >= MIN_NEEDS_ALL


def test_every_gold_doc_id_names_a_corpus_file(rows: list[dict[str, Any]]) -> None:
    files = _corpus_files()
    missing = {gold["doc_id"] for row in rows for gold in row["gold"]} - set(files)
    assert not missing


def test_every_snippet_lies_within_one_line_of_its_document(rows: list[dict[str, Any]]) -> None:
    files = _corpus_files()
    lines = {
        doc_id: [_normalise(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for doc_id, path in files.items()
    }
    for row in rows:
        for gold in row["gold"]:
            snippet = _normalise(gold["snippet"])
            found = any(snippet in line for line in lines.get(gold["doc_id"], []))
            assert found, (row["id"], gold["snippet"])
