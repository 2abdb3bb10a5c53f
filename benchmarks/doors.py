"""What the doors add to an answer: the same ask in process, over the HTTP API, the OpenAI-compatible API and MCP.

One run, one index, one in-process server (``vraagbaak.server.start``, the page mounted as in
``vraagbaak serve``):

1. latency of the same questions through ``assistant.ask``, ``POST /api/v1/ask`` (httpx, one
   keep-alive client), the ``openai`` client's ``chat.completions.create`` against ``/v1`` and the
   ``mcp`` SDK client calling the ``ask`` tool at ``/mcp`` (one session). The paths are
   interleaved question by question (round-robin, the order rotating) after a warm-up round, so
   machine load hits them alike. Door overhead = door p50 − in-process p50; "outside ask" is the
   latency minus the ``seconds`` the answer says ``ask`` took, per request. Every door's answer
   text must equal the in-process answer of the same round (the OpenAI door's is the answer plus
   its source list).
2. load: ``--clients`` concurrent httpx clients asking ``/api/v1/ask`` for ``--load-seconds``;
   any non-200 or exception is an error.

The index: the bundled samples (41 documents) in a temporary data dir, default embedder
(e5-small), embeddings cached in ``--cache-dir`` so a re-run does not embed again. The clients
run in the server's process (other threads): their own CPU is in the figures.

    python benchmarks/doors.py                 # 20 questions x 5 rounds, 60 s of load
    python benchmarks/doors.py --quick         # 5 questions x 2 rounds, 10 s of load
    python benchmarks/doors.py --json          # one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from openai import OpenAI

from api.openai_compat import source_list
from assistant.assistant import Assistant
from assistant.evaluation import read_questions
from assistant.settings import Settings
from vraagbaak.compose import build_assistant, make_doors
from vraagbaak.server import start

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "samples" / "seed", ROOT / "samples" / "bekamer-2017"]
QUESTION_FILES = [ROOT / "eval" / "seed.jsonl", ROOT / "eval" / "reworded.jsonl"]
PATHS = ("in-process", "api", "openai", "mcp")
TARGET_MS = 20.0

Ask = Callable[[str], Awaitable[tuple[str, float]]]  # question -> (answer text, seconds ask took)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def questions(count: int) -> list[str]:
    """Answerable questions whose gold document is among the samples: seed first, then reworded ones."""
    indexed = {p.stem for folder in SAMPLES for p in folder.iterdir()}
    chosen: list[str] = []
    per_file = -(-count // len(QUESTION_FILES))
    for path in QUESTION_FILES:
        rows = [r for r in read_questions(path) if r.get("answerable", True) and r.get("gold_doc") in indexed]
        chosen += [r["question"] for r in rows[:per_file]]
    return chosen[:count]


def stats(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(1000 * statistics.median(values), 1), "p95_ms": round(1000 * percentile(values, 0.95), 1)}


async def latency(assistant: Assistant, url: str, asked: list[str], rounds: int) -> dict[str, Any]:
    """Every question through every path, round-robin; latencies, time outside ``ask``, mismatches."""
    expected: dict[str, tuple[str, str]] = {}  # question -> (answer text, OpenAI content) of this round

    async def in_process(question: str) -> tuple[str, float]:
        answer = assistant.ask(question)
        expected[question] = (answer.answer, answer.answer + source_list(answer))
        return answer.answer, answer.seconds

    rest = httpx.Client(base_url=url, timeout=120)
    openai = OpenAI(base_url=f"{url}v1", api_key="unused", max_retries=0, timeout=120)

    async def api(question: str) -> tuple[str, float]:
        response = rest.post("api/v1/ask", json={"question": question})
        response.raise_for_status()
        body = response.json()
        return body["answer"], body["seconds"]

    async def chat(question: str) -> tuple[str, float]:
        completion = openai.chat.completions.create(model="vraagbaak",
                                                    messages=[{"role": "user", "content": question}])
        extra = completion.model_extra or {}
        return completion.choices[0].message.content or "", extra["vraagbaak"]["seconds"]

    seconds: dict[str, list[float]] = {p: [] for p in PATHS}
    outside: dict[str, list[float]] = {p: [] for p in PATHS}
    paired: dict[str, list[float]] = {p: [] for p in PATHS[1:]}
    mismatches = dict.fromkeys(PATHS[1:], 0)
    async with Client(f"{url}mcp") as session:
        async def mcp(question: str) -> tuple[str, float]:
            result = await session.call_tool("ask", {"question": question})
            if result.is_error or result.structured_content is None:
                raise RuntimeError(f"the MCP ask failed: {result.content}")
            return result.structured_content["answer"], result.structured_content["seconds"]

        calls: dict[str, Ask] = {"in-process": in_process, "api": api, "openai": chat, "mcp": mcp}
        for round_ in range(rounds + 1):  # round 0 warms up every path and is not counted
            for i, question in enumerate(asked):
                rotation = i + round_
                order = PATHS[rotation % len(PATHS):] + PATHS[:rotation % len(PATHS)]
                taken: dict[str, float] = {}
                texts: dict[str, str] = {}
                for path in order:
                    started = time.perf_counter()
                    texts[path], inside = await calls[path](question)
                    taken[path] = time.perf_counter() - started
                    if round_:
                        seconds[path].append(taken[path])
                        outside[path].append(taken[path] - inside)
                if not round_:
                    continue
                for path in PATHS[1:]:
                    paired[path].append(taken[path] - taken["in-process"])
                    want = expected[question][1 if path == "openai" else 0]
                    mismatches[path] += texts[path] != want
    rest.close()
    openai.close()
    base = statistics.median(seconds["in-process"])
    result: dict[str, Any] = {}
    for path in PATHS:
        result[path] = {**stats(seconds[path]), "outside_ask_p50_ms": round(1000 * statistics.median(outside[path]), 1)}
        if path != "in-process":
            result[path].update(
                overhead_p50_ms=round(1000 * (statistics.median(seconds[path]) - base), 1),
                paired_overhead_p50_ms=round(1000 * statistics.median(paired[path]), 1),
                mismatches=mismatches[path])
    return result


async def load(url: str, asked: list[str], clients: int, duration: float) -> dict[str, Any]:
    """``clients`` concurrent keep-alive clients asking ``/api/v1/ask`` until ``duration`` has passed."""
    seconds: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + duration

    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=300) as http:
            n = number
            while time.perf_counter() < deadline:
                question = asked[n % len(asked)]
                n += 1
                started = time.perf_counter()
                try:
                    response = await http.post("api/v1/ask", json={"question": question})
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__}: {e}")
                    continue
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                    continue
                seconds.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    done = len(seconds) + len(errors)
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": done, "errors": len(errors),
            "first_errors": errors[:3], **(stats(seconds) if seconds else {}),
            "throughput_per_s": round(len(seconds) / elapsed, 2)}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 questions, 2 rounds, 10 s of load")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds over the questions (after a warm-up)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/bench-cache"),
                        help="embedding cache kept between runs")
    args = parser.parse_args()
    if args.quick:
        args.questions, args.rounds, args.load_seconds = min(args.questions, 5), min(args.rounds, 2), 10.0
    say = (lambda *_: None) if args.json else (lambda text: print(text, flush=True))
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="vraagbaak-doors-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "index", embedding_cache_dir=args.cache_dir)
        assistant = build_assistant(settings)
        report = assistant.ingest(SAMPLES)
        say(f"index: {assistant.document_count()} documents, {report.passages} passages, {settings.embedder}, "
            f"ingest {report.seconds:.1f} s ({report.embedded} embedded, cache {args.cache_dir})")
        assistant.warm_up()
        doors = make_doors(settings)
        server = start(assistant, doors, port=free_port(), quiet=True)
        try:
            asked = questions(args.questions)
            say(f"server: {server.url} (api_concurrency {doors.concurrency}); load average before: {load_before}")
            paths = asyncio.run(latency(assistant, server.url, asked, args.rounds))
            loaded = asyncio.run(load(server.url, asked, args.clients, args.load_seconds))
        finally:
            server.stop()
    out = {"documents": assistant.document_count(), "passages": report.passages, "embedder": settings.embedder,
           "questions": len(asked), "rounds": args.rounds, "api_concurrency": doors.concurrency,
           "paths": paths, "load": loaded, "load_average_before": load_before, "load_average_after": load_average(),
           "python": sys.version.split()[0]}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return
    print(f"\nlatency of the same ask, {len(asked)} questions x {args.rounds} rounds per path (round-robin)")
    print(f"{'path':>11} {'p50 ms':>8} {'p95 ms':>8} {'overhead p50':>13} {'paired p50':>11} {'outside ask':>12} "
          f"{'mismatches':>11}")
    for path, row in paths.items():
        extra = (f"{row['overhead_p50_ms']:13.1f} {row['paired_overhead_p50_ms']:11.1f} "
                 if path != "in-process" else f"{'':13} {'':11} ")
        tail = f"{row['mismatches']:11d}" if path != "in-process" else f"{'':>11}"
        print(f"{path:>11} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} {extra}{row['outside_ask_p50_ms']:12.1f} {tail}")
    worst = max(paths[p]["overhead_p50_ms"] for p in PATHS[1:])
    print(f"door overhead (door p50 - in-process p50): worst {worst:.1f} ms, target < {TARGET_MS:.0f} ms "
          f"{'ok' if worst < TARGET_MS else 'MISSED'}; mismatched answers: "
          f"{sum(paths[p]['mismatches'] for p in PATHS[1:])}")
    print(f"\nload: {loaded['clients']} clients on /api/v1/ask for {loaded['seconds']} s "
          f"(api_concurrency {doors.concurrency})")
    print(f"requests {loaded['requests']}, errors {loaded['errors']}, p50 {loaded.get('p50_ms', 0):.0f} ms, "
          f"p95 {loaded.get('p95_ms', 0):.0f} ms, throughput {loaded['throughput_per_s']:.2f}/s")
    for error in loaded["first_errors"]:
        print(f"  error: {error}")
    print(f"load average before {load_before}, after {out['load_average_after']}")


if __name__ == "__main__":
    main()
