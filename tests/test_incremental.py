"""Incremental ingest by content hash: add, change, rename, delete, remove, settings changes and the
run history, with exact passage counts checked in Chroma, the catalog and the keyword index."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vectorstore.keyword
from assistant.assistant import Assistant
from ingest.loaders import load
from tests.conftest import SEED, SEED_QUESTION
from tests.store_view import catalog_of, data_dir_of, dense_of, keyword_of
from values.errors import EmbedderMismatchError, StoreError
from values.text import Tokenizer
from vectorstore.keyword import KeywordIndex
from vraagbaak.cli import app

KEYWORD_ONLY = {"question", "header"}


def expected_ids(a: Assistant, path: Path) -> tuple[set[str], set[str]]:
    """(all passage ids, dense ids) a fresh ingest of ``path`` gives, straight from the chunker."""
    passages = a.ingestor.chunker.split(load(path.resolve()))
    return ({p.passage_id for p in passages},
            {p.passage_id for p in passages if p.kind not in KEYWORD_ONLY})


def expected_for(a: Assistant, folder: Path) -> dict[str, tuple[set[str], set[str]]]:
    return {str(p.resolve()): expected_ids(a, p) for p in sorted(folder.glob("*.txt"))}


def index_state(a: Assistant) -> dict[str, set[str]]:
    """Check the three stores agree (no duplicate, no orphan) and return passage ids by source."""
    catalog = catalog_of(a)
    documents = catalog.documents()
    by_source = {source: {r.passage_id for r in catalog.passages_of(source)} for source in documents}
    for source, record in documents.items():
        assert record.passages == len(by_source[source]), f"{source}: record and rows disagree"
    every = [i for ids in by_source.values() for i in ids]
    assert len(every) == len(set(every)) == catalog.passage_count()

    dense = dense_of(a)
    got = dense._collection.get(include=["metadatas"])
    assert len(got["ids"]) == len(set(got["ids"])) == dense.count()
    committed_dense = catalog.passage_ids(dense_only=True)
    assert set(got["ids"]) == committed_dense, "orphan or missing vectors"
    owner = {i: s for s, ids in by_source.items() for i in ids}
    for pid, meta in zip(got["ids"], got["metadatas"], strict=True):
        assert meta["source"] == owner[pid], f"vector {pid} points at {meta['source']}"

    keyword = keyword_of(a)
    if not isinstance(keyword, KeywordIndex):  # full-text search in the catalog: its rows are the index
        return by_source
    keyword.refresh()
    assert sorted(keyword.ids) == sorted(every)
    with (data_dir_of(a) / "keyword" / "keyword.pkl").open("rb") as f:
        saved = pickle.load(f)
    assert saved["version"] == catalog.version and sorted(saved["ids"]) == sorted(every)
    return by_source


def assert_matches(a: Assistant, expected: dict[str, tuple[set[str], set[str]]]) -> None:
    by_source = index_state(a)
    assert set(by_source) == set(expected)
    for source, (ids, dense_ids) in expected.items():
        assert by_source[source] == ids, source
        assert catalog_of(a).passage_ids(source, dense_only=True) == dense_ids, source
    assert a.index.vector_count() == sum(len(d) for _, d in expected.values())
    assert a.index.passage_count() == sum(len(i) for i, _ in expected.values())


def finds_seed_answer(a: Assistant) -> bool:
    """The seed question retrieves the seed's answer passage first, at its exact place in the file
    (whatever the answerer makes of it; the seed may have been renamed)."""
    top = a.ask(SEED_QUESTION).retrieved[0].passage
    located = Path(top.source).read_text(encoding="utf-8")[top.start:top.end] == top.text
    return located and "75.000 euro" in top.text


def dense_total(expected: dict[str, tuple[set[str], set[str]]]) -> int:
    return sum(len(d) for _, d in expected.values())


def test_add_change_rename_copy_back_delete_and_remove(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path) -> None:
    a = make_assistant()
    report = a.ingest([docs])
    expected = expected_for(a, docs)
    assert (report.added, report.updated, report.unchanged, report.failed) == (7, 0, 0, [])
    assert report.embedded == dense_total(expected)
    assert report.passages == sum(len(i) for i, _ in expected.values())
    assert_matches(a, expected)

    version = a.index.version
    again = a.ingest([docs])
    assert (again.added, again.updated, again.unchanged, again.renamed, again.removed) == (0, 0, 7, 0, 0)
    assert again.embedded == 0
    assert a.index.version == version, "a no-op run must not invalidate readers' caches"
    assert_matches(a, expected)

    changed = docs / SEED.name
    changed.write_text(changed.read_text(encoding="utf-8")
                       + "\n\nAANVULLING\nDe zeppelinhaven van Kortrijk opent in maart.\n", encoding="utf-8")
    old_ids = expected[str(changed)][0]
    report = a.ingest([docs])
    expected = expected_for(a, docs)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 6)
    assert report.embedded == len(expected[str(changed)][1])
    assert old_ids - expected[str(changed)][0], "the change must replace some passages"
    assert_matches(a, expected)
    hits = a.retriever.retrieve("zeppelinhaven Kortrijk", 3).hits
    assert hits[0].passage.source == str(changed) and "zeppelinhaven" in hits[0].passage.text

    moved = docs / "renamed.txt"
    changed.rename(moved)
    report = a.ingest([docs])
    assert (report.renamed, report.added, report.updated, report.removed, report.embedded) == (1, 0, 0, 0, 0)
    expected = expected_for(a, docs)
    assert_matches(a, expected)  # the moved passages carry exactly the ids a fresh ingest gives
    assert a.retriever.retrieve("zeppelinhaven Kortrijk", 1).hits[0].passage.source == str(moved)

    shutil.copy(moved, changed)  # same content back at the old path: no id may collide
    report = a.ingest([docs])
    assert (report.added, report.renamed, report.unchanged) == (1, 0, 7)
    expected = expected_for(a, docs)
    assert_matches(a, expected)

    gone = sorted(docs.glob("bekamer_*.txt"))[0]
    gone.unlink()
    report = a.ingest([docs])
    assert report.removed == 0 and str(gone) in a.index.documents(), "only --sync removes"
    assert report.stale == [str(gone)], "but the run says the index holds a file the disk no longer does"
    report = a.ingest([docs], sync=True)
    assert (report.removed, report.unchanged) == (1, 7)
    del expected[str(gone)]
    assert_matches(a, expected)

    assert a.remove(moved) == 1
    assert a.remove(moved) == 0
    del expected[str(moved)]
    assert_matches(a, expected)
    runs = a.status()["runs"]
    assert [r["removed"] for r in runs[:2]] == [1, 0] and len(runs) == 5


def test_sync_only_touches_the_folders_given(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(SEED, other / "elsewhere.txt")
    a = make_assistant()
    a.ingest([docs, other])
    (docs / SEED.name).unlink()
    (other / "elsewhere.txt").unlink()
    report = a.ingest([docs], sync=True)
    assert report.removed == 1
    assert set(a.index.documents()) == ({str(p) for p in docs.glob("*.txt")}
                                                | {str(other / "elsewhere.txt")})
    index_state(a)


def test_reader_opened_before_an_ingest_sees_its_result(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path) -> None:
    seed_only = tmp_path / "seed"
    seed_only.mkdir()
    shutil.copy(SEED, seed_only)
    writer = make_assistant()
    writer.ingest([seed_only])
    reader = make_assistant()
    assert finds_seed_answer(reader)
    version = reader.index.version
    extra = seed_only / "extra.txt"
    extra.write_text("Vraag\nWat kost de nieuwe kabelbaan in Namen?\n\nAntwoord\n"
                     "De kabelbaan in Namen kost 12 miljoen euro.\n", encoding="utf-8")
    writer.ingest([seed_only])
    answer = reader.ask("Wat kost de kabelbaan in Namen?")
    assert answer.index_version > version
    assert answer.retrieved[0].passage.source == str(extra)


def test_chunk_size_change_is_detected_and_rebuilds(
        make_assistant: Callable[..., Assistant], docs: Path) -> None:
    a = make_assistant()
    a.ingest([docs])
    before = index_state(a)
    a.index.close()

    small = make_assistant(chunk_size=400)
    with pytest.raises(StoreError, match="other settings") as info:
        small.ask(SEED_QUESTION)
    assert "chunk_size=1200" in str(info.value) and "chunk_size=400" in str(info.value)
    report = small.ingest([docs])
    assert (report.added, report.unchanged, report.updated) == (7, 0, 0)
    expected = expected_for(small, docs)
    assert_matches(small, expected)
    assert sum(len(i) for i, _ in expected.values()) > sum(len(i) for i in before.values())
    assert {s: i for s, (i, _) in expected.items()} != before  # and assert_matches: no old passage left
    assert small.index.built_with is not None and small.index.built_with.chunk_size == 400
    assert small.status()["runs"][0]["settings"]["chunk_size"] == 400
    assert finds_seed_answer(small)


def test_rebuild_starts_over(make_assistant: Callable[..., Assistant], docs: Path) -> None:
    a = make_assistant()
    a.ingest([docs])
    expected = expected_for(a, docs)
    report = a.ingest([docs], rebuild=True)
    assert (report.added, report.unchanged) == (7, 0)
    assert report.embedded == dense_total(expected)
    assert_matches(a, expected)


@pytest.mark.model
def test_another_embedder_is_a_clear_error_until_rebuild(
        make_assistant: Callable[..., Assistant], tmp_path: Path, minilm: str) -> None:
    folder = tmp_path / "seed"
    folder.mkdir()
    shutil.copy(SEED, folder)
    a = make_assistant()
    a.ingest([folder])
    before = index_state(a)
    a.index.close()

    e5 = make_assistant(embedder="e5-small")
    for attempt in (lambda: e5.ask(SEED_QUESTION), lambda: e5.ingest([folder])):
        with pytest.raises(EmbedderMismatchError) as info:
            attempt()
        message = str(info.value)
        assert minilm in message and "'e5-small'" in message and "--rebuild" in message
    e5.index.close()
    assert index_state(make_assistant()) == before, "a refused ingest must leave the index as it was"

    e5 = make_assistant(embedder="e5-small")
    report = e5.ingest([folder], rebuild=True)
    assert report.added == 1
    assert dense_of(e5)._collection.metadata["embedder"] == "e5-small"
    assert index_state(e5) == before  # same passages, now with e5 vectors
    assert finds_seed_answer(e5)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, minilm: str, embedding_cache: Path, tmp_path: Path) -> Path:
    data_dir = tmp_path / "cli-index"
    monkeypatch.setenv("VRAAGBAAK_EMBEDDER", minilm)
    monkeypatch.setenv("VRAAGBAAK_EMBEDDING_CACHE_DIR", str(embedding_cache))
    monkeypatch.setenv("VRAAGBAAK_DATA_DIR", str(data_dir))
    return data_dir


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.model  # the CLI builds from env settings: a real model (loaded once per process)
def test_cli_ingest_status_remove_and_history(cli_env: Path, docs: Path) -> None:
    code, out, _ = run_cli("ingest", str(docs), "--json")
    assert code == 0
    first = json.loads(out)
    assert (first["added"], first["unchanged"], first["failed"]) == (7, 0, [])

    code, out, _ = run_cli("ingest", str(docs), "--json")
    second = json.loads(out)
    assert (second["added"], second["unchanged"], second["embedded"]) == (0, 7, 0)

    code, out, _ = run_cli("status", "--json")
    status = json.loads(out)
    assert (status["documents"], status["passages"]) == (7, first["passages"])
    assert status["data_dir"] == str(cli_env.resolve())
    newest, older = status["runs"][:2]
    assert (newest["unchanged"], older["added"]) == (7, 7)
    for run in (newest, older):
        assert run["seconds"] >= 0 and len(run["started_at"]) == 19
        assert run["settings"]["embedder"] == status["embedder"] and run["settings"]["chunk_size"] == 1200

    code, _, err = run_cli("status")
    assert code == 0

    target = docs / SEED.name
    code, _, err = run_cli("remove", str(target))
    assert code == 0 and "removed" in err
    code, _, err = run_cli("remove", str(target))
    assert code == 1 and "was not indexed" in err
    code, out, _ = run_cli("status", "--json")
    assert json.loads(out)["documents"] == 6

    code, out, _ = run_cli("ingest", str(docs), "--json")
    assert json.loads(out)["added"] == 1
    target.unlink()
    code, out, _ = run_cli("ingest", str(docs), "--sync", "--json")
    assert json.loads(out)["removed"] == 1
    code, out, _ = run_cli("ingest", str(docs), "--rebuild", "--json")
    rebuilt = json.loads(out)
    assert (rebuilt["added"], rebuilt["unchanged"]) == (6, 0)
    code, out, _ = run_cli("status", "--json")
    status = json.loads(out)
    assert status["documents"] == 6 and len(status["runs"]) == 5


def test_sync_everything_rereads_the_folders_and_files_given_and_nothing_beside_them(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    loose = elsewhere / "los.txt"
    loose.write_text("Losse nota\n\nDe kabelbaan in Namen kost 12 miljoen euro.\n", encoding="utf-8")
    (elsewhere / "buur.txt").write_text("Een buur die nooit werd toegevoegd.\n", encoding="utf-8")
    a = make_assistant()
    a.ingest([docs, loose])
    assert a.index.folders() == {str(docs.resolve()): []}
    before = set(a.index.documents())

    (docs / "nieuw.txt").write_text("Nieuw document\n\nOver de haven van Gent.\n", encoding="utf-8")
    report = a.sync_all()
    assert (report.added, report.removed, report.failed) == (1, 0, [])
    assert set(a.index.documents()) == before | {str((docs / "nieuw.txt").resolve())}

    loose.unlink()  # a file given on its own and now gone: removed, not a failure
    report = a.sync_all()
    assert (report.removed, report.failed) == (1, [])
    assert str(loose.resolve()) not in a.index.documents()

    shutil.rmtree(docs)  # a folder given and now gone: its documents leave, the folder is forgotten
    report = a.sync_all()
    assert (report.removed, report.failed, a.index.document_count()) == (len(before), [], 0)
    assert a.index.folders() == {}



def test_readers_load_the_bm25_the_ingest_built(make_assistant: Callable[..., Assistant], docs: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_assistant()
    a.ingest([docs])
    build = vectorstore.keyword._build
    monkeypatch.setattr(vectorstore.keyword, "_build", lambda tokens: pytest.fail("a reader rebuilt BM25"))
    reader = KeywordIndex(data_dir_of(a) / "keyword", catalog_of(a), Tokenizer())
    expected = reader.search("projectsubsidie OTA WVG", 3)
    assert expected and len(reader.ids) == a.index.passage_count()

    saved_file = data_dir_of(a) / "keyword" / "keyword.pkl"  # as another bm25s version left it
    saved = pickle.loads(saved_file.read_bytes())
    saved_file.write_bytes(pickle.dumps({**saved, "bm25s": "0.0.1"}))
    built: list[int] = []
    monkeypatch.setattr(vectorstore.keyword, "_build", lambda tokens: built.append(len(tokens)) or build(tokens))
    other = KeywordIndex(data_dir_of(a) / "keyword", catalog_of(a), Tokenizer())
    assert other.search("projectsubsidie OTA WVG", 3) == expected  # rebuilt from the saved tokens
    assert built == [len(saved["tokens"])]


def test_excluded_files_are_left_out_and_a_sync_drops_them(make_assistant: Callable[..., Assistant],
                                                           docs: Path, tmp_path: Path) -> None:
    (docs / "README.md").write_text("# Over deze map\n\nGeen document.\n", encoding="utf-8")
    (docs / "drafts").mkdir()
    (docs / "drafts" / "concept.txt").write_text("Concept\n\nNog niet af.\n", encoding="utf-8")
    (docs / "drafts" / "README.md.txt").write_text("Een document met een rare naam.\n", encoding="utf-8")
    a = make_assistant()
    a.ingest([docs])
    indexed = {Path(s).relative_to(docs.resolve()).as_posix() for s in a.index.documents()}
    assert {"README.md", "drafts/concept.txt"} <= indexed
    a.index.close()

    b = make_assistant(exclude=["README.md"])  # configured: everywhere
    report = b.ingest([docs], sync=True, exclude=["drafts/*.txt"])  # given: remembered with the folder
    assert report.removed == 3 and report.failed == []
    left = {Path(s).relative_to(docs.resolve()).as_posix() for s in b.index.documents()}
    assert left == indexed - {"README.md", "drafts/concept.txt", "drafts/README.md.txt"}
    assert b.index.folders() == {str(docs.resolve()): ["drafts/*.txt"]}
    assert b.sync_all().added == 0  # a later sync keeps the folder's patterns
    assert b.ingest([docs / "README.md"]).added == 1  # a file named on its own is always taken
    assert b.ingest([docs]).added == 2  # the folder given again, without patterns: they are gone
    assert b.index.folders() == {str(docs.resolve()): []}


def test_the_watcher_ignores_excluded_files(docs: Path) -> None:
    from ingest.watch import _Handler

    changes: list[int] = []
    handler = _Handler([docs], lambda: changes.append(1), ("README.md", "drafts/*"))
    assert not handler._relevant(docs / "README.md", False)
    assert not handler._relevant(docs / "drafts" / "a.txt", False)
    assert not handler._relevant(docs / "~$lock.docx", False)
    assert handler._relevant(docs / "sub" / "a.txt", False)
