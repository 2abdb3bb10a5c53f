"""Ingest while serving: a reader process keeps answering during an ingest in another process and
never sees half a document; two ingests at once are serialised by the writer lock."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

import vectorstore.keyword
from assistant.assistant import Assistant
from ingest.chunking import Chunker, ChunkingConfig
from ingest.loaders import load
from tests.conftest import SAMPLES, SEED, SEED_QUESTION, SMALL_SET
from tests.store_view import catalog_of
from tests.test_crash import CHILD
from tests.test_incremental import index_state
from values.document import DocumentRecord, StoredPassage
from values.text import Tokenizer
from vectorstore.keyword import KeywordIndex
from vectorstore.sqlite_catalog import SqliteCatalog

NEW_DOC = ("Vraag\nHoeveel kost de nieuwe kabelbaan over de Maas in Namen?\n\n"
           "Antwoord\nDe kabelbaan over de Maas in Namen kost 12 miljoen euro en opent in 2027.\n")
NEW_QUESTION = "Wat kost de kabelbaan over de Maas in Namen?"
QUESTIONS = [SEED_QUESTION, NEW_QUESTION, "Hoeveel voertuigen heeft de politie?",
             "Wat is de budgettaire impact?", "Welke maatregelen neemt de minister?"]

# Asks the questions over and over in its own process; per answer it prints the hits and, read in
# one later catalog snapshot (its version printed too), the complete passage set of every document
# a hit came from.
READER = r'''
import json, sys
from pathlib import Path
from vraagbaak.compose import build_assistant
from assistant.settings import Settings

questions, stop = json.loads(sys.argv[1]), Path(sys.argv[2])
a = build_assistant(Settings())
a.ask(questions[0])
print("ready", flush=True)
last_round = False
while not last_round:
    last_round = stop.exists()
    for q in questions:
        answer = a.ask(q)
        hits = [[h.passage.source, h.passage_id] for h in answer.retrieved]
        with a.index.snapshot():
            seen_at = a.index.version
            sets = {s: sorted(r.passage_id for r in a.index.passages_of(s)) for s, _ in hits}
            documents = a.index.documents()
        print(json.dumps({"q": q, "version": answer.index_version, "hits": hits, "sets": sets, "sets_version": seen_at,
                          "recorded": {s: documents[s].passages for s in sets if s in documents},
                          "last": last_round}), flush=True)
'''


def env_for(data_dir: Path, minilm: str, cache: Path) -> dict[str, str]:
    return {**os.environ, "VRAAGBAAK_EMBEDDER": minilm, "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(cache),
            "VRAAGBAAK_DATA_DIR": str(data_dir)}


def passage_sets(a: Assistant) -> dict[str, set[str]]:
    return {s: catalog_of(a).passage_ids(s) for s in a.index.documents()}


@pytest.mark.model
@pytest.mark.slow
def test_reader_process_keeps_answering_and_never_sees_half_a_document(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path, minilm: str,
        embedding_cache: Path) -> None:
    data_dir = tmp_path / "index"
    initial = make_assistant(data_dir=data_dir)
    initial.ingest([docs])
    before = passage_sets(initial)
    first_version = initial.index.version
    initial.index.close()

    for path in sorted(docs.glob("bekamer_*.txt"))[:2]:  # every passage id of these two changes
        path.write_text("Bijgewerkt.\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    extra = [p for p in sorted((SAMPLES / "bekamer-2017").glob("*.txt")) if p not in SMALL_SET][:8]
    for path in extra:
        shutil.copy(path, docs)
    (docs / "kabelbaan.txt").write_text(NEW_DOC, encoding="utf-8")

    stop = tmp_path / "stop"
    errors = (tmp_path / "reader.err").open("w")
    reader = subprocess.Popen([sys.executable, "-c", READER, json.dumps(QUESTIONS), str(stop)],
                              env=env_for(data_dir, minilm, embedding_cache), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=errors, text=True)
    lines: list[str] = []
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"
    reading = threading.Thread(target=lambda: lines.extend(reader.stdout), daemon=True)  # type: ignore[arg-type]
    reading.start()
    # a fresh embedding cache and small batches: real embedding work, committed in several steps
    ingest = subprocess.run([sys.executable, "-c", CHILD, "none", "0", str(docs), "--json"],
                            env=env_for(data_dir, minilm, tmp_path / "fresh-cache"),
                            capture_output=True, text=True, timeout=600)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    report = json.loads(ingest.stdout)
    assert (report["added"], report["updated"], report["unchanged"]) == (9, 2, 5)
    stop.touch()
    reader.wait(timeout=300)
    reading.join(10)
    errors.close()
    err = (tmp_path / "reader.err").read_text()
    assert reader.returncode == 0 and "Traceback" not in err, err[-3000:]

    final = make_assistant(data_dir=data_dir)
    after = passage_sets(final)
    index_state(final)
    answers = [json.loads(line) for line in lines]
    during = [a for a in answers if not a["last"]]
    assert len(during) >= len(QUESTIONS), "the reader must have answered while the ingest ran"
    versions = [a["version"] for a in answers]
    assert versions == sorted(versions) and versions[-1] == final.index.version
    assert any(first_version < v < versions[-1] for v in versions), "answers between two commits"
    same_state = 0
    for answer in answers:
        for source, ids in answer["sets"].items():
            # at every moment a document is either completely old or completely new
            assert set(ids) in (before.get(source), after.get(source)), source
            assert answer["recorded"][source] == len(ids)
        for source, passage_id in answer["hits"]:
            # every hit is a passage of a complete version of its document
            assert passage_id in before.get(source, set()) | after.get(source, set()), source
        if answer["sets_version"] == answer["version"]:  # no commit between answer and check
            same_state += 1
            for source, passage_id in answer["hits"]:
                assert passage_id in answer["sets"][source], source
    assert same_state >= len(QUESTIONS), "hits checked against the state they were read in"
    last = {a["q"]: a for a in answers if a["last"]}
    assert last[NEW_QUESTION]["hits"][0][0] == str(docs / "kabelbaan.txt"), "new documents are seen"


def waiting_for_lock(log: Path) -> bool:
    """Whether the ingest logging to ``log`` has tried the writer lock and found it taken.

    filelock polls a non-blocking flock and logs each failed try at DEBUG (the child routes that
    logger to this file): the real condition, not a guess of how long starting up takes.
    """
    return log.exists() and "not acquired" in log.read_text()


@pytest.mark.model
@pytest.mark.slow
def test_two_ingests_at_once_are_serialised(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path, minilm: str) -> None:
    data_dir = tmp_path / "index"
    data_dir.mkdir()
    lock_file = data_dir / "ingest.lock"
    env = env_for(data_dir, minilm, tmp_path / "fresh-cache")
    held = FileLock(lock_file)  # as a running writer holds it: both ingests start, then queue up behind it
    with held:
        logs = [tmp_path / f"lock-{n}.log" for n in range(2)]
        procs = [subprocess.Popen([sys.executable, "-c", CHILD, "none", "0", str(docs), "--json"],
                                  env={**env, "VB_LOCK_LOG": str(log)},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for log in logs]
        deadline = time.monotonic() + 300
        while not all(waiting_for_lock(log) for log in logs):
            ended = [p.communicate()[1][-2000:] for p in procs if p.poll() is not None]
            assert not ended, f"an ingest ended before it reached the writer lock: {ended}"
            assert time.monotonic() < deadline, "the ingests never tried the writer lock"
            time.sleep(0.2)
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    reports = sorted((json.loads(out) for out, _ in outputs), key=lambda r: r["added"])
    assert [(r["added"], r["unchanged"]) for r in reports] == [(0, 7), (7, 0)]
    assert reports[0]["embedded"] == 0 and reports[1]["embedded"] > 0
    a = make_assistant(data_dir=data_dir)
    by_source = index_state(a)
    assert len(by_source) == 7 and a.index.vector_count() == reports[1]["embedded"]
    assert len(a.status()["runs"]) == 2


def catalog_with_seed(tmp_path: Path, docs: Path) -> tuple[SqliteCatalog, str, int]:
    """A catalog holding the seed document (no embedder needed)."""
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    doc = load(docs / SEED.name)
    passages = Chunker(ChunkingConfig(1200, 150, True)).split(doc)
    record = DocumentRecord(doc.source, "hash", doc.title, doc.doc_type, doc.encoding, 1, 1.0,
                            len(passages), 1.0)
    rows = [StoredPassage(p, p.passage_id, n, True, None) for n, p in enumerate(passages)]
    with catalog.transaction() as write:
        write.replace_document(record, rows)
    return catalog, doc.source, len(passages)


def test_a_reader_thread_never_sees_the_writer_threads_open_transaction(tmp_path: Path,
                                                                       docs: Path) -> None:
    """serve --watch shares one catalog between the watcher and the chat threads."""
    catalog, source, count = catalog_with_seed(tmp_path, docs)
    inside, release = threading.Event(), threading.Event()

    def write() -> None:
        with catalog.transaction() as write:
            write.remove_document(source)
            inside.set()
            release.wait(10)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert inside.wait(10)
        assert len(catalog.passages_of(source)) == count
        assert source in catalog.documents()
    finally:
        release.set()
        writer.join()
    assert catalog.passages_of(source) == [] and catalog.version == 2
    catalog.close()


def test_keyword_saves_by_two_processes_at_once_leave_a_valid_file(
        tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A serving reader and an ingest may both save the keyword index at the same moment."""
    catalog, _, count = catalog_with_seed(tmp_path, docs)
    halfway, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def dump(obj: object, f: Any) -> None:
        data = pickle.dumps(obj)
        if threading.current_thread().name != "slow":
            f.write(data)
            return
        f.write(data[:50])
        f.flush()
        halfway.set()
        release.wait(10)
        f.write(data[50:])

    monkeypatch.setattr(vectorstore.keyword, "pickle", types.SimpleNamespace(
        dump=dump, load=pickle.load, UnpicklingError=pickle.UnpicklingError))

    def slow() -> None:
        try:
            KeywordIndex(tmp_path / "keyword", catalog, Tokenizer()).refresh()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)

    saver = threading.Thread(target=slow, name="slow")
    saver.start()
    assert halfway.wait(10)
    KeywordIndex(tmp_path / "keyword", catalog, Tokenizer()).refresh()  # the other saver, start to finish
    release.set()
    saver.join()
    assert errors == []
    with (tmp_path / "keyword" / "keyword.pkl").open("rb") as f:
        saved = pickle.load(f)
    assert saved["version"] == catalog.version and len(saved["ids"]) == count
    assert not list((tmp_path / "keyword").glob("*.tmp"))
    catalog.close()
