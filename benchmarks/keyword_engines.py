"""The keyword engines side by side over one shared PostgreSQL catalog: bm25s, PostgreSQL full-text, BM25 in SQL.

Starts a PostgreSQL of its own (initdb in a temp dir; or ``--catalog-url``), ingests the corpus
into it with the model-free FakeEmbedder (vectors in an in-process Chroma: no real embedding, the
dense leg plays no part here), then, for each engine over the same catalog rows:

- keyword-only passage hit@1, hit@5 and MRR@10 on the dev set (the engine's top 40, question
  passages redirected to their answers as retrieval does, the hit rule of ``vraagbaak eval``);
- query latency p50/p95 of what retrieval asks of the leg per question (``search`` top 40 and
  ``known_share``), warm, over every dev question and ``--rounds`` rounds;
- seconds from an ingest's commit of one small document until a reader in another process (a
  replica with its own data dir) finds it;
- a fresh replica's seconds to ready: a new engine over the catalog until its first answer;
- for BM25 in SQL (``postgres-bm25``): the seconds to write the postings of a catalog written
  before it, and how often its ranking is bm25s's (same top 1, same top 10 as a set);
- with ``--scale N``: the catalog padded with ``synthetic_corpus`` answers to N passages, then
  each engine's fresh replica, latency (``--scale-questions`` dev questions, one round) and one
  commit-to-visible round at that size;
- with ``--write-cost N`` instead: N synthetic passages written and then removed, the catalog alone
  vs the catalog with the BM25 postings (what an ingest and a rebuild pay for them).

    nice -n 10 python benchmarks/keyword_engines.py [--corpus ../shared/corpus] [--dev ../shared/eval/dev.jsonl]
                                                    [--engines bm25s postgres postgres-bm25] [--scale 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import chromadb
from sqlalchemy import func, select

from assistant.evaluation import is_hit
from assistant.settings import Settings
from benchmarks.synthetic_corpus import documents as synthetic_documents
from tests.fakes import FakeEmbedder
from values.document import DocumentRecord, StoredPassage
from values.passage import Passage
from values.text import Tokenizer
from vectorstore.keyword import KeywordIndex
from vectorstore.keyword_leg import KeywordHit, KeywordLeg
from vectorstore.pg_bm25 import PostgresBM25
from vectorstore.pg_keyword import NORMALIZATION, PostgresKeyword
from vectorstore.sql_catalog import SqlCatalog
from vraagbaak.compose import build_assistant

SHARED = Path(__file__).resolve().parents[2] / "shared"
COLLECTION = "bench"
CANDIDATES = 40
ENGINES = ("bm25s", "postgres", "postgres-bm25")


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL on a Unix socket (as root: run as the postgres account); yields its URL."""
    bindir = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    root = Path(tempfile.mkdtemp(prefix="vraagbaak-bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        os.chown(root, pwd.getpwnam("postgres").pw_uid, -1)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "bench", "--auth=trust", "-E",
                        "UTF8", "--locale=C", "--no-sync"], check=True, capture_output=True, cwd=root)
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                        f"-k {root} -c listen_addresses=''", "start"], check=True, capture_output=True, cwd=root)
        yield f"postgresql+psycopg://bench@/postgres?host={root}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def engine(name: str, catalog: SqlCatalog, data_dir: Path, normalization: int = NORMALIZATION) -> KeywordLeg:
    """One keyword engine over ``catalog`` (bm25s keeps its files in ``data_dir``, as a replica does)."""
    if name == "bm25s":
        return KeywordIndex(data_dir / "keyword", catalog, Tokenizer())
    if name == "postgres-bm25":
        return PostgresBM25(catalog, Tokenizer())
    return PostgresKeyword(catalog, Tokenizer(), normalization)


def ranked(leg: KeywordLeg, catalog: SqlCatalog, question: str) -> list[dict[str, object]]:
    """The leg's top 10 as retrieval returns them: question passages redirected to their answers, deduplicated."""
    hits = leg.search(question, CANDIDATES)
    rows = catalog.passages_by_id([h.passage_id for h in hits])
    rows.update(catalog.passages_by_id({r.answer_id for r in rows.values() if r.answer_id} - rows.keys()))
    out: list[dict[str, object]] = []
    seen: set[str] = set()
    for hit in hits:
        row = rows.get(hit.passage_id)
        if row is None:
            continue
        if row.answer_id and row.answer_id in rows:
            row = rows[row.answer_id]
        if row.passage_id not in seen:
            seen.add(row.passage_id)
            out.append({"source": row.passage.source, "start": row.passage.start, "end": row.passage.end})
    return out[:10]


def quality(leg: KeywordLeg, catalog: SqlCatalog, records: list[dict[str, object]]) -> dict[str, float]:
    """Keyword-only passage hit@1, hit@5 and MRR@10 (the hit rule of ``vraagbaak eval``)."""
    hit1 = hit5 = rr = 0.0
    for record in records:
        hits = [is_hit(item, record) for item in ranked(leg, catalog, str(record["question"]))]
        hit1 += any(hits[:1])
        hit5 += any(hits[:5])
        rr += next((1 / (rank + 1) for rank, hit in enumerate(hits) if hit), 0.0)
    n = len(records)
    return {"hit@1": round(hit1 / n, 3), "hit@5": round(hit5 / n, 3), "mrr@10": round(rr / n, 3),
            "hits@1": int(hit1), "questions": n}


def agreement(leg: KeywordLeg, baseline: KeywordLeg, questions: list[str]) -> dict[str, float]:
    """How often ``leg`` ranks as ``baseline`` does: the same best passage, the same top 10 (as a set).

    Where they differ, ``*_ties`` counts the questions where it is only the order of passages with
    the same score (the baseline scores our passage within 1e-5 of its own at that rank).
    """
    top1 = top10 = ties1 = ties10 = 0
    for q in questions:
        mine, theirs = leg.search(q, 10), baseline.search(q, CANDIDATES)
        score_of = {h.passage_id: h.score for h in theirs}

        def tied(rank: int, mine: list[KeywordHit] = mine, theirs: list[KeywordHit] = theirs,
                 score_of: dict[str, float] = score_of) -> bool:
            theirs_score = score_of.get(mine[rank].passage_id)
            return theirs_score is not None and abs(theirs_score - theirs[rank].score) <= 1e-5 * theirs[rank].score

        same1 = [h.passage_id for h in mine[:1]] == [h.passage_id for h in theirs[:1]]
        same10 = {h.passage_id for h in mine} == {h.passage_id for h in theirs[:10]}
        top1 += same1
        top10 += same10
        ties1 += not same1 and bool(mine) and tied(0)
        ties10 += not same10 and len(mine) == min(10, len(theirs)) and all(tied(r) for r in range(len(mine)))
    n = len(questions)
    return {"same_top1": round(top1 / n, 3), "same_top10_set": round(top10 / n, 3),
            "top1_differs_by_ties": ties1, "top10_differs_by_ties": ties10, "questions": n}


def sizes(catalog: SqlCatalog) -> dict[str, float]:
    """MB on disk with indexes: the passages table (with the full-text column and its GIN index), the postings."""
    prefix = catalog.passages_table.name.removesuffix("_passages")
    names = {"passages_mb": f"{prefix}_passages", "bm25_postings_mb": f"{prefix}_bm25_terms",
             "bm25_docs_mb": f"{prefix}_bm25_docs"}
    row = catalog.read(select(*(func.coalesce(func.pg_total_relation_size(func.to_regclass(name)), 0)
                                for name in names.values())))[0]
    return {key: round(int(size) / 2**20, 1) for key, size in zip(names, row, strict=True)}


def pad(catalog: SqlCatalog, passages: int, batch: int = 500) -> float:
    """Add ``synthetic_corpus`` documents (one passage per answer, the title as context) up to ``passages``.

    Returns the seconds the writes took (every engine's index is written with them).
    """
    started = time.perf_counter()
    have = catalog.passage_count()
    docs = synthetic_documents(seed=0)
    while have < passages:
        with catalog.writer_lock(), catalog.transaction() as tx:
            for document in (next(docs) for _ in range(batch)):
                source = f"/synthetic/{document.source}"
                title = document.text.splitlines()[0]
                rows = []
                for n, answer in enumerate(document.answers[:passages - have]):
                    passage = Passage(source=source, start=n * 1000, end=n * 1000 + len(answer), text=answer,
                                      context=title, kind="answer", title=title, doc_type="txt")
                    rows.append(StoredPassage(passage, passage.passage_id, n, True, None))
                if not rows:
                    break
                have += len(rows)
                tx.replace_document(DocumentRecord(source, document.source, title, "txt", "utf-8", len(document.text),
                                                   1.0, len(rows), 1.0), rows)
    return round(time.perf_counter() - started, 1)


def write_cost(url: str, passages: int) -> dict[str, object]:
    """Seconds to write ``passages`` synthetic passages and then remove them all, without and with the postings.

    Two collections in the same database, the same documents; the catalog alone is the baseline.
    """
    out: dict[str, object] = {"passages": passages}
    for name, postings in (("catalog_only", False), ("with_bm25_postings", True)):
        catalog = SqlCatalog(url, f"{COLLECTION}_{name}")
        if postings:
            PostgresBM25(catalog, Tokenizer())
        written = pad(catalog, passages)
        started = time.perf_counter()
        with catalog.writer_lock(), catalog.transaction() as tx:
            for source in catalog.documents():
                tx.remove_document(source)
        out[name] = {"write_s": written, "remove_all_s": round(time.perf_counter() - started, 1)}
        catalog.close()
    return out


def latency(leg: KeywordLeg, questions: list[str], rounds: int) -> dict[str, float]:
    """p50/p95 milliseconds of ``search`` (top 40) + ``known_share``, warm."""
    for q in questions[:5]:
        leg.search(q, CANDIDATES)
    times = []
    for _ in range(rounds):
        for q in questions:
            started = time.perf_counter()
            leg.search(q, CANDIDATES)
            leg.known_share(q)
            times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=100)
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(cuts[94], 1)}


def fresh_replica(make: Callable[[], KeywordLeg], question: str) -> float:
    """Seconds until a new engine over the catalog (nothing local yet) gives its first answer."""
    started = time.perf_counter()
    leg = make()
    leg.refresh()
    leg.search(question, CANDIDATES)
    return round(time.perf_counter() - started, 2)


READER = """
import sys, time
from pathlib import Path
from benchmarks.keyword_engines import engine
from vectorstore.sql_catalog import SqlCatalog
name, url, data_dir, word = sys.argv[1:5]
leg = engine(name, SqlCatalog(url, "bench"), Path(data_dir))
leg.search("warm", 40)
print("ready", flush=True)
deadline = time.time() + 600
while time.time() < deadline:
    if leg.search(word, 5):
        print(time.time(), flush=True)
        break
    time.sleep(0.01)
"""


def visibility(name: str, url: str, reader_dir: Path, write: Callable[[str], float], rounds: int) -> list[float]:
    """Seconds from the commit of a one-passage document to a reader process (another replica) finding it."""
    lags = []
    for _ in range(rounds):
        word = "zzq" + uuid.uuid4().hex[:10]
        reader = subprocess.Popen([sys.executable, "-c", READER, name, url, str(reader_dir), word],
                                  stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "ready"
        committed = write(word)
        found = reader.stdout.readline().strip()
        reader.wait(timeout=60)
        if not found:
            raise RuntimeError(f"{name}: the reader never found the new passage")
        lags.append(round(float(found) - committed, 3))
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--dev", type=Path, default=SHARED / "eval" / "dev.jsonl")
    parser.add_argument("--catalog-url", help="an empty PostgreSQL database instead of a throwaway server")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds over the dev questions")
    parser.add_argument("--visibility-rounds", type=int, default=3)
    parser.add_argument("--normalization", type=int, nargs="*", default=[0, 1, 2, 32],
                        help="ts_rank_cd normalisation masks to compare for quality")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--scale", type=int, default=0, help="then pad the catalog to this many passages and "
                                                             "measure latency, fresh replica and visibility again")
    parser.add_argument("--scale-questions", type=int, default=20)
    parser.add_argument("--write-cost", type=int, default=0, metavar="N",
                        help="only measure writing and removing N synthetic passages without and with the postings")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.write_cost:
        with postgres() if args.catalog_url is None else _given(args.catalog_url) as url:
            print(json.dumps(write_cost(url, args.write_cost), indent=None if args.json else 2))
        return
    records = [json.loads(line) for line in args.dev.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp, (
            postgres() if args.catalog_url is None else _given(args.catalog_url)) as url:
        work = Path(tmp)
        settings = Settings(data_dir=work / "writer", catalog_url=url, collection=COLLECTION,
                            embedder=FakeEmbedder.name, exclude=["README.md"], keyword_engine="postgres")
        assistant = build_assistant(settings, embedder=FakeEmbedder(), chroma_client=chromadb.EphemeralClient())
        started = time.perf_counter()
        report = assistant.ingest([args.corpus])
        ingest_seconds = time.perf_counter() - started
        catalog = SqlCatalog(url, COLLECTION)
        out: dict[str, object] = {"documents": catalog.document_count(), "passages": catalog.passage_count(),
                                  "ingest_seconds_fake_embedder": round(ingest_seconds, 1),
                                  "failed": len(report.failed)}
        questions = [str(r["question"]) for r in records]
        baseline = engine("bm25s", catalog, work / "bm25s-baseline")
        for name in args.engines:
            started = time.perf_counter()
            leg = engine(name, catalog, work / "bm25s-reader")
            result: dict[str, object] = {}
            if name == "postgres-bm25":  # the postings of everything ingested before: what switching costs
                result["index_existing_s"] = round(time.perf_counter() - started, 1)
            result["fresh_replica_s"] = fresh_replica(
                lambda n=name: engine(n, SqlCatalog(url, COLLECTION), work / f"fresh-{uuid.uuid4().hex}"),
                questions[0])
            result.update(quality(leg, catalog, records))
            result.update(latency(leg, questions, args.rounds))
            if name == "postgres":
                result["normalization"] = {n: quality(engine(name, catalog, work, n), catalog, records)
                                           for n in args.normalization}
            if name == "postgres-bm25":
                result["agreement_with_bm25s"] = agreement(leg, baseline, questions)
            writer = engine(name, catalog, work / "bm25s-writer")
            writer.refresh()
            result["visibility_s"] = visibility(name, url, work / "bm25s-reader",
                                                lambda word, w=writer: _write(catalog, w, word),
                                                args.visibility_rounds)
            out[name] = result
            print(json.dumps({name: result}), file=sys.stderr, flush=True)
        out["sizes"] = sizes(catalog)
        if args.scale:
            for name in args.engines:  # every engine's index is written by the padding
                engine(name, catalog, work / "bm25s-scale")
            out["scale"] = scale = {"pad_seconds": pad(catalog, args.scale), "passages": catalog.passage_count()}
            for name in args.engines:
                result = {"fresh_replica_s": fresh_replica(
                    lambda n=name: engine(n, SqlCatalog(url, COLLECTION), work / f"fresh-{uuid.uuid4().hex}"),
                    questions[0])}
                leg = engine(name, catalog, work / "bm25s-scale-reader")
                result.update(latency(leg, questions[:args.scale_questions], 1))
                writer = engine(name, catalog, work / "bm25s-scale-writer")
                writer.refresh()
                result["visibility_s"] = visibility(name, url, work / "bm25s-scale-reader",
                                                    lambda word, w=writer: _write(catalog, w, word), 1)
                scale[name] = result
                print(json.dumps({f"scale {name}": result}), file=sys.stderr, flush=True)
            scale["sizes"] = sizes(catalog)
        print(json.dumps(out, indent=None if args.json else 2))
        catalog.close()
        assistant.index.close()


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


def _write(catalog: SqlCatalog, writer: KeywordLeg, word: str) -> float:
    """Commit a one-passage document holding ``word``, as an ingest would (the writer's refresh before the lock goes).

    Returns the commit's wall-clock time.
    """
    source = f"/bench/new-{word}.txt"
    passage = Passage(source=source, start=0, end=40, text=f"Nieuw antwoord over {word} van de minister.",
                      kind="text", title="Nieuw", doc_type="txt")
    record = DocumentRecord(source, word, "Nieuw", "txt", "utf-8", 40, time.time(), 1, time.time())
    with catalog.writer_lock(), catalog.transaction() as tx:
        tx.replace_document(record, [StoredPassage(passage, passage.passage_id, 0, False, None)])
    committed = time.time()
    writer.refresh()  # as PassageIndex.writing does before it releases the lock (bm25s: build and save)
    return committed


if __name__ == "__main__":
    main()
