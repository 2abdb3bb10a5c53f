"""``vraagbaak eval``: run question sets against the index and score passages against gold spans.

A retrieved passage is a hit when it comes from the gold document, overlaps the gold answer
span ``[gold_start, gold_end)`` by at least min(200 chars, half the gold span), and is at most
2,000 characters long. A passage covering only the question's own text cannot overlap the
answer span, so it is never a hit.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.assistant import Assistant
from values.errors import ConfigError

MAX_PASSAGE_CHARS = 2000
MIN_OVERLAP = 200


def read_questions(path: Path) -> list[dict[str, Any]]:
    """Question records from a JSON-lines file; each needs ``id`` and ``question``."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read question file ({e.strerror})") from e
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{number}: not JSON ({e.msg})") from e
        if not isinstance(record, dict) or "id" not in record or "question" not in record:
            raise ConfigError(f"{path}:{number}: a record needs 'id' and 'question'")
        record.setdefault("set", record.get("style") or record.get("source") or path.stem)
        records.append(record)
    return records


def is_hit(item: dict[str, Any], gold: dict[str, Any]) -> bool:
    """Whether a retrieved passage (``source``/``start``/``end``) counts as the gold answer passage."""
    if Path(str(item["source"])).stem != gold["gold_doc"]:
        return False
    start, end = int(item["start"]), int(item["end"])
    if end - start > MAX_PASSAGE_CHARS:
        return False
    g_start, g_end = int(gold["gold_start"]), int(gold["gold_end"])
    overlap = min(end, g_end) - max(start, g_start)
    return overlap >= min(MIN_OVERLAP, (g_end - g_start) / 2)


def run(assistant: Assistant, records: Iterable[dict[str, Any]], k: int = 10) -> Iterator[dict[str, Any]]:
    """One output line per question: the ``ask --json`` object plus ``id`` and ``seconds``."""
    for record in records:
        started = time.perf_counter()
        answer = assistant.ask(record["question"], k=k)
        out = answer.to_json()
        out["id"] = record["id"]
        out["seconds"] = round(time.perf_counter() - started, 4)
        out["retrieval_seconds"] = answer.extra.get("retrieval_seconds")
        yield out


@dataclass
class Scores:
    """Aggregated figures for one set of questions."""

    name: str
    questions: int = 0
    gold: int = 0
    hit1: int = 0
    hit5: int = 0
    rr10: float = 0.0
    doc5: int = 0
    first_citation: int = 0
    answered: int = 0
    unanswerable: int = 0
    refused: int = 0
    seconds: list[float] = field(default_factory=list)
    retrieval: list[float] = field(default_factory=list)

    def add(self, record: dict[str, Any], result: dict[str, Any]) -> None:
        """Score one question."""
        self.questions += 1
        self.seconds.append(float(result["seconds"]))
        if result.get("retrieval_seconds") is not None:
            self.retrieval.append(float(result["retrieval_seconds"]))
        if record.get("answerable") is False:
            self.unanswerable += 1
            self.refused += not result["answered"]
            return
        self.answered += bool(result["answered"])
        if "gold_doc" not in record:
            return
        self.gold += 1
        hits = [is_hit(item, record) for item in result["retrieved"][:10]]
        self.hit1 += any(hits[:1])
        self.hit5 += any(hits[:5])
        self.rr10 += next((1.0 / (rank + 1) for rank, hit in enumerate(hits) if hit), 0.0)
        self.doc5 += any(Path(str(i["source"])).stem == record["gold_doc"] for i in result["retrieved"][:5])
        citations = result["citations"]
        self.first_citation += bool(citations) and is_hit(citations[0], record)

    def summary(self) -> dict[str, Any]:
        """The figures as a dict (rates rounded to 3 decimals, latency in ms)."""
        def rate(n: float, d: int) -> float | None:
            return round(n / d, 3) if d else None

        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

        answerable = self.questions - self.unanswerable
        return {
            "set": self.name, "questions": self.questions, "with_gold": self.gold,
            "hit@1": rate(self.hit1, self.gold), "hit@5": rate(self.hit5, self.gold),
            "mrr@10": rate(self.rr10, self.gold), "doc_recall@5": rate(self.doc5, self.gold),
            "first_citation_hit": rate(self.first_citation, self.gold),
            "answered_rate": rate(self.answered, answerable),
            "refusal_rate": rate(self.refused, self.unanswerable),
            "latency_ms_p50": pct(self.seconds, 0.5), "latency_ms_p95": pct(self.seconds, 0.95),
            "retrieval_ms_p50": pct(self.retrieval, 0.5), "retrieval_ms_p95": pct(self.retrieval, 0.95),
            "median_seconds": round(statistics.median(self.seconds), 4) if self.seconds else None,
        }


def evaluate(assistant: Assistant, records: list[dict[str, Any]], k: int = 10,
             on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run every record; return summaries per set, then 'all'."""
    assistant.warm_up()
    sets: dict[str, Scores] = {}
    overall = Scores("all")
    for record, result in zip(records, run(assistant, records, k), strict=True):
        if on_result is not None:
            on_result(result)
        sets.setdefault(str(record["set"]), Scores(str(record["set"]))).add(record, result)
        overall.add(record, result)
    return [s.summary() for s in sets.values()] + [overall.summary()]
