"""The client/server path: a real `chroma run` on a free loopback port."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

import ingest.pipeline
from assistant.assistant import Assistant
from tests.conftest import SEED_QUESTION
from tests.servers import chroma_run, free_port
from tests.store_view import catalog_of
from values.errors import StoreError

pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """A server of this test's own (the module-wide one of tests/servers.py would share collections)."""
    with chroma_run(tmp_path / "server-data") as port:
        yield port


def test_assistant_over_a_chroma_server(make_assistant: Callable[..., Assistant], docs: Path,
                                         chroma_server: int, tmp_path: Path) -> None:
    a = make_assistant(chroma_host="127.0.0.1", chroma_port=chroma_server)
    report = a.ingest([docs])
    assert report.added == 7
    # the vectors live in the server, not in the local data dir
    assert not (tmp_path / "index" / "chroma").exists()
    assert a.index.vector_count() == catalog_of(a).passage_ids(dense_only=True).__len__() > 0
    answer = a.ask(SEED_QUESTION)
    assert answer.answered and "75.000 euro" in answer.citations[0].hit.passage.text
    # a second client process sees the same collection
    again = make_assistant(chroma_host="127.0.0.1", chroma_port=chroma_server)
    assert again.index.vector_count() == a.index.vector_count()


def test_unreachable_server_is_a_clear_error(make_assistant: Callable[..., Assistant]) -> None:
    with pytest.raises(StoreError, match="Chroma server"):
        make_assistant(chroma_host="127.0.0.1", chroma_port=free_port())


def test_a_question_while_the_server_is_down_is_a_clear_error_and_answers_once_it_is_back(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path) -> None:
    with chroma_run(tmp_path / "server-data") as port:
        a = make_assistant(chroma_host="127.0.0.1", chroma_port=port)
        a.ingest([docs])
        assert a.ask(SEED_QUESTION).answered and a.readiness() is None
    # stopped: neither a keyword-only answer nor a refusal, but the server named as the reason
    with pytest.raises(StoreError, match=f"Chroma server at 127.0.0.1:{port} does not answer"):
        a.ask(SEED_QUESTION)
    assert f"127.0.0.1:{port} does not answer" in (a.readiness() or "")
    with chroma_run(tmp_path / "server-data", port=port):  # the same vraagbaak, no restart of it
        assert a.readiness() is None
        answer = a.ask(SEED_QUESTION)
        assert answer.answered and "75.000 euro" in answer.citations[0].hit.passage.text


def test_an_ingest_cut_off_by_the_server_fails_cleanly_and_the_next_run_repairs(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest.pipeline, "_BATCH_PASSAGES", 1)  # one commit per file
    files = len(list(docs.iterdir()))
    with ExitStack() as server:
        port = server.enter_context(chroma_run(tmp_path / "server-data"))
        a = make_assistant(chroma_host="127.0.0.1", chroma_port=port)

        def stop_after_the_third(done: int, total: int, path: str) -> None:
            if done == 3:
                server.close()  # the server stops between two commits

        with pytest.raises(StoreError, match=f"127.0.0.1:{port} does not answer"):
            a.ingest([docs], progress=stop_after_the_third)
    assert a.index.document_count() == 3  # what was committed stays; nothing half-written shows
    with chroma_run(tmp_path / "server-data", port=port):
        report = a.ingest([docs])
        assert (report.added, report.unchanged, report.failed) == (files - 3, 3, [])
        assert a.index.document_count() == files
        assert a.index.vector_count() == len(catalog_of(a).passage_ids(dense_only=True))
        assert a.ask(SEED_QUESTION).answered
