"""Two replicas under load while an ingest runs: 20 chat sessions through the page (gradio_client).

Starts two `vraagbaak serve` replicas on free loopback ports over a shared store that is already
running (a PostgreSQL catalog and a `chroma run`, as in deploy/README.md), ingests ``--first``
into it, then runs ``--sessions`` concurrent chat sessions for ``--seconds``, each on one replica
(alternating), asking the seed question and the titles of the ``--during`` documents, while
`vraagbaak ingest --during` runs (with ``--until-ingested`` the load goes on until the ingest has
committed everything). Every answer's shown passages (their ``data-source``) must name a
document that is complete in the catalog (all its passages committed) when the answer arrives.
Prints errors, latency p50/p95 per replica, the index versions seen and the citation check.

One machine, loopback, as root (initdb refuses root: run PostgreSQL as postgres):

    D=$(mktemp -d); chown postgres $D
    runuser -u postgres -- initdb -D $D/pg -U vraagbaak --auth=trust -E UTF8 --locale=C
    runuser -u postgres -- pg_ctl -D $D/pg -l $D/pg.log -w -o "-k $D -c listen_addresses=''" start
    chroma run --path $D/chroma --port 8123 &
    python benchmarks/replicas_load.py --catalog-url "postgresql+psycopg://vraagbaak@/postgres?host=$D" \
        --chroma-port 8123 --seconds 60
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from gradio_client import Client

from vectorstore.sql_catalog import SqlCatalog

ROOT = Path(__file__).resolve().parents[1]
SEED_QUESTION = "Hoeveel projectsubsidie ontvangt OTA van WVG?"
CLI = [sys.executable, "-m", "vraagbaak.cli"]
QUESTIONS_PER_SESSION = 5  # then the session starts over (a fresh conversation)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Tally:
    """What one replica's sessions saw."""

    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    answers: int = 0
    sources_checked: int = 0
    incomplete: list[str] = field(default_factory=list)


class Completeness:
    """Whether a document is whole in the shared catalog: every passage its record counts is there."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog
        self.lock = threading.Lock()

    def complete(self, source: str) -> bool:
        with self.lock:
            record = self.catalog.documents().get(source)
            return record is not None and len(self.catalog.passages_of(source)) == record.passages


def last_turn(conversation: str) -> str:
    return conversation.rsplit('<section class="vb-turn">', 1)[-1]


def session(url: str, questions: list[str], stop: threading.Event, tally: Tally, check: Completeness,
            offset: int) -> None:
    n = offset
    client = Client(url, verbose=False)
    while not stop.is_set():
        if n % QUESTIONS_PER_SESSION == 0:
            client.reset_session()
        question = questions[n % len(questions)]
        n += 1
        started = time.monotonic()
        try:
            conversation, _ = client.predict(question, [], [], [], 5, False, api_name="/ask")
        except Exception as e:  # noqa: BLE001 - every failure of a session is counted and shown
            tally.errors.append(f"{type(e).__name__}: {e}"[:300])
            continue
        tally.seconds.append(time.monotonic() - started)
        turn = last_turn(str(conversation))
        if 'role="alert"' in turn:
            tally.errors.append("alert: " + re.sub(r"<[^>]+>", " ", turn)[:300])
            continue
        tally.answers += 1
        for source in {html.unescape(s) for s in re.findall(r'data-source="([^"]*)"', turn)}:
            tally.sources_checked += 1
            if not check.complete(source):
                tally.incomplete.append(source)


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]  # type: ignore[index]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog-url", required=True)
    parser.add_argument("--chroma-host", default="127.0.0.1")
    parser.add_argument("--chroma-port", type=int, default=8000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--first", type=Path, default=ROOT / "samples" / "seed", help="indexed before the load")
    parser.add_argument("--during", type=Path, default=ROOT / "samples" / "bekamer-2017",
                        help="ingested while the load runs; its titles are asked too")
    parser.add_argument("--until-ingested", action="store_true",
                        help="keep the load on past --seconds until the ingest has finished (all its commits)")
    parser.add_argument("--embedder", default=os.environ.get("VRAAGBAAK_EMBEDDER", "e5-small"))
    args = parser.parse_args()

    collection = f"load{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VRAAGBAAK_CATALOG_URL": args.catalog_url,
           "VRAAGBAAK_CHROMA_HOST": args.chroma_host, "VRAAGBAAK_CHROMA_PORT": str(args.chroma_port),
           "VRAAGBAAK_COLLECTION": collection, "VRAAGBAAK_EMBEDDER": args.embedder}
    during = sorted(args.during.glob("*.txt"))
    questions = [SEED_QUESTION, *(p.read_text(encoding="utf-8").splitlines()[0].strip() for p in during)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env["VRAAGBAAK_EMBEDDING_CACHE_DIR"] = str(work / "cache")
        subprocess.run([*CLI, "ingest", str(args.first), "--json"], env={**env, "VRAAGBAAK_DATA_DIR": str(
            work / "ingest")}, check=True, capture_output=True)
        ports = [free_port(), free_port()]
        replicas = [subprocess.Popen([*CLI, "serve", "--port", str(port)], env={
            **env, "VRAAGBAAK_DATA_DIR": str(work / f"app{n}")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for n, port in enumerate(ports, 1)]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            deadline = time.monotonic() + 600
            for url, proc in zip(urls, replicas, strict=True):
                while True:
                    assert proc.poll() is None and time.monotonic() < deadline, f"{url} did not come up"
                    try:
                        if httpx.get(url + "/api/v1/health", timeout=5).json()["ready"]:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.5)
            catalog = SqlCatalog(args.catalog_url, collection)
            version_before = catalog.version
            check = Completeness(catalog)
            tallies = [Tally(), Tally()]
            started = time.monotonic()
            ingest = subprocess.Popen([*CLI, "ingest", str(args.during), "--json"], env={
                **env, "VRAAGBAAK_DATA_DIR": str(work / "ingest")}, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True)
            stop = threading.Event()
            threads = [threading.Thread(target=session, args=(urls[i % 2], questions, stop, tallies[i % 2], check,
                                                              i * 3)) for i in range(args.sessions)]
            for thread in threads:
                thread.start()
            time.sleep(args.seconds)
            if args.until_ingested:
                ingest.wait(timeout=3600)
            stop.set()
            for thread in threads:
                thread.join()
            load_seconds = time.monotonic() - started
            version_after_load = catalog.version
            rss = [rss_mb(p.pid) for p in replicas]
            ingest_done = ingest.poll() is not None
            out, _ = ingest.communicate(timeout=3600)
            ingest_seconds = time.monotonic() - started
            report = json.loads(out) if out.strip() else {}
            health = [httpx.get(url + "/api/v1/health", timeout=30).json() for url in urls]
        finally:
            for proc in replicas:
                proc.send_signal(signal.SIGINT)
            for proc in replicas:
                proc.wait(timeout=60)

    print(f"{args.sessions} sessions x {load_seconds:.0f} s against 2 replicas, embedder {args.embedder}, "
          f"collection {collection}")
    print(f"ingest during the load: {report.get('added')} documents added, {report.get('passages')} passages, "
          f"{'done within' if ingest_done else 'still running at the end of'} the load "
          f"(finished after {ingest_seconds:.0f} s); catalog version {version_before} -> {version_after_load} "
          f"during the load -> {health[0]['index_version']}")
    print(f"{'replica':8} {'answers':>7} {'errors':>6} {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'RSS MB':>7}")
    for n, (tally, mb) in enumerate(zip(tallies, rss, strict=True), 1):
        print(f"app{n:<5} {tally.answers:7d} {len(tally.errors):6d} {percentile(tally.seconds, 50):6.2f} "
              f"{percentile(tally.seconds, 95):6.2f} {max(tally.seconds, default=float('nan')):6.2f} {mb:7.0f}")
    checked = sum(t.sources_checked for t in tallies)
    incomplete = [s for t in tallies for s in t.incomplete]
    print(f"citations: {checked} shown sources checked, {len(incomplete)} not complete in the catalog")
    for error in [e for t in tallies for e in t.errors][:5]:
        print("error:", error)
    for source in incomplete[:5]:
        print("incomplete:", source)


if __name__ == "__main__":
    main()
