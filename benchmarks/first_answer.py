"""How soon a new user can ask: time from `vraagbaak serve` to the page, and to the seed answer.

Two ways of starting on the bundled samples, each on a fresh data dir and a fresh embedding
cache, with the default embedder (e5-small):
- before: `vraagbaak ingest samples/seed samples/bekamer-2017`, then `vraagbaak serve`;
- now (`make run`): `vraagbaak serve --ingest samples/seed --ingest samples/bekamer-2017`.

For each it prints the seconds until the page answers HTTP 200, until the seed question is
answered with "75.000" over the page's own API (gradio_client), and until the whole ingest is done.

    python benchmarks/first_answer.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from gradio_client import Client
from gradio_client.exceptions import AppError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "samples" / "seed", ROOT / "samples" / "bekamer-2017"]
QUESTION = "Hoeveel projectsubsidie ontvangt OTA van WVG?"
CLI = [sys.executable, "-m", "vraagbaak.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def until(condition, started: float, limit: float = 900.0) -> float:  # type: ignore[no-untyped-def]
    while not condition():
        if time.monotonic() - started > limit:
            raise SystemExit("gave up waiting")
        time.sleep(0.5)
    return time.monotonic() - started


def page_up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def answered(url: str) -> bool:
    try:
        conversation, _ = Client(url, verbose=False).predict(QUESTION, [], [], [], 5, False, api_name="/ask")
    except AppError:  # "the index is empty" while the first documents are being embedded
        return False
    return "75.000" in str(conversation)


def run(mode: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "VRAAGBAAK_DATA_DIR": str(Path(tmp) / "index"),
               "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(Path(tmp) / "cache")}
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        started = time.monotonic()
        figures: dict[str, float] = {}
        if mode == "before":
            subprocess.run([*CLI, "ingest", *map(str, SAMPLES)], env=env, check=True, capture_output=True)
            figures["ingest done"] = time.monotonic() - started
            server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        else:
            args = [a for path in SAMPLES for a in ("--ingest", str(path))]
            server = subprocess.Popen([*CLI, "serve", "--port", str(port), *args], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            figures["page up"] = until(lambda: page_up(url), started)
            figures["seed answered"] = until(lambda: answered(url), started)
            if mode == "now":
                assert server.stdout is not None
                for line in server.stdout:  # the summary line ends the ingest
                    if line.startswith("added "):
                        figures["ingest done"] = time.monotonic() - started
                        break
        finally:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=60)
        return figures


def main() -> None:
    results = {mode: run(mode) for mode in ("before", "now")}
    print(f"{'seconds from start':22} {'before':>8} {'now':>8} {'ratio':>6}")
    for key in ("page up", "seed answered", "ingest done"):
        before, now = results["before"][key], results["now"][key]
        print(f"{key:22} {before:8.1f} {now:8.1f} {now / before:6.2f}")


if __name__ == "__main__":
    main()
