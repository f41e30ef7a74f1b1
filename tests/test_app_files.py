"""The web app's file handling: uploaded applications' errors name the uploaded file and every problem,
a file of the wrong type is refused in words, and a Markdown source opens as a rendered, inert page."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "app"))
import sources
import uploads

from xiaoshen.review.application import ApplicationError


@dataclass
class Upload:
    """What Streamlit's file_uploader hands over: the browser's file name and the bytes."""

    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


def test_a_malformed_upload_names_the_users_file_not_a_server_temp_path() -> None:
    with pytest.raises(ApplicationError) as caught:
        uploads.application_from_upload(Upload("hello.json", b"{not json"))
    message = str(caught.value)
    assert message.startswith("hello.json: (file): malformed JSON"), message
    assert "/tmp" not in message and "tmp" not in message.split(":")[0]


def test_every_missing_field_is_named() -> None:
    with pytest.raises(ApplicationError) as caught:
        uploads.application_from_upload(Upload("partial.json", json.dumps({"id": "APP-9"}).encode()))
    lines = uploads.error_lines(caught.value)
    assert lines[0].startswith("partial.json: ") and len(lines) > 3, lines
    named = "\n".join(lines)
    assert "borrower" in named and "request" in named


def test_a_text_file_is_refused_in_words() -> None:
    with pytest.raises(ApplicationError, match=r"notes\.txt: \(file\): a \.txt file is not an application file; "
                                               r"use \.json, \.yaml, \.yml"):
        uploads.application_from_upload(Upload("notes.txt", b"hello"))
    assert uploads.wrong_type("policy.xlsx", [".pdf", ".md"], "a policy file").startswith(
        "policy.xlsx: a .xlsx file is not a policy file; use .md, .pdf")
    assert uploads.wrong_type("Policy.PDF", [".pdf"], "a policy file") is None


def test_a_markdown_source_opens_rendered_with_its_front_matter_as_a_table() -> None:
    text = ("---\ndoc_id: NCB-TST-001\ntitle: Test Policy\nversion: 2.0\naccess: [risk, admin]\n---\n\n"
            "# Test Policy\n\n## 1 Limits\n\n1.1 Overdrafts are **limited** <script>alert(1)</script> "
            "[x](javascript:alert(1)).\n")
    page = sources.render_markdown_source(text, "test.md")
    assert "<th>Document id</th><td>NCB-TST-001</td>" in page and "<th>Readable by</th><td>risk, admin</td>" in page
    assert "<h1>Test Policy</h1>" in page and "<strong>limited</strong>" in page
    assert "---" not in page and "doc_id:" not in page, "the front matter is not shown raw"
    assert "<script>" not in page and 'href="javascript' not in page
    assert "default-src 'none'" in page, "no script may run on the page, whatever the policy holds"


def test_a_markdown_file_without_front_matter_renders_as_is() -> None:
    meta, body = sources.split_front_matter("# Title\n\ntext\n")
    assert meta == {} and body == "# Title\n\ntext\n"
