r"""File → text, per type (txt, md, pdf, docx, html), with page starts and headings.

Every offset in the index points into ``LoadedDocument.text``; what that text is, per type:

* ``.txt``, ``.md``, ``.markdown``: the file's bytes decoded as UTF-8 (a BOM is dropped), else cp1252,
  else latin-1, with ``\r\n`` and lone ``\r`` translated to ``\n`` exactly like Python's universal
  newlines, and nothing else changed. So ``open(doc.source, encoding=doc.encoding).read() == doc.text``.
  ``encoding`` is "utf-8", "cp1252" or "latin-1", or "utf-8-sig" for a UTF-8 file that starts with a
  BOM (so the equality above still holds: plain "utf-8" would keep the BOM as ``"\ufeff"``), or
  "utf-16" (with a BOM), "utf-16-le" / "utf-16-be" (without one, see ``formats.decode_text``).
* ``.pdf``, ``.docx``, ``.html``, ``.htm``: extracted text, laid out as described in
  :mod:`ingest.formats` (PDF pages are joined with ``"\n\n"``). For HTML, ``encoding`` is the
  codec the bytes were decoded with; for PDF and DOCX it is None.

Markdown headings are what CommonMark (markdown-it-py) calls headings at the top level: ATX
(``#`` to ``######``) and setext (a title underlined with ``===`` or ``---``), never inside fenced
code, a block quote, a list or a leading YAML front-matter block. The span ``text[start:end]`` of an
ATX heading runs from the first ``#`` to the last non-blank character of its line; of a setext
heading, over its title line(s) without the underline. Plain text gets no headings here:
structure detection happens later in the pipeline.

A file that cannot be used raises IngestError with the path as ``source`` and the why in words as
``reason``; no file is read past ``MAX_FILE_BYTES``, and only regular files are read (a named pipe
or a device could make a read wait forever). ``load`` is ``read`` then ``parse``: the ingest
pipeline calls the two itself, to check that the file did not change while it was read.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from ingest import formats
from ingest.metadata import text_date
from values.document import page_at
from values.errors import IngestError

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm")
_DOC_TYPES = {
    ".txt": "txt", ".md": "md", ".markdown": "md", ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"
}
_MAX_TITLE = 200
MAX_FILE_BYTES = 256 << 20  # read whole into memory, then decoded (a str may take 4 bytes a character)
# block structure only: a heading's title is its raw text, as written, so inline parsing is not needed
_MARKDOWN = MarkdownIt("commonmark").disable("inline")


@dataclass(frozen=True)
class Heading:
    """A heading found by the loader: ``text[start:end]`` is its line (setext: title lines), ``level`` 1 is top."""

    start: int
    end: int
    level: int
    title: str


@dataclass(frozen=True)
class LoadedDocument:
    """The text of one file as vraagbaak sees it; every offset in the index points into ``text``."""

    source: str
    text: str
    title: str
    doc_type: str
    encoding: str | None = None
    page_starts: tuple[int, ...] = ()
    headings: tuple[Heading, ...] = ()
    date: str | None = None  # ISO date, month or year the document states; None when it states none

    def page_at(self, offset: int) -> int | None:
        """1-based page holding ``offset``, or None for documents without pages (``values.document.page_at``)."""
        return page_at(self.page_starts, offset)


DOC_TYPES = tuple(dict.fromkeys(_DOC_TYPES.values()))  # the document types a scope can name


def unsupported(suffix: str) -> str:
    """Why a file of this suffix is not read, naming the types that are."""
    shown = repr(suffix) if suffix else "(no suffix)"
    return f"unsupported file type {shown} (supported: {', '.join(SUPPORTED_SUFFIXES)})"


def real_path(path: Path | str) -> Path:
    """The absolute path with its symbolic links resolved; never raises (a link loop is left unresolved)."""
    return Path(os.path.realpath(path))


@dataclass(frozen=True)
class FileBytes:
    """A file's bytes and its status as of opening it (size, mtime, inode: what tells a change)."""

    data: bytes
    stat: os.stat_result


def load(path: Path) -> LoadedDocument:
    """Load one file; raise IngestError naming the file and the reason when it cannot be used."""
    return parse(path, read(path).data)


def read(path: Path) -> FileBytes:
    """The bytes of a supported, regular file, refusing past ``MAX_FILE_BYTES`` (IngestError names why)."""
    path = Path(path)
    suffix = path.suffix.lower()
    source = real_path(path)
    if suffix not in _DOC_TYPES:
        raise IngestError(unsupported(suffix), source)
    return _read(source)


def parse(path: Path, data: bytes) -> LoadedDocument:
    """The document in ``data``, the bytes ``read`` gave for ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    doc_type = _DOC_TYPES.get(suffix)
    source = real_path(path)
    if doc_type is None:
        raise IngestError(unsupported(suffix), source)
    if not data:
        raise IngestError("empty file (0 bytes)", source)
    if doc_type in ("txt", "md"):
        text, encoding = formats.decode_text(data)
        text = formats.newlines(text)
        _check_text(source, text)
        headings = _markdown_headings(text) if doc_type == "md" else ()
        title = next((h.title for h in headings if h.level == 1), "")
        if not title and doc_type == "md":
            title = _first_line(text).lstrip("#").strip()
        return _document(source, text, title, doc_type, encoding, headings=headings)
    declared_encoding: str | None = None  # only HTML has one
    if doc_type == "html":
        markup, declared_encoding = formats.decode_html(data)
        _check_text(source, markup)
        extracted = formats.extract_html(source, markup)
    elif doc_type == "pdf":
        extracted = formats.extract_pdf(source, data)
    else:
        extracted = formats.extract_docx(source, data)
    if not extracted.text.strip():
        raise IngestError("no text in the document (only markup, images or empty paragraphs)", source)
    headings = tuple(Heading(*raw) for raw in extracted.headings)
    return _document(source, extracted.text, extracted.title, doc_type, declared_encoding, extracted.page_starts,
                     headings, extracted.date)


def _read(source: Path) -> FileBytes:
    """The file's bytes, refusing past ``MAX_FILE_BYTES`` (read at most one byte more, whatever stat says).

    Opened without blocking, so that a named pipe is refused instead of waited on.
    """
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as e:
        raise IngestError("file not found", source) from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise IngestError("symbolic link loop", source) from e
        raise IngestError(f"cannot read file ({e.strerror or e})", source) from e
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        if stat.S_ISDIR(status.st_mode):
            raise IngestError("is a directory, not a file", source)
        raise IngestError("not a regular file (a device, socket or named pipe)", source)
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise IngestError(f"cannot read file ({e.strerror or e})", source) from e
    if len(data) > MAX_FILE_BYTES:
        raise IngestError(f"file too large (over {MAX_FILE_BYTES >> 20} MB, the limit)", source)
    if not data:
        raise IngestError("empty file (0 bytes)", source)
    return FileBytes(data, status)


def _check_text(source: Path, text: str) -> None:
    if "\x00" in text:
        raise IngestError("binary content in a text file (contains NUL bytes)", source)
    if not text.strip():
        raise IngestError("empty file (whitespace only)", source)


def _document(
    source: Path,
    text: str,
    title: str,
    doc_type: str,
    encoding: str | None,
    page_starts: tuple[int, ...] = (),
    headings: tuple[Heading, ...] = (),
    declared: str | None = None,
) -> LoadedDocument:
    title = title.strip()[:_MAX_TITLE] or _first_line(text) or source.stem
    # the date the text states beats the format's (often the converter's); see ingest.metadata
    date = text_date(text) or declared
    return LoadedDocument(str(source), text, title, doc_type, encoding, page_starts, headings, date)


def _first_line(text: str) -> str:
    """First non-blank line, stripped and cut to the title limit; "" when there is none."""
    return next((line.strip()[:_MAX_TITLE] for line in text.split("\n") if line.strip()), "")


def _markdown_headings(text: str) -> tuple[Heading, ...]:
    """The top-level ATX and setext headings CommonMark finds in ``text``; untitled ones are skipped."""
    lines = text.split("\n")  # markdown-it counts lines the same way: "\n" only
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    tokens = _MARKDOWN.parse(_without_front_matter(lines))
    headings: list[Heading] = []
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type != "heading_open" or opening.level != 0 or opening.map is None:
            continue  # a heading inside a block quote or a list item is no section of the document
        title = " ".join(part.strip() for part in inline.content.split("\n"))
        if not title:
            continue
        first, after = opening.map
        last = after - 2 if opening.markup in ("=", "-") else first  # setext: the underline is no part
        start = starts[first] + len(lines[first]) - len(lines[first].lstrip(" "))
        headings.append(Heading(start, starts[last] + len(lines[last].rstrip()), int(opening.tag[1:]), title))
    return tuple(headings)


def _without_front_matter(lines: list[str]) -> str:
    """The text with a leading YAML front-matter block blanked (its lines kept, so line numbers hold).

    CommonMark would read ``---`` / ``title: x`` / ``---`` as a rule and a setext heading.
    """
    if lines and lines[0].rstrip() == "---":
        end = next((i for i, line in enumerate(lines[1:], start=1) if line.rstrip() in ("---", "...")), None)
        if end is not None:
            return "\n".join([""] * (end + 1) + lines[end + 1:])
    return "\n".join(lines)
