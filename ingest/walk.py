"""Which files an ingest takes: a walk that never leaves the folders given, and what it says about the rest.

A folder is walked without following symbolic links. A link whose target lies inside the folder,
where the walk finds it anyway, adds nothing: that file is indexed once, under its own path. Every
other link is reported as a failure naming the link and not followed: one that points out of the
folder (vraagbaak never escapes a folder silently), one whose target is missing, a loop, and one to
a file the walk leaves out (hidden, excluded, not a supported type). A subfolder that cannot be
read and a name that is not valid UTF-8 are reported too. Hidden folders and files, editors' temp
and lock files and excluded paths are left out without a word. A path named on its own is taken
as given: a link to a file is resolved to that file.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from ingest.loaders import SUPPORTED_SUFFIXES, real_path, unsupported

_IGNORED_PREFIXES = (".", "~$", ".~lock")
_IGNORED_SUFFIXES = (".tmp", ".swp", ".swx", ".part", ".crdownload", "~")


def is_candidate(path: Path, folder: Path | None = None, exclude: Sequence[str] = ()) -> bool:
    """A file in ``folder`` worth ingesting.

    A supported type, not an editor's temp or lock file, not matched by an ``exclude`` pattern.
    """
    name = path.name
    return (path.suffix.lower() in SUPPORTED_SUFFIXES and not name.startswith(_IGNORED_PREFIXES)
            and not name.endswith(_IGNORED_SUFFIXES) and not excluded(path, folder, exclude))


def excluded(path: Path, folder: Path | None, patterns: Sequence[str]) -> bool:
    """Whether a glob pattern matches the file's name or its path inside ``folder``."""
    if not patterns:
        return False
    inside = path.relative_to(folder).as_posix() if folder is not None and folder in path.parents else path.name
    return any(fnmatch.fnmatchcase(path.name, p) or fnmatch.fnmatchcase(inside, p) for p in patterns)


def failure(source: Path | str, reason: str, detail: str | None = None) -> dict[str, str]:
    """One entry of a report's ``failed``: ``{source, reason}``, plus ``detail`` when a library gave one."""
    entry = {"source": str(source), "reason": reason}
    if detail:
        entry["detail"] = detail
    return entry


def collect(paths: Iterable[Path], exclude: Sequence[str] = ()) -> tuple[list[Path], list[dict[str, str]]]:
    """Files under ``paths`` (recursive, sorted) and a failure for each path that is unusable.

    ``exclude`` patterns apply inside folders; a file named on its own is always taken.
    """
    files: list[Path] = []
    failed: list[dict[str, str]] = []
    for raw in paths:
        given = Path(os.path.abspath(Path(raw).expanduser()))
        path = real_path(given)
        if path.is_dir():
            found, problems = walk(path, exclude)
            files += found
            failed += problems
        elif not _valid_name(path):
            failed.append(failure(shown_path(path), _NOT_UTF8))
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                failed.append(failure(path, unsupported(path.suffix)))
        elif given.is_symlink():
            failed.append(failure(given, _link_problem(given, None, exclude) or "no such file or directory"))
        elif path.exists():
            failed.append(failure(path, "not a regular file (a device, socket or named pipe)"))
        else:
            failed.append(failure(path, "no such file or directory"))
    return list(dict.fromkeys(files)), failed


def walk(root: Path, exclude: Sequence[str] = ()) -> tuple[list[Path], list[dict[str, str]]]:
    """The candidate files inside ``root`` (a real path), sorted, and a failure for each link or folder left out."""
    files: list[Path] = []
    failed: list[dict[str, str]] = []

    def unreadable(e: OSError) -> None:
        failed.append(failure(shown_path(Path(str(e.filename))), f"cannot read folder ({e.strerror or e})"))

    for top, dirs, names in os.walk(root, onerror=unreadable):  # never into a linked folder
        here = Path(top)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # hidden folders: .git, a data dir
        for name in list(dirs):
            path = here / name
            if path.is_symlink():
                dirs.remove(name)
                problem = None if excluded(path, root, exclude) else _link_problem(path, root, exclude)
            elif not _valid_name(path):
                dirs.remove(name)
                problem = _NOT_UTF8
            else:
                continue
            if problem:
                failed.append(failure(shown_path(path), problem))
        for name in names:
            path = here / name
            if not is_candidate(path, root, exclude):
                continue
            if not _valid_name(path):
                failed.append(failure(shown_path(path), _NOT_UTF8))
            elif path.is_symlink():
                problem = _link_problem(path, root, exclude)
                if problem:
                    failed.append(failure(shown_path(path), problem))
            elif path.is_file():  # never a named pipe or a device: reading one could wait forever
                files.append(path)
    return sorted(files), failed


def shown_path(path: Path) -> str:
    r"""The path as text that can be stored and printed: bytes that are not UTF-8 shown as ``\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


_NOT_UTF8 = "the file name is not valid UTF-8 (shown with \\x escapes): rename the file"


def _valid_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def _link_problem(link: Path, root: Path | None, exclude: Sequence[str]) -> str | None:
    """Why the walk does not follow ``link``; None when its target is a file or folder the walk finds anyway."""
    written = os.fsencode(os.readlink(link)).decode("utf-8", "backslashreplace")
    try:
        target_stat = os.stat(link)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"symbolic link loop (to {written}): not followed"
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"broken symbolic link: its target {written} does not exist"
        return f"cannot follow symbolic link to {written} ({e.strerror or e})"
    if root is None:  # named on its own and resolvable: collect takes its target
        return None
    target = real_path(link)
    if target != root and root not in target.parents:
        return f"symbolic link out of the ingested folder (to {shown_path(target)}): not followed"
    parts = target.relative_to(root).parts
    if stat.S_ISDIR(target_stat.st_mode):  # the walk enters every folder inside but the hidden ones
        if not any(part.startswith(".") for part in parts):
            return None
        return f"symbolic link to a hidden folder ({shown_path(target)}): not followed"
    if (stat.S_ISREG(target_stat.st_mode) and not any(part.startswith(".") for part in parts[:-1])
            and is_candidate(target, root, exclude)):
        return None
    return f"symbolic link to a file the ingest leaves out ({shown_path(target)}): not followed"
