"""Sentence segmentation over wrapped text: whole sentences with exact offsets, never fragments."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from assistant.sentences import segment
from tests.conftest import SEED


def kinds(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.words) for s in segment(text)]


def test_a_blank_line_inside_a_sentence_does_not_cut_it() -> None:
    text = ("3. De spreker van de specifieke workshop aangeboden door OTA wordt vergoed in \n\n"
            "functie van het aantal keer dat de workshop wordt aangeboden. De workshop is gratis.")
    assert kinds(text) == [
        ("sentence", "De spreker van de specifieke workshop aangeboden door OTA wordt vergoed in functie "
                     "van het aantal keer dat de workshop wordt aangeboden."),
        ("sentence", "De workshop is gratis.")]


def test_hard_wrapped_lines_and_hyphenation_are_joined_for_the_reader() -> None:
    text = "Dit is een zin die afge-\nbroken werd door de\nPDF en doorloopt. Tweede zin."
    assert [w for _, w in kinds(text)] == ["Dit is een zin die afgebroken werd door de PDF en doorloopt.",
                                          "Tweede zin."]


def test_abbreviations_and_initials_do_not_end_a_sentence() -> None:
    text = "In antwoord op vraag (nr. 295 van 27 januari) stelt A. Jansen het o.a. zo. Daarna iets anders."
    assert len(segment(text)) == 2


def test_headings_rows_and_list_items_are_told_apart() -> None:
    text = ("Installatie\nJe installeert het programma met apt, zoals elk pakket.\n"
            "- eerste punt\n- tweede punt\nNaam | Waarde\nA | 1\n\nDe rest van de tekst loopt door tot")
    assert [k for k, _ in kinds(text)] == ["heading", "sentence", "sentence", "sentence", "row", "row", "fragment"]


def test_the_seed_document_segments_into_its_real_sentences() -> None:
    text = SEED.read_text(encoding="utf-8")
    segments = segment(text)
    words = [s.words for s in segments]
    assert segments[0].kind == "heading"
    assert any(s.kind == "heading" and s.words == "ANTWOORD" for s in segments)
    assert ("De spreker van de specifieke workshop aangeboden door OTA wordt vergoed in functie van het "
            "aantal keer dat de workshop wordt aangeboden.") in words
    assert any(w.startswith("Het aanbod van OTA") and w.endswith("75.000 euro in het totaal.") for w in words)
    for s in segments:
        assert " ".join(text[s.start:s.end].split()) == s.words or "-\n" in text[s.start:s.end]


@given(st.text(alphabet=st.sampled_from(list("ab .\n-|A1?:")), max_size=200))
def test_spans_are_exact_ordered_and_skip_only_whitespace_and_item_numbers(text: str) -> None:
    segments = segment(text)
    at = 0
    for s in segments:
        assert at <= s.start < s.end <= len(text)
        assert re.fullmatch(r"\s*(?:[\w.)(\[\]–-]{1,8}\s+)*", text[at:s.start])  # "3. " before a sentence
        assert text[s.start:s.end] == text[s.start:s.end].strip()
        at = s.end
    assert not text[at:].strip()
