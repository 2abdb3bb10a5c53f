"""Two replicas under load while an ingest runs: 20 chat sessions through the page (gradio_client).

Starts two `vraagbaak serve` replicas on free loopback ports over a shared store that is already
running (a PostgreSQL catalog and a `chroma run`, as in deploy/README.md), ingests ``--first``
into it, then runs ``--sessions`` concurrent chat sessions for ``--seconds``, each on one replica
(alternating), asking the seed question and the titles of the ``--during`` documents, while
`vraagbaak ingest --during` runs (with ``--until-ingested`` the load goes on until the ingest has
committed everything). Every answer's shown passages (their ``data-source``) must name a
document that is complete in the catalog (all its passages committed) when the answer arrives.
Answers to the same question in the same conversation at the same index version (the catalog's
version unchanged while it was answered) are compared across the replicas (answer text and the
ordered cited sources), and after the ingest every question is asked afresh of both replicas.
A probe times each replica's ``/api/v1/health`` once a second: a stalled replica shows there.
Prints errors (with the client call that failed), latency p50/p95 per replica, the probe, the
index versions seen, the citation check and the identical-answers check.

The client's timeout is explicit (``--client-timeout``): by default gradio_client's own (httpx's
5 s on its POSTs, none on the result stream), or one value for every request (above Gradio's 15 s
stream heartbeat).

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
import traceback
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from gradio_client import Client

from vectorstore.sql_catalog import SqlCatalog

ROOT = Path(__file__).resolve().parents[1]
SEED_QUESTION = "Hoeveel projectsubsidie ontvangt OTA van WVG?"
CLI = [sys.executable, "-m", "vraagbaak.cli"]
QUESTIONS_PER_SESSION = 5  # then the session starts over (a fresh conversation)
Answer = tuple[str, tuple[str, ...]]  # the answer's text and its shown sources in order


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
    # (index version, the conversation's questions so far) -> the answers given: (text, cited sources)
    answers_at: dict[tuple[int, tuple[str, ...]], set[Answer]] = field(
        default_factory=lambda: defaultdict(set))
    probe: list[float] = field(default_factory=list)
    probe_errors: int = 0


class Completeness:
    """Whether a document is whole in the shared catalog: every passage its record counts is there."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog
        self.lock = threading.Lock()

    def complete(self, source: str) -> bool:
        with self.lock:
            record = self.catalog.documents().get(source)
            return record is not None and len(self.catalog.passages_of(source)) == record.passages

    def version(self) -> int:
        with self.lock:
            return self.catalog.version


def last_turn(conversation: str) -> str:
    return conversation.rsplit('<section class="vb-turn">', 1)[-1]


def answer_of(turn: str) -> Answer:
    """What must be identical across replicas: the turn's text and its shown sources in order."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", turn)).split())
    text = re.sub(r"\b\d+\.\d s · ", "", text)  # the meta line's "2.7 s · ": how long it took, not what
    return text, tuple(html.unescape(s) for s in re.findall(r'data-source="([^"]*)"', turn))


def failed_call(e: BaseException) -> str:
    """The gradio_client function the failure came out of (send_data = the queue join POST)."""
    frames = [f.name for f in traceback.extract_tb(e.__traceback__) if "gradio_client" in f.filename]
    return frames[-1] if frames else "?"


def make_client(url: str, timeout: float | None) -> Client:
    kwargs = None if timeout is None else {"timeout": httpx.Timeout(timeout)}
    return Client(url, verbose=False, httpx_kwargs=kwargs)


def session(url: str, questions: list[str], stop: threading.Event, tally: Tally, check: Completeness,
            offset: int, timeout: float | None) -> None:
    n = offset
    client = make_client(url, timeout)
    asked: list[str] = []
    while not stop.is_set():
        if n % QUESTIONS_PER_SESSION == 0:
            client.reset_session()
            asked = []
        question = questions[n % len(questions)]
        n += 1
        started = time.monotonic()
        version = check.version()
        try:
            conversation, _ = client.predict(question, [], [], [], 5, False, api_name="/ask")
        except Exception as e:  # noqa: BLE001 - every failure of a session is counted and shown
            elapsed = time.monotonic() - started
            tally.errors.append(f"{type(e).__name__} in {failed_call(e)} after {elapsed:.1f} s: {e}"[:300])
            n += (-n) % QUESTIONS_PER_SESSION  # the server's conversation may hold the question or not: start over
            continue
        tally.seconds.append(time.monotonic() - started)
        turn = last_turn(str(conversation))
        asked.append(question)
        if 'role="alert"' in turn:
            tally.errors.append("alert: " + re.sub(r"<[^>]+>", " ", turn)[:300])
            continue
        tally.answers += 1
        if check.version() == version:
            tally.answers_at[(version, tuple(asked))].add(answer_of(turn))
        for source in {html.unescape(s) for s in re.findall(r'data-source="([^"]*)"', turn)}:
            tally.sources_checked += 1
            if not check.complete(source):
                tally.incomplete.append(source)
    client.close()


def probe(url: str, stop: threading.Event, tally: Tally) -> None:
    """Time the replica's health once a second: how long a trivial request waits on a loaded replica."""
    while not stop.wait(1.0):
        started = time.monotonic()
        try:
            httpx.get(url + "/api/v1/health", timeout=60).raise_for_status()
        except httpx.HTTPError:
            tally.probe_errors += 1
            continue
        tally.probe.append(time.monotonic() - started)


def compare(tallies: list[Tally]) -> tuple[dict[int, int], list[str]]:
    """Keys both replicas answered (a count per version), and the differences: at one version and one
    conversation, one answer (also within one replica: each one's own count of answers is shown)."""
    both = set(tallies[0].answers_at) & set(tallies[1].answers_at)
    by_version: dict[int, int] = defaultdict(int)
    differ = []
    for key in sorted(both):
        by_version[key[0]] += 1
        seen = tallies[0].answers_at[key] | tallies[1].answers_at[key]
        if len(seen) > 1:
            differ.append(f"version {key[0]}, {key[1][-1]!r} after {len(key[1]) - 1} questions: "
                          f"{len(seen)} different answers (app1 gave {len(tallies[0].answers_at[key])}, "
                          f"app2 {len(tallies[1].answers_at[key])})")
    return dict(by_version), differ


def fresh_answers(urls: list[str], questions: list[str], timeout: float | None) -> list[list[Answer]]:
    """Every question asked in a new conversation of each replica, one at a time."""
    answers = []
    for url in urls:
        client = make_client(url, timeout)
        got = []
        for question in questions:
            client.reset_session()
            conversation, _ = client.predict(question, [], [], [], 5, False, api_name="/ask")
            got.append(answer_of(last_turn(str(conversation))))
        client.close()
        answers.append(got)
    return answers


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
    parser.add_argument("--client-timeout", type=float, default=None,
                        help="seconds for every gradio_client request (> 15, Gradio's stream heartbeat); "
                             "default gradio_client's own: httpx's 5 s on its POSTs, none on the result stream")
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
                                                              i * 3, args.client_timeout))
                       for i in range(args.sessions)]
            threads += [threading.Thread(target=probe, args=(url, stop, tally)) for url, tally in zip(
                urls, tallies, strict=True)]
            load_before = os.getloadavg()
            for thread in threads:
                thread.start()
            time.sleep(args.seconds)
            if args.until_ingested:
                ingest.wait(timeout=3600)
            stop.set()
            for thread in threads:
                thread.join()
            load_seconds = time.monotonic() - started
            load_after = os.getloadavg()
            version_after_load = catalog.version
            rss = [rss_mb(p.pid) for p in replicas]
            ingest_done = ingest.poll() is not None
            out, _ = ingest.communicate(timeout=3600)
            ingest_seconds = time.monotonic() - started
            report = json.loads(out) if out.strip() else {}
            health = [httpx.get(url + "/api/v1/health", timeout=30).json() for url in urls]
            fresh = fresh_answers(urls, questions, args.client_timeout)
            health_after = [httpx.get(url + "/api/v1/health", timeout=30).json()["index_version"] for url in urls]
        finally:
            for proc in replicas:  # SIGTERM: a process started in the background ignores SIGINT
                proc.send_signal(signal.SIGTERM)
            for proc in replicas:
                proc.wait(timeout=60)

    print(f"{args.sessions} sessions x {load_seconds:.0f} s against 2 replicas, embedder {args.embedder}, "
          f"collection {collection}")
    timeout = ("gradio_client's own (httpx 5 s on POSTs, none on the result stream)" if args.client_timeout is None
               else f"{args.client_timeout:g} s on every request")
    print(f"client timeout: {timeout}; load average (1/5/15 min) before "
          f"{'/'.join(f'{x:.1f}' for x in load_before)}, after {'/'.join(f'{x:.1f}' for x in load_after)}")
    print(f"ingest during the load: {report.get('added')} documents added, {report.get('passages')} passages, "
          f"{'done within' if ingest_done else 'still running at the end of'} the load "
          f"(finished after {ingest_seconds:.0f} s); catalog version {version_before} -> {version_after_load} "
          f"during the load -> {health[0]['index_version']}")
    print(f"{'replica':8} {'answers':>7} {'errors':>6} {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'RSS MB':>7}")
    for n, (tally, mb) in enumerate(zip(tallies, rss, strict=True), 1):
        print(f"app{n:<5} {tally.answers:7d} {len(tally.errors):6d} {percentile(tally.seconds, 50):6.2f} "
              f"{percentile(tally.seconds, 95):6.2f} {max(tally.seconds, default=float('nan')):6.2f} {mb:7.0f}")
    for n, tally in enumerate(tallies, 1):
        print(f"app{n} health probe: {len(tally.probe)} timed, p50 {percentile(tally.probe, 50):.2f} s, "
              f"p95 {percentile(tally.probe, 95):.2f} s, max {max(tally.probe, default=float('nan')):.2f} s, "
              f"{tally.probe_errors} failed")
    checked = sum(t.sources_checked for t in tallies)
    incomplete = [s for t in tallies for s in t.incomplete]
    print(f"citations: {checked} shown sources checked, {len(incomplete)} not complete in the catalog")
    keys, differ = compare(tallies)
    print(f"identical answers during the load: {sum(keys.values())} (version, conversation) pairs answered by both "
          f"replicas ({', '.join(f'{n} at version {v}' for v, n in sorted(keys.items()))}), "
          f"{len(differ)} with different answers")
    same = sum(a == b for a, b in zip(*fresh, strict=True))
    print(f"identical answers after the ingest (both at version {'/'.join(map(str, health_after))}, "
          f"each question in a new conversation): {same} of {len(questions)} the same")
    for line in differ[:5]:
        print("differ:", line)
    for question, a, b in zip(questions, *fresh, strict=True):
        if a != b:
            at = len(os.path.commonprefix([a[0], b[0]]))
            print(f"differ after the ingest: {question!r}: app1 {a[0][at:at + 80]!r} {a[1]}, "
                  f"app2 {b[0][at:at + 80]!r} {b[1]}")
    for n, tally in enumerate(tallies, 1):
        for error in tally.errors[:5]:
            print(f"error app{n}:", error)
    for source in incomplete[:5]:
        print("incomplete:", source)


if __name__ == "__main__":
    main()
