"""`vraagbaak serve` as a real process: one line when the port is taken, one line when the page is up."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.model  # the CLI builds from env settings: a real model
SERVE = [sys.executable, "-m", "vraagbaak.cli", "serve"]


@pytest.fixture
def env(tmp_path: Path, minilm: str, embedding_cache: Path) -> dict[str, str]:
    return {**os.environ, "VRAAGBAAK_EMBEDDER": minilm, "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache),
            "VRAAGBAAK_DATA_DIR": str(tmp_path / "index")}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_taken_port_is_one_line_naming_the_fix(env: dict[str, str], taken_port: int) -> None:
    result = subprocess.run([*SERVE, "--port", str(taken_port)], env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 1
    assert result.stdout == ""
    # the embedding model's loading bar may come first (the port is checked when the page starts)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("Loading weights")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: port {taken_port} on 127.0.0.1 is taken")
    assert "--port" in lines[0] and "VRAAGBAAK_PORT" in lines[0] and "GRADIO_SERVER_PORT" not in lines[0]


def test_the_port_setting_serves_the_page_with_one_line_and_no_share_advice(env: dict[str, str]) -> None:
    port = free_port()
    server = subprocess.Popen(SERVE, env={**env, "VRAAGBAAK_PORT": str(port)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout or ()], daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=180)  # the page is up when serve says so
        assert first == f"vraagbaak: the chat page is on http://127.0.0.1:{port}/ (Ctrl-C stops)\n"
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
        doors = lines.get(timeout=30)
        assert f"http://127.0.0.1:{port}/api/v1" in doors and f"http://127.0.0.1:{port}/v1" in doors
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=30).json()["ok"] is True
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0
    reader.join(10)
    printed = first + "".join(lines.get_nowait() for _ in range(lines.qsize()))
    assert "share=True" not in printed + err and "Traceback" not in err


def test_serve_with_ingest_is_up_first_and_then_serves_what_it_indexed(
        env: dict[str, str], tmp_path: Path) -> None:
    from tests.conftest import SEED, SMALL_SET
    from ui.files import ROUTE

    seed, others = tmp_path / "seed", tmp_path / "others"
    seed.mkdir()
    others.mkdir()
    shutil.copy(SEED, seed)
    for path in SMALL_SET:
        shutil.copy(path, others)
    port = free_port()
    server = subprocess.Popen([*SERVE, "--port", str(port), "--ingest", str(seed), "--ingest", str(others)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout or ()], daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=180)
        assert first.startswith("vraagbaak: the chat page is on"), first  # before any ingest summary
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
        assert lines.get(timeout=30).startswith("vraagbaak: the HTTP API is on")
        summary = lines.get(timeout=300)  # the ingest ends while the page is up
        assert summary.startswith(f"added {1 + len(SMALL_SET)}, "), summary
        served = httpx.get(f"http://127.0.0.1:{port}/{ROUTE.lstrip('/')}",
                           params={"source": str((seed / SEED.name).resolve())}, timeout=30)
        assert served.status_code == 200 and "OTA" in served.text  # the page reads what was indexed after it started
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    assert server.returncode == 0
