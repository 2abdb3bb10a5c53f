"""Tests for values.files.atomic_write and the embedding cache's FolderByteStore built on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_classic.storage import InvalidKeyException
from langchain_core.embeddings import Embeddings

from assistant.embeddings import FolderByteStore, cached
from values.files import atomic_write


def test_atomic_write_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "keyword.pkl"
    atomic_write(target, b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["keyword.pkl"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keyword.pkl"
    atomic_write(target, b"old")

    def fail(src: str, dst: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("values.files.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keyword.pkl"]


def test_folder_store_sets_gets_lists_and_deletes(tmp_path: Path) -> None:
    store = FolderByteStore(tmp_path / "cache")
    store.mset([("e5-small-abc", b"1"), ("e5-small-def", b"2"), ("other-x", b"3")])
    assert store.mget(["e5-small-abc", "missing", "other-x"]) == [b"1", None, b"3"]
    assert sorted(store.yield_keys(prefix="e5-small-")) == ["e5-small-abc", "e5-small-def"]
    store.mdelete(["e5-small-abc", "missing"])
    assert sorted(store.yield_keys()) == ["e5-small-def", "other-x"]
    assert (tmp_path / "cache" / "other-x").read_bytes() == b"3"  # one file per key, as LocalFileStore


def test_folder_store_ignores_a_write_left_in_flight(tmp_path: Path) -> None:
    store = FolderByteStore(tmp_path)
    (tmp_path / "e5-small-abc.k2j4_x.tmp").write_bytes(b"half")
    assert list(store.yield_keys()) == []
    assert store.mget(["e5-small-abc"]) == [None]


@pytest.mark.parametrize("key", ["../escape", "a/b", "..", "with space", "", "x.tmp"])
def test_folder_store_rejects_keys_that_could_leave_the_folder_or_clash(tmp_path: Path, key: str) -> None:
    store = FolderByteStore(tmp_path / "cache")
    with pytest.raises(InvalidKeyException):
        store.mset([(key, b"x")])
    assert list((tmp_path / "cache").iterdir()) == []


class _Counting(Embeddings):
    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += texts
        return [[float(len(t)), 1.0] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return [float(len(text)), 1.0]


def test_the_cache_embeds_a_text_once_even_across_reopening(tmp_path: Path) -> None:
    first = _Counting()
    assert cached(first, "sentence-transformers:org/model", tmp_path).embed_documents(["a", "bb"]) == [
        [1.0, 1.0], [2.0, 1.0]]
    again = _Counting()
    assert cached(again, "sentence-transformers:org/model", tmp_path).embed_documents(["bb", "ccc"]) == [
        [2.0, 1.0], [3.0, 1.0]]
    assert first.embedded == ["a", "bb"] and again.embedded == ["ccc"]
    assert all(p.name.startswith("sentence-transformers_org_model-") for p in tmp_path.iterdir())
