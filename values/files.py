"""Crash-safe file writes: a reader sees the old bytes or the new ones, never half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file beside it and ``os.replace``.

    The temp file is ``<name>.<random>.tmp`` in the target's folder (the same file system, so the
    rename is atomic); it is removed when the write fails. A writer killed outright can leave one
    behind: callers that care sweep ``<name>.*.tmp``. The folder must exist.
    """
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
