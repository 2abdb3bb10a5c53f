"""The shared deployment of deploy/: its compose file names only real settings, extras and files, and
the same topology runs on this machine with real processes (PostgreSQL from initdb, `chroma run`, one
`vraagbaak ingest`, two `vraagbaak serve` replicas), answering alike and seeing a new ingest at once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from assistant.settings import Settings
from tests.conftest import ROOT, SEED, SEED_QUESTION
from tests.servers import free_port
from values.errors import ConfigError
from vectorstore.sql_catalog import SqlCatalog
from vraagbaak.compose import make_doors
from vraagbaak.doors import check_exposure

pytestmark = pytest.mark.slow

DEPLOY = ROOT / "deploy"
CLI = [sys.executable, "-m", "vraagbaak.cli"]
NEW_DOC = ("Vraag\nHoeveel kost de nieuwe kabelbaan over de Maas in Namen?\n\n"
           "Antwoord\nDe kabelbaan over de Maas in Namen kost 12 miljoen euro en opent in 2027.\n")
NEW_QUESTION = "Wat kost de kabelbaan over de Maas in Namen?"


# -- the compose file ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return dict(compose["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=value form
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_the_compose_file_has_the_whole_topology(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgres", "chroma", "app1", "app2", "ingest", "ray-head", "ray-worker"} <= set(services)
    assert services["ingest"]["profiles"] == ["ingest"]  # a one-shot job, not started by `up`
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "chroma run" in " ".join(services["chroma"]["command"])
    ports = [services[app]["ports"] for app in ("app1", "app2")]
    assert len({str(p) for p in ports}) == 2, "each replica is published on a port of its own"


def test_compose_sets_only_settings_that_exist(services: dict[str, dict[str, Any]]) -> None:
    fields = set(Settings.model_fields)
    for name, service in services.items():
        for key in environment(service):
            if key.startswith("VRAAGBAAK_"):
                assert key.removeprefix("VRAAGBAAK_").lower() in fields, f"{name}: {key}"
    every = " ".join(json.dumps(s) for s in services.values())
    for key in re.findall(r"VRAAGBAAK_[A-Z_]+", every):  # also those in commands and ${...}
        assert key.removeprefix("VRAAGBAAK_").lower() in fields, key


# what a deployer exports before `docker compose up` (compose refuses to start without them)
EXPORTED = {"POSTGRES_PASSWORD": "geheim", "VRAAGBAAK_API_KEYS": json.dumps(["ops:admin:" + "0" * 64])}


def interpolated(value: str) -> str:
    """``value`` as compose makes it: ``${NAME:?message}`` and ``${NAME:-default}`` from EXPORTED."""
    return re.sub(r"\$\{(\w+)(?::[?-]([^}]*))?\}", lambda m: EXPORTED.get(m[1], m[2] or ""), value)


def settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings a service's process reads from its environment."""
    with monkeypatch.context() as m:
        for key, value in environment(service).items():
            if key.startswith("VRAAGBAAK_"):
                m.setenv(key, interpolated(value))
        return Settings()


def test_every_process_shares_the_store_and_replicas_need_keys(services: dict[str, dict[str, Any]],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("app1", "app2", "ingest"):
        settings = settings_of(services[name], monkeypatch)  # the values parse as the settings they name
        assert settings.catalog_url == "postgresql+psycopg://vraagbaak:geheim@postgres:5432/vraagbaak", name
        assert (settings.chroma_host, settings.chroma_port, settings.collection) == ("chroma", 8000, "vraagbaak")
    assert settings_of(services["ingest"], monkeypatch).ray_address == "ray-head:6379"  # the job embeds on Ray
    for name in ("app1", "app2"):
        settings = settings_of(services[name], monkeypatch)
        assert settings.host == "0.0.0.0" and not settings.trusted_network  # inside the container only
        check_exposure(settings.host, make_doors(settings))  # serve starts: it has keys and the page's sign-in
        keyless = settings.model_copy(update={"api_keys": []})
        with pytest.raises(ConfigError, match="without API keys"):
            check_exposure(keyless.host, make_doors(keyless))
        assert environment(services[name])["VRAAGBAAK_API_KEYS"].startswith("${VRAAGBAAK_API_KEYS:?"), \
            "compose must refuse to start a replica without keys"


def test_everything_deploy_mounts_and_copies_exists(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):  # a bind mount (named volumes are made by compose)
                assert (DEPLOY / source).resolve().exists(), f"{name} mounts {source}, not in the repo"
        build = service.get("build")
        if build:
            context = DEPLOY / build["context"]
            assert (context / build["dockerfile"]).exists() or (DEPLOY / build["dockerfile"]).exists(), name
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"the Dockerfile copies {source}, not in the repo"
    assert "torch==2.13.0" in dockerfile and "download.pytorch.org/whl/cpu" in dockerfile
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {e for group in re.findall(r"\.\[([a-z,]+)\]", dockerfile) for e in group.split(",")}
    assert "shared" in named and named <= extras


# -- the topology on this machine ------------------------------------------------------------------
class Replica:
    """A `vraagbaak serve` child process on a loopback port of its own."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.with_suffix(".log")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([*CLI, "serve", "--port", str(self.port)], stdout=log,
                                            stderr=subprocess.STDOUT,
                                            env={**env, "VRAAGBAAK_DATA_DIR": str(data_dir)})

    def health(self) -> dict[str, Any] | None:
        try:
            return dict(httpx.get(self.url + "/api/v1/health", timeout=5).json())
        except httpx.HTTPError:
            return None

    def post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(self.url + route, json=body, timeout=120)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)


def until(condition: Callable[[], bool], limit: float, what: str, step: float = 0.05) -> float:
    """Poll ``condition`` until it holds; the time it took, failing after ``limit`` seconds."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, f"{what}: not within {limit} s"
        time.sleep(step)
    return time.monotonic() - started


@pytest.fixture
def shared_env(pg_url: str, chroma_server: int, minilm: str, embedding_cache: Path) -> dict[str, str]:
    """The environment every process of the deployment shares: the catalog database and the Chroma server."""
    return {**os.environ, "VRAAGBAAK_CATALOG_URL": pg_url, "VRAAGBAAK_CHROMA_HOST": "127.0.0.1",
            "VRAAGBAAK_CHROMA_PORT": str(chroma_server), "VRAAGBAAK_EMBEDDER": minilm,
            "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache)}


@pytest.fixture
def replicas(shared_env: dict[str, str], tmp_path: Path) -> Iterator[list[Replica]]:
    started = [Replica(shared_env, tmp_path / f"replica{n}") for n in (1, 2)]
    try:
        yield started
    finally:
        for replica in started:
            replica.stop()


def ingest(env: dict[str, str], data_dir: Path, *paths: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "ingest", *map(str, paths), "--json"], env={**env, "VRAAGBAAK_DATA_DIR": str(
        data_dir)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(job: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = job.communicate(timeout=600)
    assert job.returncode == 0, err[-3000:]
    return dict(json.loads(out))


@pytest.mark.model
def test_the_topology_on_one_machine(shared_env: dict[str, str], replicas: list[Replica], docs: Path,
                                     pg_url: str, tmp_path: Path) -> None:
    # the replicas come up on an empty store, as in compose, where the ingest is a job run later
    for replica in replicas:
        until(lambda r=replica: r.health() is not None, 300, f"replica on {replica.port} serving",  # type: ignore[misc]
              step=0.2)
    report = finished(ingest(shared_env, tmp_path / "ingest", docs))
    assert report["added"] == 7 and report["failed"] == []
    until(lambda: all((r.health() or {}).get("ready") for r in replicas), 30, "replicas ready")

    answers = [r.post("/api/v1/ask", {"question": SEED_QUESTION}) for r in replicas]
    first, second = answers
    assert first["answered"] and "75.000 euro" in first["answer"]
    assert first["citations"][0]["source"] == str(docs / SEED.name)
    for key in ("answer", "citations", "retrieved", "index_version", "verified"):
        assert first[key] == second[key], key
    catalog = SqlCatalog(pg_url, "vraagbaak")
    before = catalog.version
    assert first["index_version"] == before > 0
    new = docs / "kabelbaan.txt"
    new.write_text(NEW_DOC, encoding="utf-8")
    job = ingest(shared_env, tmp_path / "ingest", new)
    until(lambda: catalog.version > before or job.poll() is not None, 300, "the new document committed")
    committed = time.monotonic()
    assert catalog.version > before, job.communicate()[1][-3000:]

    def sees_it(replica: Replica) -> bool:
        found = replica.post("/api/v1/search", {"query": NEW_QUESTION})
        return bool(found["retrieved"]) and found["retrieved"][0]["source"] == str(new)

    waiting = list(replicas)
    while waiting:  # both within 5 s of the commit, whichever is polled first
        waiting = [r for r in waiting if not sees_it(r)]
        assert not waiting or time.monotonic() - committed < 5, f"not visible on {[r.port for r in waiting]} in 5 s"
        time.sleep(0.05)
    assert finished(job)["added"] == 1
    versions = {r.post("/api/v1/ask", {"question": NEW_QUESTION})["index_version"] for r in replicas}
    assert versions == {catalog.version}
    catalog.close()
