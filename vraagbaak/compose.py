"""The composition root: the whole object graph built from one Settings object."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from chromadb.api import ClientAPI
from langchain_core.embeddings import Embeddings

from api.keys import Keys
from assistant.answer import Answerer, ExtractiveAnswerer, LLMAnswerer
from assistant.assistant import Assistant
from assistant.citations import CitationChecker
from assistant.embeddings import Endpoint, cached, embedder_dimension, make_embedder
from assistant.evidence import EvidenceReader
from assistant.followup import LLMRewriter, Rewriter, RuleRewriter
from assistant.llm import make_chat_model
from assistant.prompt import PromptBuilder, context_chars
from assistant.rerank import make_reranker
from assistant.retrieval import FusionWeights, HybridRetriever
from assistant.settings import Settings
from ingest.chunking import Chunker, ChunkingConfig
from ingest.pipeline import Ingestor, PrepareJob
from values.errors import ConfigError
from values.text import Tokenizer
from vectorstore.catalog import Catalog
from vectorstore.chroma import ChromaConfig, DenseStore, open_client
from vectorstore.index import Dense, IndexSettings, PassageIndex
from vectorstore.keyword import KeywordIndex
from vectorstore.keyword_leg import KeywordLeg
from vectorstore.partitions import PartitionedDenseStore
from vectorstore.sqlite_catalog import SqliteCatalog
from vraagbaak.doors import Doors


def make_answerer(settings: Settings, tokenizer: Tokenizer) -> Answerer:
    """The answer backend named by ``settings.llm``: 'extractive', 'openai', 'ollama' or 'gguf:<path>'."""
    if settings.llm == "extractive":
        return ExtractiveAnswerer()
    prompt = PromptBuilder(context_chars(settings.llm_context, settings.llm_max_tokens))
    return LLMAnswerer(make_chat_model(settings), prompt)  # ConfigError for an unknown name


def make_rewriter(answerer: Answerer, tokenizer: Tokenizer) -> Rewriter:
    """Follow-up rewriting: by the answerer's chat model when it has one, else by rule."""
    rules = RuleRewriter(tokenizer)
    if isinstance(answerer, LLMAnswerer):
        return LLMRewriter(answerer.model, rules)
    return rules


def refusal_overrides(settings: Settings) -> dict[str, float | None]:
    """The refusal thresholds that settings set explicitly (they beat any calibration)."""
    return {"threshold": settings.refuse_threshold, "foreign": settings.refuse_foreign,
            "lexical_only": settings.refuse_lexical_only}


def catalog_path(settings: Settings) -> Path:
    """The embedded catalog's file in the data dir: it exists once anything was indexed there."""
    return settings.data_dir / "catalog.sqlite3"


def make_catalog(settings: Settings) -> Catalog:
    """The catalog settings name: SQLite in the data dir, or the shared database at ``catalog_url``."""
    if settings.catalog_url is None:
        return SqliteCatalog(catalog_path(settings))
    try:
        from vectorstore.sql_catalog import SqlCatalog  # SQLAlchemy only where a shared catalog is used
    except ImportError as e:  # SQLAlchemy missing, or a 1.x that langchain-classic allows
        if (e.name or "").partition(".")[0] != "sqlalchemy":
            raise
        raise ConfigError("catalog_url needs SQLAlchemy 2 and psycopg: pip install 'vraagbaak[shared]'") from e
    return SqlCatalog(settings.catalog_url, settings.collection)


def make_keyword(settings: Settings, catalog: Catalog, tokenizer: Tokenizer) -> KeywordLeg:
    """The keyword engine ``keyword_engine`` names: bm25s in the data dir, or BM25 or full-text search in the catalog.

    ``auto`` is bm25s beside the embedded catalog and BM25 in the database beside a shared one:
    the same ranking, visible to every replica at its commit (benchmarks/README.md).
    """
    engine = settings.keyword_engine
    if engine == "auto":
        engine = "bm25s" if settings.catalog_url is None else "postgres-bm25"
    if settings.catalog_url is not None and engine != "postgres-bm25":
        _keep_postings(catalog, tokenizer)
    if engine == "bm25s":
        return KeywordIndex(settings.data_dir / "keyword", catalog, tokenizer)
    from vectorstore.sql_catalog import SqlCatalog  # make_catalog made sure it imports when catalog_url is set

    if not isinstance(catalog, SqlCatalog):
        raise ConfigError(f"keyword_engine {engine!r} searches inside the shared catalog: set catalog_url to a "
                          "PostgreSQL database, or use keyword_engine 'bm25s'")
    if engine == "postgres-bm25":
        from vectorstore.pg_bm25 import PostgresBM25

        return PostgresBM25(catalog, tokenizer)
    from vectorstore.pg_keyword import PostgresKeyword

    return PostgresKeyword(catalog, tokenizer)


def _keep_postings(catalog: Catalog, tokenizer: Tokenizer) -> None:
    """Write BM25 postings with every commit where the shared catalog has them, whatever this process reads with.

    An ingest job configured for another engine would otherwise commit passages that the
    replicas reading with ``postgres-bm25`` never find.
    """
    from vectorstore.pg_bm25 import PostgresBM25, has_postings
    from vectorstore.sql_catalog import SqlCatalog

    if isinstance(catalog, SqlCatalog) and has_postings(catalog):
        PostgresBM25(catalog, tokenizer)


def build_index(settings: Settings, embedder: Embeddings, dimension: int, tokenizer: Tokenizer,
                chroma_client: ClientAPI | None = None) -> PassageIndex:
    """Catalog, Chroma leg and keyword leg of the data dir (or the shared catalog and Chroma server) in ``settings``.

    An injected ``chroma_client`` is used as it is (never re-opened); otherwise the client is
    opened from settings, and an embedded one re-opened when another process writes. With
    ``catalog_url`` set the catalog is the shared database's; the keyword leg (bm25s by default)
    stays in this replica's data dir, each replica rebuilding its BM25 from the shared catalog when
    the catalog's version moves (the writer's replica before it releases the lock, the others on
    their next question), or, with ``keyword_engine`` 'postgres', is full-text search inside the
    catalog itself (visible at commit). Either way replicas share no local files.
    """
    config = ChromaConfig(collection=settings.collection, path=settings.data_dir / "chroma",
                          host=settings.chroma_host, port=settings.chroma_port, ssl=settings.chroma_ssl)
    index_settings = IndexSettings(
        embedder=settings.embedder, dimension=dimension, chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap, structure=settings.structure,
        embed_question_parts=settings.embed_question_parts, dense_partition=settings.dense_partition)
    if settings.catalog_url is not None and chroma_client is None and config.host is None:
        raise ConfigError("catalog_url shares the catalog between replicas, but the vectors would stay in this "
                          f"data dir ({config.path}): set chroma_host to the Chroma server they share")
    catalog = make_catalog(settings)
    connect = (lambda: chroma_client) if chroma_client is not None else (lambda: open_client(config))
    embedded = chroma_client is None and config.host is None
    server = f"{config.host}:{config.port}" if config.host else ""
    dense: Dense
    if settings.dense_partition == "year":
        dense = PartitionedDenseStore(connect, config.collection, embedder, settings.embedder, dimension, catalog,
                                      embedded=embedded, server=server)
    else:
        dense = DenseStore(connect, config.collection, embedder, settings.embedder, dimension, embedded=embedded,
                           server=server)
    keyword = make_keyword(settings, catalog, tokenizer)
    return PassageIndex(catalog, dense, keyword, index_settings, location=str(settings.data_dir.resolve()))


def _given(embedder: Embeddings) -> Embeddings:
    return embedder


def make_ingest_job(settings: Settings, embedder: Embeddings | None = None) -> PrepareJob | None:
    """The job that loads, splits and embeds an ingest elsewhere (Ray at ``ray_address``), or None: in this process.

    Its workers build the embedder settings name, each its own with one thread on the one CPU
    Ray gives it (``embed_threads`` is this machine's); an injected ``embedder`` travels to them
    pickled instead (a stand-in in tests).
    """
    if settings.ray_address is None:
        return None
    from ingest.ray_job import RayJob  # Ray only where it is used

    factory = partial(_given, embedder) if embedder is not None else partial(
        make_embedder, settings.embedder, settings.embed_batch_size, 1, settings.embed_device, endpoint(settings))
    gpus = 1.0 if settings.embed_device.startswith("cuda") else 0.0
    return RayJob(settings.ray_address, factory, workers=settings.ray_workers, gpus_per_worker=gpus)


def endpoint(settings: Settings) -> Endpoint:
    """Where an ``openai:`` or ``ollama:`` embedder's server answers."""
    return Endpoint(settings.embed_base_url, settings.embed_api_key, settings.embed_timeout)


def make_doors(settings: Settings) -> Doors:
    """How ``serve`` opens its doors: the keys in force, the page's sign-in, trust in the network, the upload limit."""
    return Doors(keys=Keys.load(settings.keys_path, settings.api_keys), page_login=settings.page_login,
                 trusted_network=settings.trusted_network, concurrency=settings.api_concurrency,
                 ingest_roots=tuple(settings.ingest_roots), allowed_hosts=tuple(settings.allowed_hosts),
                 upload_max_bytes=settings.upload_max_bytes)


def build_assistant(settings: Settings, *, embedder: Embeddings | None = None, answerer: Answerer | None = None,
                    chroma_client: ClientAPI | None = None) -> Assistant:
    """Build embedder → index → retriever → answerer → assistant from ``settings``.

    ``embedder``, ``answerer`` and ``chroma_client`` replace the ones settings name (a Chroma
    server's client, a stand-in in tests). The index still records ``settings.embedder`` as its
    embedder's name (collection metadata, embedding cache, refusal calibration): settings must
    name the embedder injected, never another model.
    """
    raw = embedder if embedder is not None else make_embedder(
        settings.embedder, settings.embed_batch_size, settings.embed_threads, settings.embed_device,
        endpoint(settings))
    dimension = embedder_dimension(raw)
    cached_embedder = cached(raw, settings.embedder, settings.cache_dir)
    tokenizer = Tokenizer()
    index = build_index(settings, cached_embedder, dimension, tokenizer, chroma_client)
    weights = FusionWeights(dense=settings.dense_weight, keyword=settings.keyword_weight,
                            rrf_k=settings.rrf_k, candidates=settings.candidates,
                            known_power=settings.keyword_known_power, peak_power=settings.keyword_peak_power)
    reranker = make_reranker(settings.reranker, settings.embed_batch_size, settings.embed_device)
    retriever = HybridRetriever(index, cached_embedder, weights, settings.top_k, reranker, settings.rerank_depth)
    chunker = Chunker(ChunkingConfig(settings.chunk_size, settings.chunk_overlap, settings.structure))
    if answerer is None:
        answerer = make_answerer(settings, tokenizer)

    def document(source: str) -> list[str]:
        """A document's passage texts, where the refusal looks for a name its top passages leave out."""
        return [row.passage.embed_text for row in index.passages_of(source)]

    return Assistant(
        index, retriever, answerer, CitationChecker(tokenizer),
        Ingestor(index, chunker, settings.exclude, job=make_ingest_job(settings, embedder)),
        reader=EvidenceReader(tokenizer, raw, document=document), refusal=refusal_overrides(settings),
        max_question_chars=settings.max_question_chars, top_k=settings.top_k,
        rewriter=make_rewriter(answerer, tokenizer))
