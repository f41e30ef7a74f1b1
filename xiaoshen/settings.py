"""One settings object: defaults, then an optional TOML file, then `XIAOSHEN_*` environment variables."""

from __future__ import annotations

import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INDEX_DIR = PROJECT_ROOT / "var" / "index"
EmbeddingModelName = Literal["minilm", "use-multilingual", "minilm+use"]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbeddingSettings(_Group):
    model: EmbeddingModelName = Field(
        default="minilm+use",
        description="Packaged model: 'minilm' (English), 'use-multilingual', or both fused ('minilm+use').",
    )
    batch_size: int = Field(default=32, ge=1)
    threads: int = Field(default=0, ge=0, description="CPU threads each model may use (0: one per core). Set 1 "
                         "when several Xiaoshen processes share the cores, e.g. `make test`'s workers.")
    use_weight_en: float = Field(
        default=0.3, ge=0, le=1,
        description="In 'minilm+use', how much an English query's USE half counts (0 = MiniLM alone); "
        "tuned on the dev questions and ObliQA (bench/RESULTS.md).",
    )


class IngestSettings(_Group):
    max_clause_chars: int = Field(default=1600, ge=200, description="Longer clauses are split with overlap.")
    overlap_chars: int = Field(default=200, ge=0)
    min_clause_chars: int = Field(default=60, ge=0, description="Shorter fragments merge into their clause.")
    embed_units: bool = Field(default=True, description="Embed each clause's quotable sentences at ingest, so a "
                              "question embeds only itself (about 2/3 of ingest's embedding work). Off: search "
                              "is the same, and an answer embeds the sentences of its candidates on first use.")
    # Bounds on one file (ingest/limits.py): a file over one is refused by name and the ingest goes on.
    max_decompressed_mb: float = Field(default=50, gt=0, description="Largest file, or for a DOCX the total "
                                       "of its unzipped parts (read from the zip directory before unzipping), in MB.")
    max_compression_ratio: float = Field(default=100, gt=1, description="DOCX: refuse a part over 1 MB that "
                                         "unzips to more than this many times its packed size (a zip bomb).")
    max_chars: int = Field(default=5_000_000, ge=1, description="Most characters of text one file may hold.")
    max_clauses: int = Field(default=5000, ge=1, description="Most clauses one document may split into.")
    max_line_chars: int = Field(default=5000, ge=100, description="Longer lines are cut at a sentence end or a "
                                "space before clause splitting (nothing is dropped).")
    parse_budget_s: float = Field(default=120, ge=0, description="Seconds reading and splitting one file may take "
                                  "(0: no limit); embedding is not counted.")
    lock_timeout_s: float = Field(default=3600, ge=0, description="Seconds a writer (an ingest, an upload, a "
                                  "removal) waits for another writer of the same index before failing "
                                  "(`xiaoshen ingest --lock-timeout`).")


class OcrSettings(_Group):
    """Scanned pages and image files: OCRmyPDF over Tesseract (ingest/ocr.py)."""

    enabled: bool = Field(default=True, description="OCR pages without a usable text layer; off: such pages "
                          "are skipped with a warning naming the file and pages (`xiaoshen ingest --no-ocr`).")
    languages: list[Literal["eng", "chi_sim"]] = Field(
        default=["eng", "chi_sim"], min_length=1,
        description="Tesseract languages to choose from; a document's declared language narrows them, "
        "otherwise a first pass on its first scanned page decides.")
    time_limit_s: float = Field(default=900.0, gt=0, description="OCR of one file stops after this long.")
    jobs: int | None = Field(default=None, ge=1, description="Pages OCR'd at once (None: every CPU core).")
    cache_dir: Path | None = Field(default=None, description="OCR results by file hash; defaults beside the "
                                   "index.")
    low_confidence: float = Field(default=75.0, ge=0, le=100, description="Pages whose mean Tesseract word "
                                  "confidence is below this are listed for checking.")
    min_chars_per_page: int = Field(default=80, ge=0, description="A page (A4-sized) with fewer characters "
                                    "than this in its text layer is treated as scanned.")
    image_page_share: float = Field(default=0.6, gt=0, le=1, description="An image covering this share of a "
                                    "page, with little text, marks a scan whose text layer is partial.")


class RetrievalSettings(_Group):
    top_k: int = Field(default=8, ge=1)
    candidates: int = Field(default=50, ge=1, description="How many each retriever returns before fusion.")
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(default=1.0, ge=0)
    # The embedding lifts wrong clauses for Chinese questions (jieba BM25 ranks them better on its own):
    # on the dev Chinese questions fused MRR rose from 0.718 at 1.0 to 0.765 at 0.25 with the reranked
    # order unchanged, and fell after the rerank at 0 (the rerank's sentence cosines still use it).
    dense_weight_zh: float | None = Field(default=0.25, ge=0, description="Dense weight for Chinese questions "
                                          "(None: dense_weight).")
    sparse_weight: float = Field(default=1.5, ge=0, description="Tuned on the dev questions and ObliQA.")
    superseded_penalty: float = Field(
        default=0.5, gt=0, le=1, description="Multiplier on superseded versions so the current one ranks first."
    )


class AnswerSettings(_Group):
    backend: str = Field(default="extractive", description="extractive (no LLM) or openai.")
    retrieve_k: int = Field(default=10, ge=1, description="Hits retrieved and reported with an answer.")
    context_k: int = Field(default=6, ge=1, description="Hits an answer may cite.")
    max_sentences: int = Field(default=3, ge=1)
    same_clause_ratio: float = Field(default=0.8, ge=0, le=1, description="Extractive: keep sentences of a "
                                     "cited clause scoring at least this share of the best sentence.")
    other_clause_ratio: float = Field(default=0.97, ge=0, le=1, description="Extractive: cite a further clause "
                                      "only for a sentence scoring at least this share of the best.")
    # Complete answers (xiaoshen/answer/extractive.py _complete): a further clause answering a part of the
    # question the first leaves open; chosen on dev + ObliQA (bench/calibrate.py), never on the holdout.
    complete_clauses: int = Field(default=1, ge=0, description="Further clauses an answer may add for "
                                  "parts of the question the first leaves open.")
    complete_k: int = Field(default=5, ge=1, description="Only the top reranked hits may complete an answer.")
    complete_gain: float = Field(default=0.2, ge=0, le=1, description="Least share of the question's words "
                                 "(IDF-weighted) a completing sentence must add.")
    complete_ratio: float = Field(default=0.6, ge=0, le=1, description="Least score, as a share of the best "
                                  "sentence's, of a completing sentence.")
    # Rerank scores spread by 1 within a question (bench/calibrate.py scales the fitted weights so), so
    # this margin means the same after a refit: 0.45 is the 1.0 chosen on dev under the first weights,
    # whose scores spread by 2.2 there.
    complete_margin: float = Field(default=0.45, ge=0, description="A clause whose rerank score is within this "
                                   "of the first's may complete the answer.")
    # Sentence support, calibrated on gold snippets vs. their own and other clauses (bench/calibrate.py).
    support_lexical: float = Field(default=0.85, ge=0, le=1)
    support_semantic: float = Field(default=0.75, ge=-1, le=1)
    # Second-stage rerank of the first rerank_k hits (xiaoshen/answer/rerank.py), fitted listwise on the
    # dev questions and ObliQA together by bench/calibrate.py. Weights on RERANK_FEATURES.
    rerank_k: int = Field(default=20, ge=1, description="Hits re-ordered before the answer cites the top ones.")
    rerank_weights: list[float] = Field(default=[2.715, 1.526, 3.644, -0.045, -0.117, 1.436, 0.402, 0.954,
                                                 -0.187, -0.028, 4.311, 1.166, -0.198], min_length=13, max_length=13)
    # Evidence bar: logistic model over the features of xiaoshen/answer/evidence.py, fitted on the dev
    # questions by bench/calibrate.py (which also reports leave-one-out figures).
    evidence_weights: list[float] = Field(default=[-0.73, -1.8, 2.36, 0.21, 1.61, 0.64, -1.28, 1.39], min_length=8, max_length=8)
    evidence_bias: float = 1.82
    evidence_mean: list[float] = Field(default=[0.483, 0.649, 0.557, 0.174, 0.492, 0.509, 0.057, 0.882], min_length=8, max_length=8)
    evidence_std: list[float] = Field(default=[0.104, 0.25, 0.248, 0.239, 0.1, 0.241, 0.233, 0.295], min_length=8, max_length=8)
    evidence_threshold: float = Field(default=0.2, ge=0, le=1, description="Abstain below this probability.")
    # Answer confidence (xiaoshen/answer/evidence.py answer_confidence): logistic over the evidence bar's
    # logit and the top clause's rerank margin, fitted on dev + ObliQA by bench/calibrate.py.
    confidence_weights: list[float] = Field(default=[0.266, 2.571], min_length=2, max_length=2)
    confidence_bias: float = -1.612


class LLMSettings(_Group):
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    model: str = "local-model"
    api_key: str = Field(default="not-needed", repr=False)
    temperature: float = 0.0
    max_tokens: int = 400
    timeout_s: float = 120.0
    max_excerpts: int = Field(default=6, ge=1, description="Clauses sent to the model (small models do "
                              "better with fewer).")
    allow_decline: bool = Field(default=True, description="Let the model answer NOT_ADDRESSED; very small "
                                "models over-use it, so they may be run without.")


class ReviewSettings(_Group):
    # Reference rates the bank publishes for limit checks; dated, so a note can show which it used.
    fx_to_usd: dict[str, Decimal] = Field(
        default_factory=lambda: {"CNY": Decimal("0.14"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27"),
                                 "HKD": Decimal("0.128")},
        description="Units of USD per unit of each currency, for exposure and threshold checks.",
    )
    fx_date: str = Field(default="2025-06-30", description="Date of the reference rates.")


class AppSettings(_Group):
    host: str = "127.0.0.1"
    port: int = 8501


class AccessSettings(_Group):
    """Who may sign in to the app, what they may read, and where their actions are recorded."""

    users_file: Path = Field(default=PROJECT_ROOT / "config" / "users.toml",
                             description="Users, bcrypt password hashes and roles (TOML).")
    audit_log: Path = Field(default=PROJECT_ROOT / "var" / "audit.jsonl",
                            description="Hash-chained audit log (JSON lines).")
    oidc: bool = Field(default=False, description="Offer Streamlit's OIDC sign-in (st.login); needs [auth] in "
                       ".streamlit/secrets.toml and Authlib. Roles still come from users_file, matched by e-mail.")
    sessions_db: Path | None = Field(default=None, description="Web sessions, sign-in failures and saved work "
                                     "(SQLite); default: sessions.sqlite beside the audit log.")
    session_idle_hours: float = Field(default=8.0, gt=0, description="A web session unused this long ends.")
    session_max_hours: float = Field(default=24.0, gt=0, description="A web session ends this long after sign-in.")
    sign_in_failures_per_user: int = Field(default=5, ge=1, description="Failed sign-ins for one username "
                                           "within the window before it is refused.")
    sign_in_failures_per_client: int = Field(default=20, ge=1, description="Failed sign-ins from one client "
                                             "(IP address) within the window before it is refused.")
    sign_in_window_minutes: float = Field(default=15.0, gt=0)
    cookie_secure: bool = Field(default=False, description="Always mark the session cookie Secure (it is "
                                "marked so anyway when the request came over https).")

    def sessions_path(self) -> Path:
        return self.sessions_db or self.audit_log.with_name("sessions.sqlite")


def _user_dir(variable: str, fallback: str) -> Path:
    """An XDG base directory ($XDG_CONFIG_HOME, $XDG_STATE_HOME), or its usual place under the home folder."""
    return Path(os.environ.get(variable) or Path.home() / fallback)


class AuditSettings(_Group):
    """How the audit log (access.audit_log) is keyed and anchored; both paths live outside its folder."""

    key_file: Path = Field(default_factory=lambda: _user_dir("XDG_CONFIG_HOME", ".config") / "xiaoshen" / "audit.key",
                           description="HMAC key of the chain (created 0600 on first use); keep it away from "
                           "whoever can write the log, and back it up: without it the log cannot be verified.")
    checkpoint_dir: Path = Field(
        default_factory=lambda: _user_dir("XDG_STATE_HOME", ".local/state") / "xiaoshen" / "audit-checkpoints",
        description="Signed checkpoints (entry count + chain head); best on another disk or host the log's "
        "writers cannot rewrite.")
    checkpoint_every: int = Field(default=100, ge=1, description="Write a checkpoint every N entries.")


class Settings(BaseSettings):
    """Everything configurable in Xiaoshen. Env: XIAOSHEN_INDEX_DIR, XIAOSHEN_RETRIEVAL__TOP_K, …"""

    model_config = SettingsConfigDict(
        env_prefix="XIAOSHEN_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    index_dir: Path = Field(default=DEFAULT_INDEX_DIR, description="Embedded Chroma store directory.")
    chroma_url: str | None = Field(default=None, description="Use a Chroma server, e.g. http://127.0.0.1:8000.")
    collection: str = Field(default="xiaoshen_clauses")
    cache_dir: Path | None = Field(default=None, description="Keyword-index cache; defaults beside the index.")
    sentence_store: Path | None = Field(
        default=None, description="Tokens and sentence vectors by text (xiaoshen/sentence_store.py); defaults to "
        "the keyword cache folder. Content-addressed, so several indexes of overlapping policies may share one.")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    ocr: OcrSettings = Field(default_factory=OcrSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    app: AppSettings = Field(default_factory=AppSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("XIAOSHEN_CONFIG")
        if toml_path:
            sources.append(_toml_source(settings_cls, Path(toml_path)))
        return tuple(sources)

    @property
    def keyword_cache_dir(self) -> Path:
        return self.cache_dir or (self.index_dir.parent / "keyword-cache")

    @property
    def sentence_store_path(self) -> Path:
        return self.sentence_store or (self.keyword_cache_dir / f"{self.collection}-sentences.sqlite")

    @property
    def ocr_cache_dir(self) -> Path:
        return self.ocr.cache_dir or (self.index_dir.parent / "ocr-cache")

    def fingerprint(self) -> str:
        """Short hash of the settings, stamped on answers and notes for the audit trail."""
        payload = json.dumps(self.model_dump(mode="json", exclude={"llm": {"api_key"}}), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


# XIAOSHEN_* variables that are not settings but are read by the project's CLI, scripts or tests.
OTHER_VARIABLES = frozenset({"XIAOSHEN_CONFIG", "XIAOSHEN_REQUIRE_LLM", "XIAOSHEN_REQUIRE_BROWSER",
                             "XIAOSHEN_LLM_CACHE", "XIAOSHEN_NEW_PASSWORD", "XIAOSHEN_OCR_PAGES"})


def _toml_source(settings_cls: type[BaseSettings], path: Path) -> TomlConfigSettingsSource:
    """The TOML file named by XIAOSHEN_CONFIG; a missing or malformed file is an error, not ignored."""
    import tomllib

    from xiaoshen.errors import SettingsError

    if not path.is_file():
        raise SettingsError(f"XIAOSHEN_CONFIG names {path}, which is not a file",
                            "fix the path or unset XIAOSHEN_CONFIG")
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"The settings file {path} is not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"Cannot read the settings file {path}: {exc}") from exc


def unknown_variables(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """One message per XIAOSHEN_* variable that names no setting, with the closest valid name."""
    import difflib

    prefix = "XIAOSHEN_"
    known = {prefix + name.upper() for name in Settings.model_fields}
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(prefix) or upper in OTHER_VARIABLES:
            continue
        top = upper.split("__", 1)[0]
        if top in known:
            continue  # nested keys (XIAOSHEN_RETRIEVAL__TOPK) are checked by the groups themselves
        close = difflib.get_close_matches(top, sorted(known | OTHER_VARIABLES), n=1, cutoff=0.6)
        problems.append(f"unknown variable {name}" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


def load_settings(**overrides: object) -> Settings:
    """Build settings from env and the optional TOML file named by XIAOSHEN_CONFIG; overrides win. An
    XIAOSHEN_* variable that names no setting is an error, as an unknown TOML key is."""
    from xiaoshen.errors import SettingsError

    unknown = unknown_variables(os.environ)
    if unknown:
        raise SettingsError("Invalid settings: " + "; ".join(unknown),
                            "every XIAOSHEN_* variable must name a setting; see xiaoshen/settings.py")
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"Invalid settings: {problems}",
                            "check XIAOSHEN_* variables and the file named by XIAOSHEN_CONFIG") from exc
