"""Uploaded files → copies in the uploads folder: a plain name inside it, a size limit, whole files only.

A copy is written to a temp file in the uploads folder (hidden, ``.part``: no walk or sync takes
it) and renamed onto its name by ``os.replace`` only when complete, so the folder never holds half
a file, and two uploads of one name end with one of them whole. A file is refused before anything
is written when its name is no file name, its type is not read, or it is over the limit.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from values.errors import IngestError

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Staged:
    """An upload copied whole to ``temp``, to be put in place as ``dest``."""

    temp: Path
    dest: Path

    def publish(self) -> Path:
        """Rename the copy onto its name (replacing an earlier upload of that name, or a link there)."""
        os.replace(self.temp, self.dest)
        return self.dest

    def discard(self) -> None:
        """Drop the copy (it was never published)."""
        self.temp.unlink(missing_ok=True)


def stage(source: Path, uploads: Path, max_bytes: int, file_types: tuple[str, ...]) -> Staged:
    """Copy the uploaded ``source`` into a temp file in ``uploads``; IngestError (source: its name) when refused.

    Only the file's own name is kept: a ``../`` or an absolute path never leads out of ``uploads``.
    """
    name = source.name
    if name in ("", ".", ".."):
        raise IngestError("not a file name", str(source))
    suffix = Path(name).suffix.lower()
    if suffix not in file_types:
        shown = repr(suffix) if suffix else "(no suffix)"
        raise IngestError(f"unsupported file type {shown} (supported: {', '.join(file_types)}): not uploaded", name)
    try:
        status = os.stat(source)
    except OSError as e:
        raise IngestError(f"cannot read the uploaded file ({e.strerror or e})", name) from e
    if not stat.S_ISREG(status.st_mode):
        raise IngestError("not a regular file: not uploaded", name)
    if status.st_size > max_bytes:
        raise IngestError(_too_large(status.st_size, max_bytes), name)
    dest = uploads / name
    if dest.parent.resolve() != uploads.resolve():  # cannot happen for a plain name; never write elsewhere
        raise IngestError("not a file name", name)
    fd, temp = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=uploads)  # never longer than a name
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as f:
            copied = 0
            while block := f.read(_BLOCK):
                copied += len(block)
                if copied > max_bytes:  # it grew since its size was read
                    raise IngestError(_too_large(copied, max_bytes), name)
                out.write(block)
    except OSError as e:
        Path(temp).unlink(missing_ok=True)
        raise IngestError(f"cannot copy the upload ({e.strerror or e})", name) from e
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Staged(Path(temp), dest)


def _too_large(size: int, limit: int) -> str:
    return (f"too large to upload ({_amount(size)}; the limit is {_amount(limit)}, the setting upload_max_bytes): "
            "not uploaded")


def _amount(size: int) -> str:
    if size < 1 << 10:
        return f"{size} bytes"
    if size < 1 << 20:
        return f"{size / (1 << 10):.1f} KB"
    return f"{size / (1 << 20):.1f} MB"
