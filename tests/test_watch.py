"""Watch mode: `vraagbaak watch DIR` (a real subprocess) and the in-process watcher of
`serve --watch` pick up new, changed and deleted files within seconds."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.assistant import Assistant
from ingest.watch import FolderWatcher
from tests.conftest import SEED
from tests.store_view import catalog_of
from tests.test_incremental import finds_seed_answer
from vraagbaak.cli import app

pytestmark = pytest.mark.slow

NEW_DOC = ("Vraag\nHoeveel kost de nieuwe kabelbaan over de Maas in Namen?\n\n"
           "Antwoord\nDe kabelbaan over de Maas in Namen kost 12 miljoen euro en opent in 2027.\n")
NEW_QUESTION = "Wat kost de kabelbaan over de Maas in Namen?"


def wait_for(check: Callable[[], bool], seconds: float) -> float:
    """Poll ``check`` until it holds; return how long it took (fail after ``seconds``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.2)
    return time.monotonic() - started


def top_source(a: Assistant, question: str) -> str | None:
    hits = a.ask(question).retrieved
    return hits[0].passage.source if hits else None


class Lines:
    """A subprocess's stdout lines, read in a thread so the test can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout
        threading.Thread(target=lambda: [self.queue.put(line) for line in stream], daemon=True).start()

    def next_json(self, seconds: float) -> dict[str, Any]:
        return json.loads(self.queue.get(timeout=seconds))  # type: ignore[no-any-return]

    def next_change(self, seconds: float) -> dict[str, Any]:
        """The next run report that changed something (a late event may cause a no-op run)."""
        deadline = time.monotonic() + seconds
        while True:
            report = self.next_json(max(0.1, deadline - time.monotonic()))
            if any(report[key] for key in ("added", "updated", "removed", "renamed")):
                return report

    def settle(self) -> None:
        """Wait until no run is pending and drop the reports of no-op runs."""
        time.sleep(2.5)
        while not self.queue.empty():
            report = json.loads(self.queue.get())
            assert not any(report[key] for key in ("added", "updated", "removed", "renamed")), report


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    watched = tmp_path / "watched"
    watched.mkdir()
    shutil.copy(SEED, watched)
    return watched


@pytest.fixture
def watch_process(folder: Path, tmp_path: Path, minilm: str, embedding_cache: Path) -> Iterator[
        tuple[subprocess.Popen[str], Lines]]:
    env = {**os.environ, "VRAAGBAAK_EMBEDDER": minilm, "VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache),
           "VRAAGBAAK_DATA_DIR": str(tmp_path / "index")}
    with (tmp_path / "watch.err").open("w") as errors:
        proc = subprocess.Popen([sys.executable, "-m", "vraagbaak.cli", "watch", str(folder), "--json"],
                                env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            yield proc, Lines(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.mark.model
def test_watch_command_picks_up_new_changed_and_deleted_files(
        watch_process: tuple[subprocess.Popen[str], Lines], folder: Path,
        make_assistant: Callable[..., Assistant]) -> None:
    proc, lines = watch_process
    first = lines.next_json(120)
    assert first["added"] == 1 and not first["failed"]
    reader = make_assistant()  # another process's view of the index the watcher writes
    assert finds_seed_answer(reader)

    new = folder / "kabelbaan.txt"
    new.write_text(NEW_DOC, encoding="utf-8")
    took = wait_for(lambda: top_source(reader, NEW_QUESTION) == str(new), 10)
    assert took < 10
    assert lines.next_change(5)["added"] == 1
    assert "12 miljoen" in reader.ask(NEW_QUESTION).retrieved[0].passage.text

    lines.settle()
    for ignored in (".~lock.kabelbaan.txt#", "kabelbaan.txt.swp", "~$notes.docx", "draft.txt.tmp", "x.txt~"):
        (folder / ignored).write_text("tijdelijk", encoding="utf-8")
    time.sleep(2.5)
    assert lines.queue.empty(), "editors' temp and lock files must not trigger an ingest"

    new.write_text(NEW_DOC.replace("12 miljoen", "15 miljoen"), encoding="utf-8")
    wait_for(lambda: "15 miljoen" in reader.ask(NEW_QUESTION).retrieved[0].passage.text, 10)
    assert lines.next_change(5)["updated"] == 1

    new.unlink()
    wait_for(lambda: str(new) not in reader.index.documents(), 10)
    assert lines.next_change(5)["removed"] == 1
    assert str(new) not in {h.passage.source for h in reader.ask(NEW_QUESTION).retrieved}
    assert reader.index.vector_count() == len(catalog_of(reader).passage_ids(dense_only=True))

    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0


def test_watcher_in_process_serves_while_it_ingests(
        make_assistant: Callable[..., Assistant], folder: Path) -> None:
    a = make_assistant()
    reports: list[Any] = []
    watcher = FolderWatcher(a.ingestor, [folder], debounce=1.0, on_report=reports.append)
    watcher.start()
    try:
        wait_for(lambda: watcher.runs == 1, 60)
        assert reports[0].added == 1
        sub = folder / "sub"
        sub.mkdir()
        new = sub / "kabelbaan.txt"
        new.write_text(NEW_DOC, encoding="utf-8")
        wait_for(lambda: top_source(a, NEW_QUESTION) == str(new), 10)
        wait_for(lambda: len(reports) == watcher.runs, 10)  # the report of that run is in
        before = len(reports)
        renamed = folder / "kabelbaan-2027.txt"
        new.rename(renamed)
        wait_for(lambda: any(r.renamed for r in reports[before:]), 10)
        assert str(renamed) in a.index.documents() and str(new) not in a.index.documents()
        assert sum(r.renamed for r in reports[before:]) == 1
        assert sum(r.embedded + r.added for r in reports[before:]) == 0
        shutil.rmtree(sub)  # a deleted folder may have held documents: one more run
        time.sleep(2.5)
        runs = watcher.runs
        (folder / ".hidden").mkdir()
        (folder / ".hidden" / "secret.txt").write_text("verborgen", encoding="utf-8")
        time.sleep(2.5)
        assert watcher.runs == runs
        renamed.unlink()
        wait_for(lambda: a.status()["documents"] == 1, 10)
        assert finds_seed_answer(a)
    finally:
        watcher.stop()
    assert not watcher.alive


@pytest.mark.model
def test_serve_with_watch_starts_the_watcher_before_serving(
        monkeypatch: pytest.MonkeyPatch, folder: Path, tmp_path: Path, minilm: str,
        embedding_cache: Path) -> None:
    monkeypatch.setenv("VRAAGBAAK_EMBEDDER", minilm)
    monkeypatch.setenv("VRAAGBAAK_EMBEDDING_CACHE_DIR", str(embedding_cache))
    monkeypatch.setenv("VRAAGBAAK_DATA_DIR", str(tmp_path / "index"))
    seen: dict[str, Any] = {}

    def start(assistant: Assistant, *_: Any, **__: Any) -> Any:
        wait_for(lambda: assistant.status()["documents"] == 1, 60)
        (folder / "kabelbaan.txt").write_text(NEW_DOC, encoding="utf-8")
        wait_for(lambda: assistant.status()["documents"] == 2, 10)
        seen["answer"] = assistant.ask(NEW_QUESTION)
        seen["threads"] = {t.name for t in threading.enumerate()}
        return types.SimpleNamespace(wait=lambda: None)

    monkeypatch.setitem(sys.modules, "vraagbaak.server", types.SimpleNamespace(start=start, check_port=lambda *_: None))
    result = CliRunner().invoke(app, ["serve", "--watch", str(folder)])
    assert result.exit_code == 0, result.output
    assert "12 miljoen" in seen["answer"].retrieved[0].passage.text
    assert "vraagbaak-watch" in seen["threads"]
    assert "vraagbaak-watch" not in {t.name for t in threading.enumerate()}, "stopped once the server stops"
