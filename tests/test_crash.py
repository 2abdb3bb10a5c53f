"""Crash safety: `vraagbaak ingest` SIGKILLed at every step of the write protocol leaves an index that
the next ingest repairs to exactly what a clean ingest gives: no duplicate, no orphan, nothing half.

The child process kills itself with SIGKILL at a named point (the same as ``kill -9`` arriving
there, but deterministic); one case kills it from outside when the catalog shows partial progress.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.assistant import Assistant
from tests.conftest import SEED, SEED_QUESTION
from tests.store_view import catalog_of, dense_of
from tests.test_incremental import finds_seed_answer, index_state

pytestmark = [pytest.mark.model, pytest.mark.slow]  # the children run the real CLI

QUESTIONS = [SEED_QUESTION, "Hoeveel voertuigen heeft de politie?", "Wat is de budgettaire impact?",
             "Welke maatregelen neemt de minister?"]

# Runs the real CLI after arming a SIGKILL at one point of the write protocol (small batches, so
# that a run commits several times).
CHILD = r'''
import os, pickle, signal, sys, types
import chromadb.api.client
import ingest.pipeline
import vectorstore.keyword
from vectorstore.chroma import DenseStore
from vectorstore.sqlite_catalog import _SqliteWrite

ingest.pipeline._BATCH_PASSAGES = 8
if os.environ.get("VB_LOCK_LOG"):  # the writer lock's tries, for a test waiting on them
    import logging
    logging.getLogger("filelock").addHandler(logging.FileHandler(os.environ["VB_LOCK_LOG"]))
    logging.getLogger("filelock").setLevel(logging.DEBUG)
point, nth = sys.argv[1], int(sys.argv[2])
calls = [0]

def hit():
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)

def arm(owner, name, *, before, when=lambda *a, **k: True, static=False):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        if before and when(*args, **kwargs):
            hit()
        result = original(*args, **kwargs)
        if not before and when(*args, **kwargs):
            hit()
        return result
    setattr(owner, name, staticmethod(wrapper) if static else wrapper)

if point == "vectors-written":  # upserted to Chroma, catalog transaction not yet begun
    arm(DenseStore, "add", before=False, when=lambda self, ids, *a: bool(ids))
elif point == "mid-transaction":  # some documents written inside the open catalog transaction
    arm(_SqliteWrite, "replace_document", before=False)
elif point == "committed":  # catalog committed, replaced/old vectors not yet deleted
    arm(DenseStore, "delete", before=True, when=lambda self, ids: bool(ids))
elif point == "rename-copied":  # vectors copied to the new ids, catalog not yet moved
    arm(DenseStore, "copy", before=False)
elif point == "reset-catalog-cleared":  # --rebuild: catalog emptied, collection not yet dropped
    arm(chromadb.api.client.Client, "delete_collection", before=True)
elif point == "reset-collection-dropped":  # --rebuild: collection dropped, not yet re-created
    arm(chromadb.api.client.Client, "delete_collection", before=False)
elif point == "keyword-save":  # half a keyword pickle written to its temp file
    def dump(obj, f):
        f.write(pickle.dumps(obj)[:100])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    vectorstore.keyword.pickle = types.SimpleNamespace(
        dump=dump, load=pickle.load, UnpicklingError=pickle.UnpicklingError)
elif point != "none":
    raise SystemExit(f"unknown kill point {point}")

sys.argv = ["vraagbaak", "ingest", *sys.argv[3:]]
from vraagbaak.cli import main
main()
'''


def child(point: str, nth: int, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CHILD, point, str(nth), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture
def env(tmp_path: Path, minilm: str, embedding_cache: Path) -> dict[str, str]:
    return {**os.environ, "VRAAGBAAK_EMBEDDER": minilm, "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache),
            "VRAAGBAAK_DATA_DIR": str(tmp_path / "killed")}


def killed(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"the kill point was never reached: {err.decode()[-2000:]}"


def retrieval(a: Assistant) -> list[list[str]]:
    return [[h.passage_id for h in a.retriever.retrieve(q, 5).hits] for q in QUESTIONS]


def assert_repaired(make_assistant: Callable[..., Assistant], killed_dir: Path, folder: Path,
                    tmp_path: Path, **ingest: bool) -> None:
    """Re-run the ingest on the killed index and compare it to a clean ingest in another data dir."""
    recovered = make_assistant(data_dir=killed_dir)
    report = recovered.ingest([folder], **ingest)
    assert not report.failed
    clean = make_assistant(data_dir=tmp_path / "clean")
    clean.ingest([folder])
    assert index_state(recovered) == index_state(clean)  # per document: the same passage ids
    assert recovered.index.vector_count() == clean.index.vector_count()
    assert recovered.status()["passages"] == clean.status()["passages"]
    assert retrieval(recovered) == retrieval(clean)
    assert finds_seed_answer(recovered)


@pytest.mark.parametrize(("point", "nth"), [
    ("vectors-written", 2), ("mid-transaction", 3), ("committed", 1), ("keyword-save", 1)])
def test_first_ingest_killed(point: str, nth: int, env: dict[str, str], docs: Path, tmp_path: Path,
                             make_assistant: Callable[..., Assistant]) -> None:
    if point == "committed":  # a first ingest deletes nothing: kill an update of every document
        make_assistant(data_dir=tmp_path / "killed").ingest([docs])
        for path in docs.glob("*.txt"):
            path.write_text("Bijgewerkt.\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    killed(child(point, nth, str(docs), env=env))
    if point == "keyword-save":  # the old pickle (none) stays; the half-written temp file is swept later
        left = list((tmp_path / "killed" / "keyword").glob("keyword.*.tmp"))
        assert len(left) == 1 and not (tmp_path / "killed" / "keyword" / "keyword.pkl").exists()
        os.utime(left[0], (time.time() - 7200, time.time() - 7200))
    assert_repaired(make_assistant, tmp_path / "killed", docs, tmp_path)
    assert not list((tmp_path / "killed" / "keyword").glob("keyword.*.tmp"))


def test_killed_from_outside_while_the_catalog_is_half_filled(
        env: dict[str, str], docs: Path, tmp_path: Path, make_assistant: Callable[..., Assistant]) -> None:
    env = {**env, "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(tmp_path / "fresh-cache")}  # real embedding work
    proc = child("none", 0, str(docs), env=env)
    catalog = tmp_path / "killed" / "catalog.sqlite3"
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1) as db:
                documents = db.execute("SELECT count(*) FROM documents").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            documents = 0
        if documents >= 1:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    killed(proc)
    partial = make_assistant(data_dir=tmp_path / "killed")
    assert 1 <= partial.status()["documents"] < 7, "the kill must have cut the run short"
    # even before the repair, what the catalog holds is complete (orphan vectors are invisible)
    catalog = catalog_of(partial)
    for source, record in catalog.documents().items():
        assert len(catalog.passages_of(source)) == record.passages
    assert catalog.passage_ids(dense_only=True) <= dense_of(partial).ids()
    partial.index.close()
    assert_repaired(make_assistant, tmp_path / "killed", docs, tmp_path)


@pytest.mark.parametrize("point", ["rename-copied", "committed"])
def test_rename_killed(point: str, env: dict[str, str], docs: Path, tmp_path: Path,
                       make_assistant: Callable[..., Assistant]) -> None:
    make_assistant(data_dir=tmp_path / "killed").ingest([docs])
    (docs / SEED.name).rename(docs / "verplaatst.txt")
    killed(child(point, 1, str(docs), env=env))
    assert_repaired(make_assistant, tmp_path / "killed", docs, tmp_path)
    again = make_assistant(data_dir=tmp_path / "killed").ingest([docs])
    assert again.unchanged == 7 and again.embedded == 0


@pytest.mark.parametrize("point", ["reset-catalog-cleared", "reset-collection-dropped"])
def test_rebuild_killed(point: str, env: dict[str, str], docs: Path, tmp_path: Path,
                        make_assistant: Callable[..., Assistant]) -> None:
    make_assistant(data_dir=tmp_path / "killed").ingest([docs])
    killed(child(point, 1, str(docs), "--rebuild", env=env))
    # a plain ingest (no --rebuild) must not keep documents whose vectors are gone: it re-adds all
    assert_repaired(make_assistant, tmp_path / "killed", docs, tmp_path)
