"""Crash-safe file writes: a reader sees the old bytes or the new ones, never half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write that replaces ``path`` (``os.replace``) only when the block ends cleanly.

    The temp file is ``<name>.<random>.tmp`` in the target's folder (the same file system, so the
    rename is atomic); it is removed when the write fails. A writer killed outright can leave one
    behind: callers that care sweep ``<name>.*.tmp``. The folder must exist.
    """
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``atomic_writer``."""
    with atomic_writer(path) as f:
        f.write(data)
