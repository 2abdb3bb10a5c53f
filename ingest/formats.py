r"""Byte decoding and text extraction for PDF, DOCX and HTML, used by :mod:`ingest.loaders`.

The extracted text only ever uses ``"\n"`` as line break. Its layout, which every offset depends on:

* PDF: each page's ``page.extract_text()``, pages joined with ``"\n\n"``; ``page_starts[i]`` is the
  offset where page ``i + 1`` starts (an empty page still gets a start).
* DOCX and HTML: one line per block (paragraph, list item, table row with its cells joined by
  ``" | "``), lines joined with ``"\n"`` and a blank line before each heading that is not the first
  line. A heading is always a single line; it is returned as ``(start, end, level, title)`` with
  ``text[start:end] == title``. Runs of whitespace inside a line are squashed to one space, except
  inside HTML ``<pre>``. HTML loses ``script``, ``style``, ``noscript``, ``template``, ``svg`` and
  ``head``, and the site's navigation (``_is_navigation``) unless nothing else has text; its title
  is ``<title>``, else the first ``<h1>``. A DOCX title is the core-properties
  title, else the first heading (``Title`` style is level 1, ``Heading N`` is level N).

What a loader may read is bounded (the ``MAX_*`` constants): a DOCX's unpacked size is checked from
the zip's directory before anything is inflated, and a larger HTML page is refused before parsing
(html.parser needs about 2 s and 75 MB of memory per MB of tag-dense markup).
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import docx
from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PageElement, PreformattedString
from bs4.exceptions import ParserRejectedMarkup
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml.etree import XMLSyntaxError
from pypdf import PdfReader
from pypdf.errors import DeprecationError, PyPdfError

from ingest.metadata import declared_date
from values.errors import IngestError
from values.text import squash

RawHeading = tuple[int, int, int, str]

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_DROP = ("script", "style", "noscript", "template", "head", "svg")
_BLOCK = frozenset(
    "address article aside blockquote body br dd div dl dt fieldset figcaption figure footer form h1 h2 h3"
    " h4 h5 h6 header hr html li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
# navigation by its markup: HTML's own element and role, and the classes DocBook's XSL (Debian's, GIMP's and
# PostgreSQL's manuals) and common site generators give their bars; other pages' titles in them are not this page's text
_NAV_ROLES = frozenset({"navigation", "banner", "contentinfo"})
_SECTIONING = frozenset({"article", "aside", "main", "nav", "section"})
_NAV_CLASSES = frozenset({"navheader", "navfooter", "breadcrumb", "breadcrumbs"})
_HTML_LEVELS = {f"h{n}": n for n in range(1, 7)}
_DOCX_HEADING = re.compile(r"heading (\d)", re.IGNORECASE)
_MB = 1 << 20
MAX_DOCX_XML_BYTES = 200 * _MB  # unpacked XML of one DOCX; lxml needs several times that in memory
MAX_DOCX_BYTES = 1024 * _MB  # everything in one DOCX unpacked (python-docx holds every part it reads)
MAX_HTML_CHARS = 10 * _MB
# What damaged files raise inside pypdf / zipfile + python-docx (found by fuzzing real files).
_PDF_ERRORS = (PyPdfError, DeprecationError, NotImplementedError, ValueError, KeyError, TypeError, AttributeError,
               zlib.error)  # AttributeError: pypdf on an object of the wrong PDF type
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError)
# AttributeError / TypeError: python-docx on a part whose XML has the wrong root or namespace (an
# element its oxml classes do not know, e.g. ``<Types/>`` without the package namespace), or on a
# relationship that points at the wrong kind of part
_DOCX_ERRORS = (PackageNotFoundError, *_ZIP_ERRORS, KeyError, XMLSyntaxError, AttributeError, TypeError)


class Extracted(NamedTuple):
    """Text pulled out of a structured file, with the title the format itself declares ("" if none)."""

    text: str
    title: str
    headings: tuple[RawHeading, ...] = ()
    page_starts: tuple[int, ...] = ()
    date: str | None = None  # the date the format's own metadata gives, ISO


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode as UTF-8, else UTF-16, else cp1252, else latin-1; return the text and the codec that reproduces it.

    UTF-16 is taken with a BOM ("utf-16") or, without one, when every other byte is NUL the way
    Latin text in UTF-16 looks ("utf-16-le" / "utf-16-be").
    """
    utf16 = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else _bare_utf16(data)
    if utf16 is not None:
        try:
            return data.decode(utf16), utf16
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig"), "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"  # latin-1 maps every byte, so it cannot fail


def _bare_utf16(data: bytes) -> str | None:
    """The UTF-16 byte order of BOM-less text whose characters are mostly below U+0100, else None."""
    sample = data[:4096]
    if len(data) % 2 or len(sample) < 4:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd * 2 >= len(sample) // 2 and even == 0:
        return "utf-16-le"
    if even * 2 >= len(sample) // 2 and odd == 0:
        return "utf-16-be"
    return None


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode HTML honouring a BOM, then a ``<meta charset>``, then the :func:`decode_text` fallbacks."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                break
    match = _META_CHARSET.search(data[:4096])
    if match:
        try:
            codec = codecs.lookup(match.group(1).decode("ascii")).name
            if codec in ("iso8859-1", "ascii"):
                codec = "cp1252"  # what browsers do (WHATWG encoding spec)
            return data.decode(codec), codec
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)


def newlines(text: str) -> str:
    r"""Translate ``\r\n`` and lone ``\r`` to ``\n``, as Python's universal-newlines mode does."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _assemble(lines: Iterable[tuple[str, int | None]]) -> tuple[str, tuple[RawHeading, ...]]:
    """Join ``(line, heading level or None)`` pairs into text, recording each heading's span."""
    parts: list[str] = []
    headings: list[RawHeading] = []
    pos = 0
    for line, level in lines:
        if parts:
            sep = "\n\n" if level else "\n"
            parts.append(sep)
            pos += len(sep)
        if level:
            headings.append((pos, pos + len(line), level, line))
        parts.append(line)
        pos += len(line)
    return "".join(parts), tuple(headings)


def detail(error: BaseException) -> str:
    """A library's error in its own words, for an IngestError's ``detail``."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def extract_pdf(path: Path, data: bytes) -> Extracted:
    """Extract a PDF's text page by page; raise IngestError for corrupt, locked or image-only files."""
    if b"%PDF-" not in data[:1024]:  # pypdf would only log this and then fail on something else
        raise IngestError("not a PDF: the file has no PDF header", path, f"starts with {data[:8]!r}")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt(path, reader)
        pages = [newlines(page.extract_text() or "") for page in reader.pages]
        meta = reader.metadata
        title = (meta.title or "") if meta is not None else ""
        created = declared_date(meta.get("/CreationDate")) if meta is not None else None
        has_text = any(page.strip() for page in pages)
        images = 0 if has_text else sum(len(page.images) for page in reader.pages)
    except _PDF_ERRORS as e:
        if b"%%EOF" not in data[-1024:]:
            raise IngestError("incomplete PDF: the file is cut off before its end (copy or download it again)",
                              path, detail(e)) from e
        raise IngestError("damaged PDF that cannot be read (re-save or re-export it)", path, detail(e)) from e
    if images:
        raise IngestError(f"scanned PDF: its {len(pages)} page(s) hold images but no text layer; it needs OCR "
                          "(text recognition) before it can be indexed", path)
    if not has_text:
        raise IngestError(f"no text layer on any of its {len(pages)} page(s): blank pages, or text drawn as "
                          "shapes (a scan needs OCR first)", path)
    starts, pos = [], 0
    for page in pages:
        starts.append(pos)
        pos += len(page) + 2
    return Extracted("\n\n".join(pages), squash(str(title)), page_starts=tuple(starts), date=created)


def _decrypt(path: Path, reader: PdfReader) -> None:
    try:
        unlocked = reader.decrypt("")
    except (PyPdfError, NotImplementedError) as e:
        raise IngestError("encrypted PDF that vraagbaak cannot decrypt (save a copy without encryption)",
                          path, detail(e)) from e
    if not unlocked:
        raise IngestError("encrypted PDF: it needs a password to open (save a copy without the password "
                          "and ingest that)", path)


def extract_docx(path: Path, data: bytes) -> Extracted:
    """Extract a DOCX's paragraphs and table rows in body order; raise IngestError when it is corrupt."""
    _check_docx_size(path, data)
    try:
        document = docx.Document(io.BytesIO(data))
        lines = list(_docx_lines(document.iter_inner_content()))
        title = document.core_properties.title or ""
        created = declared_date(document.core_properties.created)
    except _DOCX_ERRORS as e:
        raise IngestError("damaged DOCX that cannot be read as a Word document (re-save it from Word or "
                          "LibreOffice)", path, detail(e)) from e
    text, headings = _assemble(lines)
    return Extracted(text, squash(title) or (headings[0][3] if headings else ""), headings, date=created)


def _check_docx_size(path: Path, data: bytes) -> None:
    """Refuse a DOCX that is no zip, or whose parts would unpack past the limits (a zip bomb).

    The sizes come from the zip's directory; zipfile never inflates an entry past the size declared
    there (it stops and fails the CRC check), so a lying directory cannot get round the limit.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except _ZIP_ERRORS as e:
        raise IngestError("not a DOCX: the file is no zip archive (an old .doc renamed to .docx?)",
                          path, detail(e)) from e
    xml = sum(e.file_size for e in entries if e.filename.endswith((".xml", ".rels")))
    total = sum(e.file_size for e in entries)
    if xml > MAX_DOCX_XML_BYTES or total > MAX_DOCX_BYTES:
        raise IngestError(f"DOCX too large unpacked ({total // _MB:,} MB, of which {xml // _MB:,} MB XML; the limits "
                          f"are {MAX_DOCX_BYTES // _MB:,} MB and {MAX_DOCX_XML_BYTES // _MB:,} MB XML): a zip bomb "
                          "or a document too big to index", path)


def _docx_lines(blocks: Iterable[Paragraph | Table]) -> Iterator[tuple[str, int | None]]:
    for block in blocks:
        if isinstance(block, Table):
            for row in block.rows:
                seen: list[object] = []
                cells: list[str] = []
                for cell in row.cells:  # a merged cell is repeated once per grid column it spans
                    if not any(cell._tc is tc for tc in seen):
                        seen.append(cell._tc)
                        cells.append(squash(cell.text))
                if any(cells):
                    yield " | ".join(cells), None
            continue
        level = _docx_level(block)
        text = squash(block.text) if level else newlines(block.text).strip()
        if text:
            yield text, level


def _docx_level(paragraph: Paragraph) -> int | None:
    name = paragraph.style.name if paragraph.style is not None else ""
    if name == "Title":
        return 1
    match = _DOCX_HEADING.fullmatch(name or "")
    return int(match.group(1)) if match else None


def extract_html(path: Path, markup: str) -> Extracted:
    """Extract an HTML page's visible text, one block per line, without scripts, styles or markup."""
    if len(markup) > MAX_HTML_CHARS:
        raise IngestError(f"HTML page too large ({len(markup) / _MB:,.0f} MB; the limit is {MAX_HTML_CHARS // _MB} MB)",
                          path)
    try:
        soup = BeautifulSoup(markup, "html.parser")
        title_tag = soup.find("title")
        title = squash(title_tag.get_text()) if title_tag else ""
        published = _html_date(soup)
        for tag in soup.find_all(_DROP):
            if not tag.decomposed:
                tag.decompose()
        navigation = soup.find_all(_is_navigation)  # one inside another is skipped with it
        h1 = soup.find("h1")
        title = title or (_inline(h1) if h1 else "")
        lines = _lines(soup, navigation)
        if navigation and not lines:  # a page that is only navigation (a table of contents) keeps it
            lines = _lines(soup, [])
    except (ParserRejectedMarkup, RecursionError) as e:  # the walk has no recursion; bs4's own calls might
        raise IngestError("HTML that cannot be parsed", path, detail(e)) from e
    text, headings = _assemble(lines)
    return Extracted(text, title, headings, date=published)


def _is_navigation(tag: Tag) -> bool:
    """The site's chrome around the page's text.

    ``<nav>`` and the navigation classes (``_NAV_CLASSES``); the roles ``navigation``, ``banner``
    and ``contentinfo``; and the page's own ``<footer>`` and ``<header>`` (not those of an article
    or section inside it: HTML gives these two the banner and contentinfo roles), a header only
    when it does not hold the page's ``<h1>``.
    """
    if tag.name == "nav" or str(tag.get("role") or "").casefold() in _NAV_ROLES:
        return True
    if tag.name in ("header", "footer"):
        if any(isinstance(p, Tag) and p.name in _SECTIONING for p in tag.parents):
            return False
        return tag.name == "footer" or tag.find("h1") is None
    classes = tag.get("class") or ()
    return any(str(c).casefold() in _NAV_CLASSES for c in classes)


def _lines(soup: BeautifulSoup, navigation: Iterable[Tag]) -> list[tuple[str, int | None]]:
    """The page's lines, without the ``navigation`` elements (left in the tree for a second walk)."""
    walker = _HtmlLines(skip={id(tag) for tag in navigation})
    walker.walk(soup)
    walker.flush()
    return walker.lines


_HTML_DATE_META = ("date", "dcterms.date", "dc.date", "dcterms.created", "dc.date.issued",
                   "article:published_time", "citation_date", "citation_publication_date")


def _html_date(soup: BeautifulSoup) -> str | None:
    """The date a ``<meta>`` declares (name or property), else the first ``<time datetime>``."""
    for tag in soup.find_all("meta"):
        key = str(tag.get("name") or tag.get("property") or "").casefold()
        if key in _HTML_DATE_META:
            found = declared_date(str(tag.get("content") or ""))
            if found:
                return found
    time_tag = soup.find("time", attrs={"datetime": True})
    return declared_date(str(time_tag["datetime"])) if isinstance(time_tag, Tag) else None


def _inline(tag: Tag) -> str:
    """All text under ``tag`` on one line; block boundaries become spaces."""
    parts = []
    for node in tag.descendants:
        if isinstance(node, Tag):
            if node.name in _BLOCK:
                parts.append(" ")
        elif not isinstance(node, PreformattedString):  # skips comments, doctype, CDATA
            parts.append(str(node))
    return squash("".join(parts))


class _HtmlLines:
    """Walks the parse tree, turning blocks into lines and inline runs into squashed text."""

    def __init__(self, skip: set[int] | None = None) -> None:
        self.lines: list[tuple[str, int | None]] = []
        self.buffer: list[str] = []
        self.skip = skip or set()  # ids of tags walked past with everything in them

    def flush(self) -> None:
        line = squash("".join(self.buffer))
        self.buffer.clear()
        if line:
            self.lines.append((line, None))

    def walk(self, root: Tag) -> None:
        """Visit ``root``'s children in document order with an explicit stack.

        Not recursion: a page nested 10,000 deep would pass Python's recursion limit.
        """
        stack: list[PageElement | None] = list(reversed(root.contents))  # None: a block ends, flush
        while stack:
            node = stack.pop()
            if node is None:
                self.flush()
            elif isinstance(node, Tag):
                if id(node) in self.skip:
                    self.flush()
                    continue
                block = node.name in _BLOCK
                if block:
                    self.flush()
                if self.leaf(node):
                    if block:
                        self.flush()
                else:
                    if block:
                        stack.append(None)
                    stack.extend(reversed(node.contents))
            elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
                self.buffer.append(str(node))

    def leaf(self, tag: Tag) -> bool:
        """Turn a heading, table row or ``<pre>`` into lines at once; False for any other tag."""
        name = tag.name
        if name in _HTML_LEVELS:
            if heading := _inline(tag):
                self.lines.append((heading, _HTML_LEVELS[name]))
        elif name == "tr":
            cells = [_inline(cell) for cell in tag.find_all(("td", "th"), recursive=False)]
            if any(cells):
                self.lines.append((" | ".join(cells), None))
        elif name == "pre":
            self.lines.extend((line.rstrip(), None) for line in newlines(tag.get_text()).split("\n") if line.strip())
        else:
            return name == "br"
        return True
