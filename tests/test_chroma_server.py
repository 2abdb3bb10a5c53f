"""The client/server path: a real `chroma run` on a free loopback port."""

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.assistant import Assistant
from tests.conftest import SEED_QUESTION
from tests.store_view import catalog_of

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the `chroma` console script of chromadb is not installed next to this Python")
    port = _free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("chroma run did not start listening within 60 s")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
    from values.errors import StoreError

    with pytest.raises(StoreError, match="Chroma server"):
        make_assistant(chroma_host="127.0.0.1", chroma_port=_free_port())
