"""bench/RESULTS.md keeps every section: a one-off benchmark replaces its own, and a full `make bench`
rewrites only the sections it measures."""

from __future__ import annotations

from pathlib import Path

from bench.common import replace_section, sections

RESULTS = """# Benchmarks

- Machine: two cores.

## 1. Ingest throughput

old table

## Readers while a writer works (issue 11 part 2)

old readers

## Reading the numbers: where Xiaoshen is ahead

notes
"""


def test_a_section_replaces_the_one_with_its_heading_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS, encoding="utf-8")
    replace_section(path, ["## Readers while a writer works (issue 11 part 2)", "", "new readers"])
    found = sections(path.read_text(encoding="utf-8"))
    assert found["## Readers while a writer works (issue 11 part 2)"] == [
        "## Readers while a writer works (issue 11 part 2)", "", "new readers", ""]
    assert found["## 1. Ingest throughput"] == ["## 1. Ingest throughput", "", "old table", ""]
    assert list(found)[-1].startswith("## Reading the numbers")


def test_a_new_section_goes_before_the_reading_notes(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS, encoding="utf-8")
    replace_section(path, ["## Something new", "", "figures"])
    text = path.read_text(encoding="utf-8")
    assert list(sections(text)) == ["## 1. Ingest throughput", "## Readers while a writer works (issue 11 part 2)",
                                    "## Something new", "## Reading the numbers: where Xiaoshen is ahead"]
    assert text.startswith("# Benchmarks\n\n- Machine: two cores.\n")
