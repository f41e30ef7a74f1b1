"""A recording/replaying OpenAI-compatible endpoint on 127.0.0.1.

Record mode forwards each chat request to a real server (llama.cpp `llama-server` with
Qwen2.5-Coder-0.5B-Instruct, see scripts/record_llm_exchanges.py) and saves the exact response bytes,
streamed SSE included. Replay mode serves the saved bytes for a request with the same messages, line by
line, so the real OpenAI client, LlamaIndex's OpenAILike and the streaming path all run for real; only
the model is absent. A request with no recording fails loudly (HTTP 404) — re-record after the sample
policies or the prompt change.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDINGS = Path(__file__).parent / "data" / "llm_exchanges"


def request_key(body: dict[str, object]) -> str:
    """Stable key of a chat request: its messages and whether it streams."""
    payload = json.dumps({"messages": body.get("messages"), "stream": bool(body.get("stream"))},
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


class ExchangeServer:
    """Serve (or record) /v1/chat/completions on an ephemeral loopback port."""

    def __init__(self, folder: Path = RECORDINGS, upstream: str | None = None) -> None:
        self.folder = folder
        self.upstream = upstream.rstrip("/") if upstream else None
        self.requests: list[dict[str, object]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                body = json.loads(raw)
                server.requests.append(body)
                path = server.folder / f"{request_key(body)}.json"
                if server.upstream:
                    request = urllib.request.Request(f"{server.upstream}{self.path.removeprefix('/v1')}", data=raw,
                                                     headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(request, timeout=600) as response:
                        data = response.read()
                        content_type = response.headers.get("Content-Type", "application/json")
                    server.folder.mkdir(parents=True, exist_ok=True)
                    question = str(body["messages"][-1]["content"]).rsplit("Question:", 1)[-1].strip()  # type: ignore[index]
                    path.write_text(json.dumps({"question": question, "model": body.get("model"),
                                                "content_type": content_type, "body": data.decode("utf-8")},
                                               ensure_ascii=False, indent=1), encoding="utf-8")
                elif path.exists():
                    saved = json.loads(path.read_text(encoding="utf-8"))
                    data, content_type = saved["body"].encode("utf-8"), saved["content_type"]
                else:
                    self.send_error(404, f"no recorded exchange {path.name}")
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for line in data.splitlines(keepends=True):  # streamed responses arrive event by event
                    self.wfile.write(line)
                    self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ExchangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
