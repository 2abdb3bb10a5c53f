"""Tests for ingest.loaders: real files of every supported type, written into tmp_path."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfWriter

from ingest.loaders import SUPPORTED_SUFFIXES, Heading, LoadedDocument, load
from values.errors import IngestError


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for page in pages:
        pdf.add_page()
        for line in page.split("\n") if page else ():  # "": a blank page
            pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def assert_reopens(doc: LoadedDocument) -> None:
    """The promise for .txt/.md: Python's own text-mode read gives exactly ``doc.text``."""
    with open(doc.source, encoding=doc.encoding) as f:
        assert f.read() == doc.text


# --- plain text -------------------------------------------------------------------------------


def test_txt_utf8_with_accents_round_trips_exactly(tmp_path: Path) -> None:
    content = "\n  Één café, naïve façade — “quotes” ✓\nTweede regel\t met tab  \n"
    path = write(tmp_path / "notes.txt", content.encode("utf-8"))
    doc = load(path)
    assert doc.text == content
    assert doc.encoding == "utf-8"
    assert doc.doc_type == "txt"
    assert doc.source == str(path.resolve()) and Path(doc.source).is_absolute()
    assert doc.title == "Één café, naïve façade — “quotes” ✓"
    assert doc.headings == () and doc.page_starts == ()
    assert doc.page_at(0) is None
    assert_reopens(doc)


def test_txt_relative_path_and_uppercase_suffix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "LOUD.TXT", b"hello")
    monkeypatch.chdir(tmp_path)
    doc = load(Path("LOUD.TXT"))
    assert doc.source == str((tmp_path / "LOUD.TXT").resolve())
    assert doc.doc_type == "txt" and doc.text == "hello"


def test_utf8_bom_is_dropped_and_reopens(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfTitel met BOM\nrest")
    doc = load(path)
    assert doc.text == "Titel met BOM\nrest"
    assert doc.encoding == "utf-8-sig"
    assert doc.title == "Titel met BOM"
    assert_reopens(doc)


def test_cp1252_falls_back_and_records_cp1252(tmp_path: Path) -> None:
    content = "Prijs: 5 € – “netjes” café\n"
    raw = content.encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    doc = load(write(tmp_path / "old.txt", raw))
    assert doc.encoding == "cp1252"
    assert doc.text == content
    assert_reopens(doc)


def test_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path: Path) -> None:
    raw = b"caf\xe9 \x81 control"  # 0x81 is undefined in cp1252
    doc = load(write(tmp_path / "odd.txt", raw))
    assert doc.encoding == "latin-1"
    assert doc.text == raw.decode("latin-1")
    assert_reopens(doc)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_crlf_and_lone_cr_translate_like_python_open(tmp_path: Path, encoding: str) -> None:
    raw = "regel één\r\nregel twee\rregel drie\n\r\nlaatste".encode(encoding)
    doc = load(write(tmp_path / "crlf.txt", raw))
    assert doc.text == "regel één\nregel twee\nregel drie\n\nlaatste"
    assert "\r" not in doc.text
    assert_reopens(doc)


def test_long_first_line_title_is_cut_to_200_chars(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "long.txt", ("x" * 300 + "\nmore").encode()))
    assert doc.title == "x" * 200


# --- markdown ---------------------------------------------------------------------------------


MARKDOWN = """Voorwoord zonder kop.

# Handleiding vraagbaak #

Intro tekst.

  ## Installatie

```bash
# not a heading: a shell comment
pip install vraagbaak
```

#hashtag is not a heading
###### Diep niveau   \r
####### seven hashes is not a heading
#
### C# en F#
"""


def test_markdown_headings_offsets_levels_and_title(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "guide.md", MARKDOWN.encode()))
    assert doc.doc_type == "md"
    assert doc.title == "Handleiding vraagbaak"
    assert [(h.level, h.title) for h in doc.headings] == [
        (1, "Handleiding vraagbaak"),
        (2, "Installatie"),
        (6, "Diep niveau"),
        (3, "C# en F#"),
    ]
    for h in doc.headings:
        line = doc.text[h.start : h.end]
        assert line.startswith("#") and "\n" not in line
        assert line.endswith(h.title) or line.endswith("#")
    assert doc.text[doc.headings[0].start : doc.headings[0].end] == "# Handleiding vraagbaak #"
    assert doc.text[doc.headings[2].start : doc.headings[2].end] == "###### Diep niveau"
    assert_reopens(doc)


def test_markdown_without_h1_takes_first_line_as_title(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "notes.markdown", b"\n## Alleen niveau twee\ntekst\n"))
    assert doc.doc_type == "md"
    assert doc.title == "Alleen niveau twee"
    assert doc.headings == (Heading(1, 22, 2, "Alleen niveau twee"),)


SETEXT = """Handleiding
===========

Intro tekst, nog geen kop.

Installatie op
  twee regels
--------------

Tekst onder de kop.

# Daarna een ATX-kop
"""


def test_markdown_setext_headings_span_their_title_lines(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "setext.md", SETEXT.encode()))
    assert doc.title == "Handleiding"
    assert [(h.level, h.title) for h in doc.headings] == [
        (1, "Handleiding"), (2, "Installatie op twee regels"), (1, "Daarna een ATX-kop")]
    spans = [doc.text[h.start : h.end] for h in doc.headings]
    assert spans == ["Handleiding", "Installatie op\n  twee regels", "# Daarna een ATX-kop"]  # no underline


FENCED = """# Echte kop

```bash
# a shell comment, not a heading
echo hi
```

~~~~
## still code
Titel in code
---
~~~~

    # indented code, not a heading

> # in a block quote: no section of the document

## Tweede kop
"""


def test_markdown_hashes_and_underlines_inside_code_are_no_headings(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "code.md", FENCED.encode()))
    assert [(h.level, h.title) for h in doc.headings] == [(1, "Echte kop"), (2, "Tweede kop")]
    assert doc.text[doc.headings[1].start : doc.headings[1].end] == "## Tweede kop"


def test_markdown_front_matter_is_no_setext_heading(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "page.md", b"---\ntitle: x\n# a yaml comment\n---\n\n# Kop\ntekst\n"))
    assert [(h.level, h.title) for h in doc.headings] == [(1, "Kop")]
    assert doc.text[doc.headings[0].start : doc.headings[0].end] == "# Kop" and doc.title == "Kop"


# --- HTML -------------------------------------------------------------------------------------


HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>  De   Vraagbaak </title>
<style>body { color: red }</style><script>var secret = "SCRIPT-IN-HEAD";</script></head>
<body><!-- a comment -->
<h1>Welkom <b>bij</b> ons</h1>
<p>Dit   is <i>een</i>
   alinea&nbsp;met witruimte.</p>
<div>Regel een<br>Regel twee</div>
<script>document.write("SCRIPT-IN-BODY")</script><noscript>NOSCRIPT</noscript>
<template>TEMPLATE</template>
<ul><li>punt één</li><li>punt twee</li></ul>
<h2>Tabel</h2>
<table><tr><th>Naam</th><th>Waarde</th></tr><tr><td>a</td><td><p>1</p><p>2</p></td></tr></table>
<h3>Code</h3>
<pre>def f():
    return 1</pre>
</body></html>
"""


def test_html_drops_scripts_and_markup_and_records_headings(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "page.html", HTML.encode()))
    assert doc.doc_type == "html" and doc.encoding == "utf-8"
    assert doc.title == "De Vraagbaak"
    for hidden in ("SCRIPT-IN-HEAD", "SCRIPT-IN-BODY", "NOSCRIPT", "TEMPLATE", "color: red", "a comment", "<", ">"):
        assert hidden not in doc.text
    assert doc.text.split("\n") == [
        "Welkom bij ons",
        "Dit is een alinea met witruimte.",
        "Regel een",
        "Regel twee",
        "punt één",
        "punt twee",
        "",
        "Tabel",
        "Naam | Waarde",
        "a | 1 2",
        "",
        "Code",
        "def f():",
        "    return 1",
    ]
    assert [(h.level, h.title) for h in doc.headings] == [(1, "Welkom bij ons"), (2, "Tabel"), (3, "Code")]
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.title


NAVIGATED = """<html><head><title>4.4. Bijnijden</title></head><body>
<header><a href="/">GIMP-handleiding</a> <a href="zoek.html">Zoeken</a></header>
<div class="navheader"><table><tr><th>4.4. Bijnijden</th></tr>
<tr><td><a href="move.html">Terug</a></td><th>4. Transformeergereedschappen</th></tr></table></div>
<nav><ul><li><a href="rotate.html">4.5. Draaien</a></li></ul></nav>
<div role="navigation"><a href="scale.html">4.6. Schalen</a></div>
<article><header><h2>Bijnijden</h2></header><p>Het gereedschap snijdt een afbeelding bij.</p>
<footer>Bijgewerkt in 2.10</footer></article>
<div class="navfooter"><a href="move.html">4.3. Verplaatsen</a> | <a href="rotate.html">4.5. Draaien</a></div>
<footer>© GIMP-documentatieteam</footer>
</body></html>"""


def test_html_leaves_out_the_sites_navigation_and_chrome(tmp_path: Path) -> None:
    """Other pages' titles in a navigation bar are not this page's text: they mislead the keyword leg."""
    doc = load(write(tmp_path / "crop.html", NAVIGATED.encode()))
    assert doc.text.split("\n") == ["Bijnijden", "Het gereedschap snijdt een afbeelding bij.", "Bijgewerkt in 2.10"]
    assert [h.title for h in doc.headings] == ["Bijnijden"]


def test_html_that_is_only_navigation_keeps_it(tmp_path: Path) -> None:
    """A table of contents is all links: leaving them out would leave nothing to index."""
    markup = b"<body><nav><a href='a.html'>Lagen</a> <a href='b.html'>Paden</a></nav></body>"
    doc = load(write(tmp_path / "toc.html", markup))
    assert doc.text == "Lagen Paden"


def test_html_header_holding_the_pages_h1_is_kept(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "p.html", b"<body><header><h1>Handleiding</h1></header><p>Tekst.</p></body>"))
    assert doc.text.split("\n") == ["Handleiding", "Tekst."]


def test_html_title_falls_back_to_first_h1(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "page.htm", b"<p>intro</p><h2>sub</h2><h1>Hoofd</h1>"))
    assert doc.doc_type == "html"
    assert doc.title == "Hoofd"


@pytest.mark.parametrize("declared", ["windows-1252", "iso-8859-1"])
def test_html_meta_charset_is_honoured(tmp_path: Path, declared: str) -> None:
    markup = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={declared}"></head>'
    raw = (markup + "<body><p>Café – 5 €</p></body></html>").encode("cp1252")
    doc = load(write(tmp_path / "old.html", raw))
    assert doc.text == "Café – 5 €"
    assert doc.encoding == "cp1252"


def test_html_meta_charset_wins_over_utf8_guess(tmp_path: Path) -> None:
    raw = '<meta charset="koi8-r"><p>Привет</p>'.encode("koi8-r")
    doc = load(write(tmp_path / "ru.html", raw))
    assert doc.text == "Привет" and doc.encoding == "koi8-r"


def test_html_utf16_bom_is_honoured(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "wide.html", "<h1>Breed</h1><p>tekst</p>".encode("utf-16")))
    assert doc.text == "Breed\ntekst"
    assert doc.headings == (Heading(0, 5, 1, "Breed"),)


# --- DOCX -------------------------------------------------------------------------------------


def make_docx(path: Path, core_title: str = "") -> Path:
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_heading("Beleidsstuk", 0)
    document.add_paragraph("Eerste alinea.")
    document.add_heading("Achtergrond", 1)
    document.add_paragraph("Tweede alinea.")
    document.add_paragraph("   ")  # blank paragraphs are dropped
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Naam", "Waarde"), ("a", "1")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Details", 2)
    document.add_paragraph("Laatste alinea.")
    document.save(str(path))
    return path


def test_docx_paragraphs_tables_and_headings_in_body_order(tmp_path: Path) -> None:
    doc = load(make_docx(tmp_path / "beleid.docx"))
    assert doc.doc_type == "docx" and doc.encoding is None
    assert doc.text == (
        "Beleidsstuk\nEerste alinea.\n\nAchtergrond\nTweede alinea.\nNaam | Waarde\na | 1\n\nDetails\nLaatste alinea."
    )
    assert [(h.level, h.title) for h in doc.headings] == [(1, "Beleidsstuk"), (1, "Achtergrond"), (2, "Details")]
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.title
    assert doc.title == "Beleidsstuk"


def test_docx_title_prefers_core_properties(tmp_path: Path) -> None:
    doc = load(make_docx(tmp_path / "beleid.docx", core_title="Officiële titel"))
    assert doc.title == "Officiële titel"


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_pages_page_starts_and_page_at(tmp_path: Path) -> None:
    path = write(tmp_path / "manual.pdf", make_pdf(["Eerste pagina tekst.", "Tweede pagina tekst."], title="Handboek"))
    doc = load(path)
    assert doc.doc_type == "pdf" and doc.title == "Handboek"
    assert len(doc.page_starts) == 2 and doc.page_starts[0] == 0
    second = doc.page_starts[1]
    assert doc.text[second - 2 : second] == "\n\n"
    assert "Eerste pagina tekst." in doc.text[:second]
    assert "Tweede pagina tekst." in doc.text[second:]
    assert doc.page_at(0) == 1
    assert doc.page_at(second - 1) == 1  # the "\n\n" between pages belongs to the earlier page
    assert doc.page_at(second) == 2
    assert doc.page_at(len(doc.text) - 1) == 2
    assert doc.page_at(len(doc.text) + 100) == 2
    with pytest.raises(ValueError):
        doc.page_at(-1)


def test_pdf_without_metadata_title_uses_first_line(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "plain.pdf", make_pdf(["Rapport 2024\nmeer tekst"])))
    assert doc.title == "Rapport 2024"
    assert doc.page_starts == (0,)


def test_pdf_encrypted_with_empty_user_password_is_read(tmp_path: Path) -> None:
    data = encrypt_pdf(make_pdf(["Open voor iedereen."]), user_password="")
    doc = load(write(tmp_path / "owner-only.pdf", data))
    assert "Open voor iedereen." in doc.text


# --- errors -----------------------------------------------------------------------------------


def _zip_without_docx_parts() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "not a word document")
    return out.getvalue()


ERROR_CASES = {
    "x.bin": (b"\x00\x01", "unsupported file type '.bin'"),
    "noext": (b"text", "unsupported file type (no suffix)"),
    "empty.txt": (b"", "empty file (0 bytes)"),
    "blank.md": (b" \n\t\r\n  ", "empty file (whitespace only)"),
    "bom-only.txt": (b"\xef\xbb\xbf\n", "empty file"),
    "fake.txt": (b"PK\x03\x04\x00\x00binary\x00junk", "contains NUL bytes"),
    "fake.html": (b"<p>hi</p>\x00\x00", "contains NUL bytes"),
    "empty.pdf": (b"", "empty file (0 bytes)"),
    "corrupt.pdf": (b"this is not a pdf at all, just text", "not a PDF: the file has no PDF header"),
    "truncated.pdf": (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "incomplete PDF: the file is cut off"),
    "corrupt.docx": (b"definitely not a zip archive", "not a DOCX: the file is no zip archive"),
    "notword.docx": (_zip_without_docx_parts(), "damaged DOCX"),
    "scripts.html": (b"<html><head><title>t</title></head><script>x()</script></html>", "no text in the document"),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_unusable_files_raise_ingest_error_naming_the_file(tmp_path: Path, name: str) -> None:
    data, reason = ERROR_CASES[name]
    path = write(tmp_path / name, data)
    with pytest.raises(IngestError) as info:
        load(path)
    error = info.value
    assert error.source == str(path.resolve())
    assert str(error) == f"{path.resolve()}: {error.reason}"  # the file named once
    assert reason in error.reason and name not in error.reason


def test_unsupported_suffix_lists_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"supported: \.txt, \.md") as info:
        load(write(tmp_path / "sheet.xlsx", b"data"))
    assert all(suffix in str(info.value) for suffix in SUPPORTED_SUFFIXES)


def test_corrupt_formats_chain_the_original_error(tmp_path: Path) -> None:
    for name in ("truncated.pdf", "corrupt.docx", "notword.docx"):
        with pytest.raises(IngestError) as info:
            load(write(tmp_path / name, ERROR_CASES[name][0]))
        assert info.value.__cause__ is not None
        assert info.value.detail == f"{type(info.value.__cause__).__name__}: {info.value.__cause__}"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="missing.txt: file not found") as info:
        load(tmp_path / "missing.txt")
    assert isinstance(info.value.__cause__, FileNotFoundError)
    (tmp_path / "folder.md").mkdir()
    with pytest.raises(IngestError, match="folder.md: is a directory"):
        load(tmp_path / "folder.md")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.txt", b"hidden")
    path.chmod(0)
    try:
        with pytest.raises(IngestError, match="secret.txt: cannot read file"):
            load(path)
    finally:
        path.chmod(0o600)


def test_pdf_with_password_raises(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.pdf", encrypt_pdf(make_pdf(["Geheim."]), user_password="geheim"))
    with pytest.raises(IngestError, match="locked.pdf: encrypted PDF"):
        load(path)


def test_pdf_without_text_raises(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.add_page()
    with pytest.raises(IngestError, match=r"blank\.pdf: no text layer on any of its 2 page\(s\)"):
        load(write(tmp_path / "blank.pdf", bytes(pdf.output())))
