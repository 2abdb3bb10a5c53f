"""Deterministic stand-ins for what is slow or out of reach in a test: an embedder without a model
(similar texts still get similar vectors), a model whose output is fixed (so the checker's verdict
on it can be asserted), a server that is down, and Ollama's embedding endpoint."""

from __future__ import annotations

import json
import math
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from values.errors import AnswerBackendError
from values.text import Tokenizer

if TYPE_CHECKING:  # the fake embedder alone imports fast, in a child process too
    from assistant.assistant import Assistant
    from assistant.evidence import Evidence
    from assistant.retrieval import Hit
    from assistant.settings import Settings


class FakeEmbedder(Embeddings):
    """Hashed features of a text, L2-normalised: its folded, stemmed words and character trigrams.

    No model loads and the same text always gives the same vector, in any process. The cosine of
    two vectors is the overlap of their features, so a question is closest to the passage that
    shares its words (trigrams also match compounds and inflections the stemmer misses): retrieval over a
    handful of documents really finds the right passage, for the wrong reasons no test relies on.

    ``name`` is what settings call it (their ``embedder``: the index's collection metadata and
    embedding-cache namespace). Settings accept only sentence-transformers names beside e5; this
    one names no model on disk, so an index it built cannot be opened by settings alone, and no
    calibration knows it: the refusal policy treats it as uncalibrated unless a test sets thresholds.
    """

    name = "sentence-transformers:vraagbaak-tests/fake-hashed-words"
    dimension = 512
    word_weight = 1.0
    trigram_weight = 0.2

    def __init__(self) -> None:
        self._tokenize = Tokenizer()

    def __reduce__(self) -> tuple[type[FakeEmbedder], tuple[()]]:
        return type(self), ()  # a Ray ingest's workers get one too (the stemmer inside does not pickle)

    def features(self, text: str) -> dict[int, float]:
        """Weight by feature bucket: every folded, stemmed content word and each of its trigrams."""
        buckets: dict[int, float] = {}

        def add(feature: str, weight: float) -> None:
            bucket = zlib.crc32(feature.encode("utf-8")) % self.dimension
            buckets[bucket] = buckets.get(bucket, 0.0) + weight

        for word in self._tokenize(text):
            add("w:" + word, self.word_weight)
            padded = f" {word} "
            for at in range(len(padded) - 2):
                add("c:" + padded[at:at + 3], self.trigram_weight)
        return buckets

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        for bucket, weight in self.features(text).items():
            vector[bucket] = weight
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text."""
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """The question's vector (no query/passage asymmetry)."""
        return self._vector(text)


def build(settings: Settings, **inject: Any) -> Assistant:
    """``build_assistant``, with a FakeEmbedder injected when ``settings`` name it.

    The builder CLI tests hand the typer app (its ``obj``), in process and in child processes, so
    that an index named for the fake in the environment is built with the fake.
    """
    from vraagbaak.compose import build_assistant

    if settings.embedder == FakeEmbedder.name:
        inject.setdefault("embedder", FakeEmbedder())
    return build_assistant(settings, **inject)


class ScriptedAnswerer:
    """Answers with a fixed text, streamed word by word: a model's output the checker then judges."""

    name = "scripted"

    def __init__(self, text: str) -> None:
        self.text = text

    def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
        for word in self.text.split(" "):
            yield word + " "


class DownAnswerer:
    """An answer backend whose server is unreachable."""

    name = "openai"

    def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
        raise AnswerBackendError("connection refused by http://127.0.0.1:9/v1")
        yield ""  # a generator, like the real backends


class FakeOllama:
    """Ollama's embedding endpoint (``POST /api/embed``) on a loopback port, answering with ``FakeEmbedder``.

    No Ollama server installs from a package registry; this speaks its wire format so that the
    real client (langchain-ollama, ollama) is what the test drives. ``status`` set to an error
    code makes every call fail with it, as a server out of memory does.
    """

    def __init__(self) -> None:
        embedder = FakeEmbedder()
        owner = self
        self.status = 200
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.calls += 1
                if self.path != "/api/embed" or owner.status != 200:
                    reply, code = {"error": "model runner has unexpectedly stopped"}, owner.status
                else:
                    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    reply, code = {"model": body["model"], "embeddings": embedder.embed_documents(texts)}, 200
                data = json.dumps(reply).encode()
                self.send_response(code if self.path == "/api/embed" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
