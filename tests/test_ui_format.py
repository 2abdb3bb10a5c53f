"""Pure formatter tests for the chat page: escaping, highlighting, locations, listing. No browser."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from assistant.answer import Answer, Citation
from assistant.retrieval import Hit
from assistant.scope import Scope
from ui.document_table import (
    UNDATED,
    DocQuery,
    documents_table_html,
    folders,
    outermost,
    page_label,
    scope_choices,
    select_documents,
    year_choices,
)
from ui.format import (
    DocumentView,
    answer_meta,
    answer_text_html,
    conversation_html,
    esc,
    file_url,
    highlight,
    location,
    panel_html,
    passage_card,
    report_html,
    turn_html,
    window,
)
from ui.i18n import TEXTS, pick_language, t
from ui.state import Prefs, Turn
from ui.viewer import document_view, render_panel
from values.document import DocumentRecord, OpenedDocument
from values.errors import IngestError
from values.passage import Passage

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
HOSTILE = f"Before {SCRIPT} middle {IMG} after & \"quotes\" 'single'"


class _Tags(HTMLParser):
    """Collects every start tag and its attributes, to prove no hostile element or handler exists."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


def parse(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser


def assert_inert(markup: str) -> _Tags:
    """No script/img element and no on* attribute anywhere in ``markup``."""
    parsed = parse(markup)
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "svg"}
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert not any(v and v.strip().lower().startswith("javascript:") for v in attrs.values())
    return parsed


def passage(text: str = "De subsidie bedraagt 75.000 euro.", source: str = "/docs/seed.txt", start: int = 100,
            **kw: object) -> Passage:
    return Passage(source=source, start=start, end=start + len(text), text=text, title="Titel", **kw)  # type: ignore[arg-type]


def hit(p: Passage, score: float = 0.031234) -> Hit:
    return Hit(p, p.passage_id, score)


def answer(text: str, hits: list[Hit], cited: list[int], **kw: object) -> Answer:
    return Answer(question="q", answer=text, answered=bool(cited),
                  citations=[Citation(n, hits[n - 1], True) for n in cited], retrieved=hits, **kw)  # type: ignore[arg-type]


def record(source: str, title: str, doc_type: str = "txt", passages: int = 3, at: float = 1.7e9,
           date: str | None = None) -> DocumentRecord:
    return DocumentRecord(source, "h" + source, title, doc_type, "utf-8", 10, 1.0, passages, at, date)


# -- escaping -------------------------------------------------------------------------------------

def test_esc_escapes_markup_and_both_quotes() -> None:
    assert esc(HOSTILE) == ("Before &lt;script&gt;window.__pwned=1&lt;/script&gt; middle &lt;img src=x "
                            "onerror=&quot;window.__pwned=1&quot;&gt; after &amp; &quot;quotes&quot; "
                            "&#x27;single&#x27;")


def test_passage_text_file_name_and_title_are_shown_as_text() -> None:
    p = passage(HOSTILE, source=f"/docs/{IMG}.txt")
    p = Passage(**{**p.__dict__, "title": SCRIPT})
    card = passage_card(1, hit(p), Prefs())
    parsed = assert_inert(card)
    assert HOSTILE in parsed.text  # the literal text survives, for people to read
    assert f"{IMG}.txt" in parsed.text and SCRIPT in parsed.text
    source_attrs = [a["data-source"] for _, a in parsed.tags if "data-source" in a]
    assert source_attrs == [p.source]  # the attribute round-trips to the exact path


def test_question_and_answer_text_are_escaped_in_a_turn() -> None:
    h = hit(passage(HOSTILE))
    turn = Turn(f"Wat is {SCRIPT}?", answer=answer(f"Zie {IMG} [1]", [h], [1]))
    parsed = assert_inert(turn_html(turn, Prefs()))
    assert f"Wat is {SCRIPT}?" in parsed.text
    assert f"Zie {IMG}" in parsed.text


def test_streaming_partial_and_error_turns_are_escaped() -> None:
    assert SCRIPT in assert_inert(turn_html(Turn("q", partial=SCRIPT), Prefs())).text
    assert IMG in assert_inert(turn_html(Turn("q", error=IMG), Prefs())).text


def test_panel_escapes_document_text_title_and_path() -> None:
    text = f"intro {SCRIPT} cited {IMG} outro"
    start = text.index("cited")
    view = DocumentView(source=f"/d/{SCRIPT}.html", title=IMG, text=text, start=start, end=start + 5)
    parsed = assert_inert(panel_html(view, "en"))
    assert text in parsed.text and IMG in parsed.text
    href = next(a["href"] for tag, a in parsed.tags if tag == "a")
    assert href == file_url(view.source) and "<" not in (href or "")


def test_report_escapes_failed_sources_and_reasons() -> None:
    report = {"added": 1, "updated": 0, "unchanged": 2, "renamed": 0, "removed": 0,
              "failed": [{"source": f"/u/{IMG}.txt", "reason": SCRIPT}], "passages": 9, "seconds": 0.5}
    parsed = assert_inert(report_html(report, "en"))
    assert f"/u/{IMG}.txt" in parsed.text and SCRIPT in parsed.text
    assert re.search(r"1\s*added", parsed.text) and re.search(r"1\s*failed", parsed.text)


def test_documents_table_escapes_titles_and_paths() -> None:
    page = select_documents([record(f"/d/{IMG}.txt", SCRIPT)], DocQuery())
    parsed = assert_inert(documents_table_html(page, "nl"))
    assert SCRIPT in parsed.text and f"/d/{IMG}.txt" in parsed.text
    confirms = [a["data-confirm"] for _, a in parsed.tags if "data-confirm" in a]
    assert confirms and SCRIPT in (confirms[0] or "")


# -- citations in answers -------------------------------------------------------------------------

def test_markers_become_buttons_pointing_at_their_passage() -> None:
    hits = [hit(passage("eerste", start=0)), hit(passage("tweede", source="/docs/b.txt", start=40))]
    parsed = parse(answer_text_html("A [1]. B [2]. C [7].", hits, "en"))
    buttons = [a for tag, a in parsed.tags if tag == "button"]
    assert [(b["data-source"], b["data-start"], b["data-end"]) for b in buttons] == [
        ("/docs/seed.txt", "0", "6"), ("/docs/b.txt", "40", "46")]
    assert "[7]" in parsed.text  # a marker without a passage stays plain text


def test_refused_answer_shows_the_closest_passages() -> None:
    hits = [hit(passage("dichtbij", start=0)), hit(passage("verder", start=20))]
    html = turn_html(Turn("q", answer=answer("Geen antwoord.", hits, [])), Prefs(language="en"))
    assert "No answer in the documents" in html and "Passages closest to the question" in html
    assert "dichtbij" in html and "verder" in html


def test_backend_error_shows_error_and_retrieved_passages() -> None:
    hits = [hit(passage("gevonden passage"))]
    a = answer("The answer model failed (connection refused).", hits, [], error="connection refused")
    parsed = parse(turn_html(Turn("q", answer=a), Prefs(language="en")))
    assert "Answer backend unavailable" in parsed.text and "connection refused" in parsed.text
    assert "gevonden passage" in parsed.text


def test_cited_passages_come_first_and_the_rest_is_folded() -> None:
    hits = [hit(passage(f"passage {i}", start=i * 20)) for i in range(1, 4)]
    html = turn_html(Turn("q", answer=answer("X [2].", hits, [2], seconds=1.234)), Prefs(language="en"))
    sources, folded = html.split("<details", 1)
    assert "passage 2" in sources and "passage 1" not in sources
    assert "passage 1" in folded and "passage 3" in folded and "(2)" in folded
    assert "1.2 s · used 1 of 3 passages" in html


def test_an_unverified_citation_is_flagged_on_its_card() -> None:
    hits = [hit(passage("steunt het"))]
    a = Answer(question="q", answer="Bewering [1].", answered=True, citations=[Citation(1, hits[0], False)],
               retrieved=hits)
    assert "Not supported by a passage" in turn_html(Turn("q", answer=a), Prefs(language="en"))
    assert "Not supported" not in turn_html(Turn("q", answer=answer("B [1].", hits, [1])), Prefs(language="en"))


def test_history_for_follow_ups_holds_finished_turns_oldest_first() -> None:
    from ui.chat import history

    first = Turn("Hoeveel subsidie?", answer=answer("75.000 euro [1].", [hit(passage())], [1]))
    turns = [first, Turn("fout", error="kapot"), Turn("En in 2016?", partial="bezig")]
    assert history(turns) == [("Hoeveel subsidie?", "75.000 euro [1].")]


def test_scores_only_when_asked() -> None:
    h = hit(passage("x"), score=0.0312345)
    assert "0.0312" not in passage_card(1, h, Prefs(show_scores=False))
    assert "score 0.0312" in passage_card(1, h, Prefs(show_scores=True))


def test_empty_index_says_how_to_add_documents() -> None:
    assert "vraagbaak ingest PATH" in conversation_html([], Prefs(language="en"), documents=0)
    assert "Documents tab" in conversation_html([], Prefs(language="en"), documents=0)
    assert "ingest PATH" not in conversation_html([], Prefs(language="en"), documents=3)


# -- highlight and panel --------------------------------------------------------------------------

def test_highlight_marks_exactly_the_span() -> None:
    text = "abc <b>def</b> ghi"
    out = highlight(text, 4, 14)
    assert out == 'abc <mark id="vb-hit">&lt;b&gt;def&lt;/b&gt;</mark> ghi'
    assert highlight(text, 0, 0).startswith('<mark id="vb-hit"></mark>abc')
    assert highlight(text, 15, 18).endswith('<mark id="vb-hit">ghi</mark>')


@pytest.mark.parametrize("span", [(-1, 2), (3, 2), (0, 99)])
def test_highlight_refuses_spans_outside_the_text(span: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="outside"):
        highlight("short text", *span)


def test_highlighted_text_round_trips_to_the_passage() -> None:
    text = "Vraag 1\nHoeveel? & <meer>\nAntwoord: 75.000 euro.\nEinde"
    start = text.index("Antwoord")
    end = text.index("\nEinde")
    view = DocumentView("/d/a.txt", "A", text, start, end)
    marked = re.search(r'<mark id="vb-hit">(.*?)</mark>', panel_html(view, "nl"), re.S)
    assert marked and parse(marked.group(1)).text == text[start:end]


def test_the_sentences_an_answer_took_get_a_stronger_mark_inside_the_passage() -> None:
    text = "Kop\nDe eerste zin. De <tweede> zin telt. Derde zin.\nEinde"
    start, end = text.index("De eerste"), text.index("\nEinde")
    quote = (text.index("De <tweede>"), text.index(" Derde"))
    html = panel_html(DocumentView("/d/a.txt", "A", text, start, end, quotes=(quote,)), "nl")
    hit = BeautifulSoup(html, "html.parser").find("mark", id="vb-hit")
    assert hit is not None and hit.get_text() == text[start:end]
    (strong,) = hit.find_all("mark", class_="vb-quote")
    assert strong.get_text() == "De <tweede> zin telt."
    # a quote outside the passage's span is not marked rather than marking the wrong text
    html = panel_html(DocumentView("/d/a.txt", "A", text, start, end, quotes=((0, 3),)), "nl")
    assert "vb-quote" not in html


def test_a_citation_carries_its_quoted_sentences_to_card_and_panel() -> None:
    text = "Eerste zin hier. Tweede zin telt echt."
    passage = Passage("/d/a.txt", 100, 100 + len(text), text)
    hit = Hit(passage, "p1", 0.5)
    quote = (100 + text.index("Tweede"), passage.end)
    answer = Answer("v?", "Tweede zin telt echt. [1]", True, [Citation(1, hit, True, (quote,))], [hit],
                    verified=True)
    html = turn_html(Turn("v?", answer=answer), Prefs())
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("button", class_="vb-cite")["data-quotes"] == f"{quote[0]}-{quote[1]}"
    assert soup.find("blockquote").find("mark", class_="vb-quote").get_text() == "Tweede zin telt echt."


def test_an_unverified_answer_is_badged_as_such_not_as_a_refusal() -> None:
    hit = Hit(Passage("/d/a.txt", 0, 10, "Tien woord"), "p1", 0.5)
    answer = Answer("v?", "Niet bevestigd: … ⚠", False, [Citation(1, hit, False)], [hit])
    html = turn_html(Turn("v?", answer=answer), Prefs(language="en"))
    assert "Unverified" in html and t("en", "refused") not in html


def test_window_keeps_long_documents_bounded_around_the_span() -> None:
    assert window(100, 10, 20, limit=1000) == (0, 100)
    lo, hi = window(1_000_000, 500_000, 500_100, limit=10_000)
    assert hi - lo == 10_000 and lo <= 500_000 and hi >= 500_100
    assert window(1_000_000, 5, 10, limit=1000) == (0, 1000)
    assert window(1_000_000, 999_990, 1_000_000, limit=1000) == (999_000, 1_000_000)


def test_long_document_panel_shows_an_excerpt_note() -> None:
    text = "x" * 200_000
    html = panel_html(DocumentView("/d/big.txt", "Big", text, 150_000, 150_010), "en")
    assert "Excerpt of a long document" in html and html.count("x") < 100_000


def test_panel_shows_pdf_page_and_neighbours() -> None:
    text = "page one text\n\npage two: cited passage here\n\nmore"
    start = text.index("cited")
    cited = passage("cited passage", source="/d/r.pdf", start=start, page=2)
    before = passage("page one text", source="/d/r.pdf", start=0, page=1)
    view = DocumentView("/d/r.pdf", "Rapport", text, start, start + 13, page=2, previous=before, passage=cited)
    html = panel_html(view, "en")
    assert "p. 2" in html and "#page=2" in html
    assert "Previous passage" in html and "Next passage" not in html


def opened(text: str, passages: tuple[Passage, ...], page_starts: tuple[int, ...] = ()) -> OpenedDocument:
    return OpenedDocument(record("/d/r.pdf", "Rapport", "pdf"), text, passages, page_starts)


def test_document_view_marks_the_passage_with_its_page_neighbours_and_quotes() -> None:
    text = "page one text\n\npage two: cited passage here\n\nmore"
    start = text.index("cited")
    cited = passage("cited passage", source="/d/r.pdf", start=start, page=2)
    before = passage("page one text", source="/d/r.pdf", start=0, page=1)
    after = passage("more", source="/d/r.pdf", start=text.index("more"), page=2)
    doc = opened(text, (after, cited, before), page_starts=(0, text.index("page two")))
    view = document_view(doc, str(start), str(cited.end), f"{start}-{start + 5},0-3")
    assert (view.source, view.title, view.start, view.end, view.page) == ("/d/r.pdf", "Rapport", start, cited.end, 2)
    assert (view.previous, view.passage, view.following) == (before, cited, after)
    assert view.quotes == ((start, start + 5),)  # the quote outside the passage is left out


def test_document_view_drops_a_span_that_no_longer_fits_the_text() -> None:
    text = "the file changed since it was indexed"
    stale = passage("old words", source="/d/r.pdf", start=4)
    for start, end in ((4, 13), (30, 99), ("x", 3)):
        view = document_view(opened(text, (stale,)), start, end)
        assert (view.start, view.end, view.passage, view.text) == (None, None, None, text)


def test_render_panel_says_why_a_document_cannot_be_shown() -> None:
    def missing(source: str) -> OpenedDocument:
        raise LookupError(source)

    def unreadable(source: str) -> OpenedDocument:
        raise IngestError(f"{source}: the PDF is encrypted")

    assert "no longer) indexed: /d/gone.txt" in render_panel(missing, "/d/gone.txt", None, None, "en")
    assert "cannot be read: /d/x.pdf: the PDF is encrypted" in render_panel(unreadable, "/d/x.pdf", None, None, "en")


def test_file_url_quotes_the_whole_path() -> None:
    assert file_url("/a b/c&d?.pdf", 3) == "vraagbaak/file?source=%2Fa%20b%2Fc%26d%3F.pdf#page=3"


# -- locations ------------------------------------------------------------------------------------

def test_location_of_plain_text_is_the_character_range() -> None:
    assert location(passage("x" * 10, start=1200), "en") == "chars 1,200–1,210"


def test_location_of_a_pdf_passage_names_the_page() -> None:
    assert location(passage("tekst", start=0, page=4), "nl") == "p. 4 · tekens 0–5"


def test_location_of_a_numbered_answer_names_the_question() -> None:
    p = passage("tekst", start=0, section="ANTWOORD", item="2", kind="answer")
    assert location(p, "nl") == "Antwoord, vraag 2 · tekens 0–5"
    assert location(p, "en") == "Answer, question 2 · chars 0–5"


def test_location_of_a_markdown_section_shows_the_heading_as_text() -> None:
    assert location(passage("tekst", start=0, section="Inleiding"), "nl").startswith("Inleiding · ")


# -- languages ------------------------------------------------------------------------------------

def test_both_languages_have_every_text() -> None:
    assert TEXTS["nl"].keys() == TEXTS["en"].keys()


@pytest.mark.parametrize(("header", "expected"), [
    ("nl-NL,nl;q=0.9,en;q=0.8", "nl"), ("en-GB,en;q=0.9,nl;q=0.8", "en"), ("de-DE,en;q=0.5,nl;q=0.7", "nl"),
    ("fr-BE, en;q=0.4", "en"), ("", "nl"), (None, "nl"), ("en;q=0, nl", "nl"), ("EN-us", "en"),
])
def test_language_from_accept_language(header: str | None, expected: str) -> None:
    assert pick_language(header) == expected


def test_texts_follow_the_language() -> None:
    assert t("en", "send") == "Ask" and t("nl", "send") == "Vraag" and t("xx", "send") == "Vraag"


# -- documents listing ----------------------------------------------------------------------------

def many(n: int) -> list[DocumentRecord]:
    return [record(f"/corpus/{'pdfs' if i % 3 == 0 else 'txt'}/doc_{i:05d}.{'pdf' if i % 3 == 0 else 'txt'}",
                   f"Document {i:05d} over {'water' if i % 2 else 'wegen'}",
                   "pdf" if i % 3 == 0 else "txt", passages=i % 17, at=1.7e9 + i) for i in range(n)]


def test_listing_pages_ten_thousand_documents() -> None:
    page = select_documents(many(10_000), DocQuery(page=3, per_page=25))
    assert page.total == 10_000 and page.pages == 400 and page.page == 3
    assert [r.title[:14] for r in page.rows[:2]] == ["Document 00050", "Document 00051"]


def test_listing_search_matches_every_word_in_title_or_path() -> None:
    page = select_documents(many(300), DocQuery(search="WATER pdfs", per_page=1000))
    assert page.total == 50 and all("water" in r.title and "/pdfs/" in r.source for r in page.rows)


def test_listing_filters_by_type_and_sorts() -> None:
    rows = select_documents(many(30), DocQuery(doc_type="pdf", sort="passages", descending=True, per_page=100)).rows
    assert {r.doc_type for r in rows} == {"pdf"}
    assert [r.passages for r in rows] == sorted((r.passages for r in rows), reverse=True)
    newest = select_documents(many(30), DocQuery(sort="ingested_at", descending=True)).rows[0]
    assert newest.title.startswith("Document 00029")


def test_a_scoped_answer_says_what_it_was_limited_to() -> None:
    hits = [hit(passage("eerste", start=0))]
    plain = answer("A [1].", hits, [1], seconds=1.25)
    assert answer_meta(plain, "en") == "1.2 s · used 1 of 1 passages"
    scoped = answer("A [1].", hits, [1], seconds=1.25, scope=Scope.of(
        paths=["/d/a.txt", "/d/sub/", "/d/b.txt", "/d/c.txt"], years=[2017, 2016], types=["pdf"]))
    assert answer_meta(scoped, "en") == ("1.2 s · used 1 of 1 passages · "
                                         "only in: a.txt, sub/, b.txt, +1; 2016, 2017; pdf")
    assert "alleen in: 2016, 2017" in answer_meta(replace(scoped, scope=Scope.of(years=[2016, 2017])), "nl")


def test_a_scoped_refusal_says_the_search_was_limited_and_how_to_widen_it() -> None:
    hits = [hit(passage("eerste", start=0))]
    refused = answer("De documenten bevatten geen antwoord.", hits, [], scope=Scope.of(paths=["/d/a.txt"]))
    note = BeautifulSoup(turn_html(Turn("q", answer=refused), Prefs(language="en")), "html.parser").find(
        class_="vb-scope-note")
    assert note is not None and "Only a.txt was searched" in note.get_text()
    assert "all documents" in note.get_text()
    unscoped = turn_html(Turn("q", answer=replace(refused, scope=None)), Prefs(language="en"))
    assert "vb-scope-note" not in unscoped  # a refusal over everything has nothing to widen


def test_listing_shows_and_sorts_by_the_date_a_document_states() -> None:
    records = [record("/d/a.txt", "A", date="2017-03-01"), record("/d/b.txt", "B"),
               record("/d/c.txt", "C", date="2016")]
    page = select_documents(records, DocQuery(sort="date", descending=True))
    assert [r.title for r in page.rows] == ["A", "C", "B"]  # undated last when newest first
    cells = [row.find_all("td")[2].get_text() for row in
             BeautifulSoup(documents_table_html(page, "en"), "html.parser").find("tbody").find_all("tr")]
    assert cells == ["2017-03-01", "2016", ""]


def test_listing_filters_by_the_year_a_document_states() -> None:
    records = [record("/d/a.txt", "A", date="2017-03-01"), record("/d/b.txt", "B"),
               record("/d/c.txt", "C", date="2016")]
    assert [r.title for r in select_documents(records, DocQuery(year="2017")).rows] == ["A"]
    assert [r.title for r in select_documents(records, DocQuery(year=UNDATED)).rows] == ["B"]
    assert select_documents(records, DocQuery(year="")).total == 3
    assert year_choices([2017, 2016], "nl") == [("Alle jaren", ""), ("2017", "2017"), ("2016", "2016"),
                                                ("Zonder datum", UNDATED)]


def test_listing_clamps_the_page_and_rejects_unknown_sort_keys() -> None:
    assert select_documents(many(10), DocQuery(page=99)).page == 1
    assert select_documents([], DocQuery()).pages == 1
    with pytest.raises(ValueError, match="unknown sort key"):
        select_documents(many(3), DocQuery(sort="size; DROP TABLE"))


def test_removing_an_upload_warns_that_the_copy_goes_too() -> None:
    page = select_documents([record("/data/uploads/a.txt", "A"), record("/docs/b.txt", "B")], DocQuery())
    confirms = {a["data-source"]: a["data-confirm"] for _, a in parse(
        documents_table_html(page, "en", "/data/uploads")).tags if "data-confirm" in a}
    assert "uploaded copy is deleted" in (confirms["/data/uploads/a.txt"] or "")
    assert "file itself stays" in (confirms["/docs/b.txt"] or "")


# -- scope ----------------------------------------------------------------------------------------

def test_scope_offers_folders_then_documents() -> None:
    choices = scope_choices([record("/c/a/x.txt", "X"), record("/c/b/y.txt", "Y"), record("/c/b/z/w.txt", "W")])
    values = [v for _, v in choices]
    assert values == ["/c/a/", "/c/b/", "/c/b/z/", "/c/b/z/w.txt", "/c/a/x.txt", "/c/b/y.txt"]


def test_past_the_limit_the_scope_lists_folders_and_the_chosen_documents() -> None:
    records = [record(f"/c/{d}/x{i}.txt", f"T{d}{i}") for d in "ab" for i in range(3)]
    assert len(scope_choices(records, limit=6)) == 2 + 6
    values = [v for _, v in scope_choices(records, keep=["/c/b/x1.txt"], limit=5)]
    assert values == ["/c/a/", "/c/b/", "/c/b/x1.txt"]


def test_documents_table_rows_offer_open_ask_about_and_remove() -> None:
    parsed = parse(documents_table_html(select_documents([record("/d/a.txt", "A")], DocQuery()), "en"))
    actions = [(a["data-action"], a["data-source"]) for tag, a in parsed.tags if "data-action" in a]
    assert actions == [("open", "/d/a.txt"), ("open", "/d/a.txt"), ("scope", "/d/a.txt"), ("remove", "/d/a.txt")]
    assert "Ask about this" in parsed.text


def test_sync_folders_are_the_outermost_ones() -> None:
    assert outermost(["/c/a", "/c/a/b", "/c/ab", "/d"]) == ["/c/a", "/c/ab", "/d"]
    assert folders(["/c/a/b/x.txt", "/c/a/y.txt"]) == ["/c/a", "/c/a/b"]


def test_a_failed_upload_is_named_as_uploaded_and_its_copy_dropped(make_assistant: Any, tmp_path: Path) -> None:
    import types

    from tests.conftest import SEED
    from ui.documents import Library
    from ui.state import Prefs

    dropped = tmp_path / "dropped"
    dropped.mkdir()
    (dropped / "leeg.txt").write_text("", encoding="utf-8")
    uploads = tmp_path / "uploads"
    library = Library(make_assistant(), uploads)
    html, _ = library.upload([str(dropped / "leeg.txt"), str(SEED)], Prefs(language="en"),
                             types.SimpleNamespace(username=None), lambda *_, **__: None)  # type: ignore[arg-type]
    assert ">leeg.txt</td>" in html and str(uploads) not in html  # the name the user uploaded, once
    assert "<th>File</th>" in html
    assert sorted(p.name for p in uploads.iterdir()) == [SEED.name]  # the indexed copy stays, the failed one goes


def test_the_page_label_counts_one_document_in_the_singular() -> None:
    one = select_documents([record("/d/a.txt", "A")], DocQuery())
    assert page_label(one, "nl") == "Pagina 1 van 1 · 1 document"
    assert page_label(select_documents([record("/d/a.txt", "A"), record("/d/b.txt", "B")], DocQuery()),
                      "en") == "Page 1 of 1 · 2 documents"
