"""A disk that fills up during an ingest: a clear error, what was committed stays whole and answers,
and the next run, once there is room, repairs and carries on. The disk is a real 4 MB tmpfs."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.assistant import Assistant
from tests.conftest import SEED_QUESTION
from tests.store_view import catalog_of, dense_of
from values.errors import StoreError

pytestmark = pytest.mark.slow

WORDS = ("subsidie begroting minister kamer vraag antwoord gemeente provincie beleid wet jaar euro "
         "project regeling advies raad verslag onderzoek cijfers uitgaven").split()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of this test's own (mounting needs root: the test says so and skips otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as the data dir needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _grow(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)


def _many_documents(folder: Path, count: int = 80) -> Path:
    """``count`` different documents of about 60 kB each: more than the small disk holds once indexed."""
    folder.mkdir()
    rng = random.Random(7)
    for i in range(count):
        paragraphs = [" ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(80)) + "."
                      for _ in range(100)]
        (folder / f"verslag-{i:03}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return folder


def _whole(a: Assistant) -> None:
    """Every committed passage has its vector: no document is readable half."""
    committed = catalog_of(a).passage_ids(dense_only=True)
    assert committed <= dense_of(a).ids()


def test_a_full_disk_fails_the_ingest_clearly_and_the_index_stays_whole(
        make_assistant: Callable[..., Assistant], docs: Path, tmp_path: Path, small_disk: Path) -> None:
    data = {"data_dir": small_disk / "index", "embedding_cache_dir": small_disk / "cache"}
    a = make_assistant(**data)
    a.ingest([docs])
    before = a.index.document_count()
    big = _many_documents(tmp_path / "big")
    with pytest.raises(StoreError, match=f"no space left on the disk of the index in {small_disk / 'index'}"):
        a.ingest([big])
    # the same process still answers from what is indexed, with the disk still full
    assert a.ask(SEED_QUESTION).answered
    committed = a.index.document_count()
    assert before <= committed < before + 80
    _whole(a)
    _grow(small_disk)
    again = make_assistant(**data)  # a new process's view, now that there is room
    assert again.index.document_count() == committed and again.ask(SEED_QUESTION).answered
    report = again.ingest([big])
    assert report.failed == [] and again.index.document_count() == before + 80
    _whole(again)
    assert dense_of(again).count() == len(catalog_of(again).passage_ids(dense_only=True))  # no orphans left
