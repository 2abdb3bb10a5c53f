"""The evidence reader on hand-made passages (no model: similarities are 0.0 without an embedder)."""

from __future__ import annotations

import pytest

from assistant.evidence import EvidenceReader
from assistant.retrieval import Hit
from values.passage import Passage
from values.text import Tokenizer

TEXT = ("Installatie\nDe standaardpoort van de server is 5432. De server draait als gebruiker postgres.\n"
        "Zie de handleiding van Debian.")


def hits(text: str = TEXT, doc_type: str = "html") -> list[Hit]:
    return [Hit(Passage("/d/a.html", 100, 100 + len(text), text, doc_type=doc_type, title="Server"), "p", 1.0, 0.9)]


@pytest.fixture(scope="module")
def reader() -> EvidenceReader:
    return EvidenceReader(Tokenizer(), None)


def test_the_answering_sentence_is_chosen_with_its_document_offsets(reader: EvidenceReader) -> None:
    ev = reader.read("Op welke poort luistert de server standaard?", hits())
    (quote,) = ev.quotes
    assert quote.text == "De standaardpoort van de server is 5432."
    assert TEXT[quote.start - 100:quote.end - 100] == quote.text
    assert ev.number_wanted and ev.number_found and ev.content


@pytest.mark.parametrize(("question", "wanted"), [
    ("Hoeveel keer werd de workshop gegeven?", True), ("En hoeveel kost dat?", True),
    ("Wanneer zal de vorming plaatsvinden?", True), ("Which TCP port does the server use?", True),
    ("Sinds welke LilyPond-versie bestaat het?", True), ("What is the numeric UID of www-data?", True),
    ("Wanneer een vrouw zich aanmeldt, kan zij een pruik krijgen?", False),
    ("Wie is de bedrijfsleider?", False), ("Which packages provide a mail agent?", False)])
def test_questions_that_ask_for_a_number_or_date_are_told_apart(reader: EvidenceReader, question: str,
                                                               wanted: bool) -> None:
    assert reader.read(question, hits()).number_wanted is wanted


def test_missing_numbers_and_names_are_reported(reader: EvidenceReader) -> None:
    ev = reader.read("Draait de server in 2023 als gebruiker postgres?", hits())
    assert ev.missing_numbers == ("2023",)
    assert reader.read("Draait de server bij Oracle?", hits()).names_missing
    assert not reader.read("Draait de server bij Debian?", hits()).names_missing


def test_headings_and_questions_are_never_quoted(reader: EvidenceReader) -> None:
    text = "Hoe vind ik de poort van de server?\nDe poort staat in postgresql.conf.\nServerpoort instellen"
    ev = reader.read("Hoe vind ik de poort van de server?", hits(text))
    assert [q.text for q in ev.quotes] == ["De poort staat in postgresql.conf."]


def test_a_name_the_passage_leaves_out_is_looked_for_in_its_document() -> None:
    """The refusal's names rule reads the top passages' documents, not only the passages (parliamentary
    answers rarely repeat the ministry the question names); a name no document holds still refuses."""
    documents = {"/d/a.html": ["Server\nDe beheerder van Defensie installeert de server.", TEXT]}
    reader = EvidenceReader(Tokenizer(), None, lambda source: documents.get(source, []))
    assert not reader.read("Welke poort gebruikt de server van Defensie?", hits()).names_missing
    assert reader.read("Welke poort gebruikt de server van Justitie?", hits()).names_missing
    assert EvidenceReader(Tokenizer(), None).read("Welke poort gebruikt de server van Defensie?", hits()).names_missing


def test_a_number_the_passage_leaves_out_is_looked_for_in_its_document() -> None:
    """An answer passage rarely repeats its question's figures ("de 245 extra cipiers"); its document's
    question part holds them. A number no document holds (2023 asked, 2016 given) still refuses."""
    documents = {"/d/a.html": ["Vraag\nWelke poort krijgen de 245 nieuwe servers?", TEXT]}
    reader = EvidenceReader(Tokenizer(), None, lambda source: documents.get(source, []))
    assert reader.read("Welke poort krijgen de 245 nieuwe servers?", hits()).missing_numbers == ()
    assert reader.read("Welke poort krijgen de 246 nieuwe servers?", hits()).missing_numbers == ("246",)
    alone = EvidenceReader(Tokenizer(), None)  # no document to read: the passages decide
    assert alone.read("Welke poort krijgen de 245 servers?", hits()).missing_numbers == ("245",)


@pytest.mark.parametrize(("sentence", "count"), [
    ("Er is een geval van een dergelijke situatie gemeld.", True),
    ("Het scherm wordt iedere halve seconde ververst.", True),
    ("Dat gebeurde één keer.", True), ("Er zitten tien mijnen verborgen.", True),
    ("Er is een boek over geschreven.", False), ("Elk bestand wordt slechts eenmaal opgehaald.", False)])
def test_a_count_in_words_answers_a_how_many_question(reader: EvidenceReader, sentence: str, count: bool) -> None:
    """"Er is een geval" answers "hoe vaak"; "eenmaal" in a sentence about something else does not
    answer "hoe groot" (an unanswerable manuals question was answered on it)."""
    text = f"Uitleg\n{sentence}"
    hit = [Hit(Passage("/d/a.txt", 0, len(text), text, doc_type="txt", title="Uitleg"), "p", 1.0, 0.9)]
    ev = reader.read("Hoe vaak komt dat voor?", hit)
    assert ev.number_wanted and [q.text for q in ev.quotes] == [sentence]
    assert ev.number_found is count


@pytest.mark.parametrize(("sentence", "answers"), [
    ("De Directie-generaal beschikt dus niet over cijfers over de intrekkingen.", True),
    ("Deze parlementaire vragen vallen niet onder mijn bevoegdheden, maar onder die van de minister.", True),
    ("Die intrekkingen worden niet centraal bijgehouden.", True),
    ("The police do not keep figures on such withdrawals.", True),
    ("De intrekkingen worden door de politie beslist.", False),
    ("Over de intrekkingen wordt de Directie-generaal niet op de hoogte gebracht.", False)])
def test_saying_there_are_no_figures_answers_a_how_many_question(reader: EvidenceReader, sentence: str,
                                                                 answers: bool) -> None:
    """A minister's "beschikt niet over cijfers" or "valt niet onder mijn bevoegdheden" is the answer to
    "Hoeveel …?" (three such dev questions were refused for want of a number); a sentence on the topic
    that gives neither a number nor the want of one is not."""
    text = f"Antwoord\n{sentence}"
    hit = [Hit(Passage("/d/a.txt", 0, len(text), text, doc_type="txt", title="Antwoord"), "p", 1.0, 0.9)]
    ev = reader.read("Hoeveel parkeerkaarten werden ingetrokken?", hit)
    assert ev.number_wanted and [q.text for q in ev.quotes] == [sentence]
    assert ev.number_found is answers


def test_the_documents_are_read_once_when_a_name_and_a_number_are_both_missing() -> None:
    """Both rules look in the top passages' documents; one question reads them once."""
    calls: list[str] = []

    def document(source: str) -> list[str]:
        calls.append(source)
        return ["Vraag\nWelke poort krijgen de 245 servers van Defensie?", TEXT]

    ev = EvidenceReader(Tokenizer(), None, document).read("Welke poort krijgen de 245 servers van Defensie?", hits())
    assert ev.missing_numbers == () and not ev.names_missing
    assert calls == ["/d/a.html"]
