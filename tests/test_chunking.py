from pathlib import Path
from typing import Any

import pytest

from assistant.settings import Settings
from ingest.chunking import Chunker, ChunkingConfig
from ingest.loaders import load
from ingest.structure import find_qa, numbered_items
from tests.conftest import SAMPLES, SEED

CHAMBER = sorted((SAMPLES / "bekamer-2017").glob("*.txt"))


def config(**changes: Any) -> ChunkingConfig:
    """The chunking the default settings give, with ``changes``."""
    s = Settings(**changes)
    return ChunkingConfig(s.chunk_size, s.chunk_overlap, s.structure)


def test_numbered_run_skips_numbers_that_break_it() -> None:
    text = "Intro\n1. Eerste vraag?\n2017 was een jaar.\n2. Tweede vraag?\n1. nested restart\n3. Derde?"
    items = numbered_items(text, 0, len(text))
    assert [i.label for i in items] == ["1", "2", "3"]
    assert text[items[1].start:items[1].end] == "2. Tweede vraag?\n1. nested restart"


def test_grouped_answer_numbers_pair_with_each_question() -> None:
    text = "Titel\nVRAAG\n1. Wat?\n2. Hoe?\n3. Wie?\nANTWOORD\n1-2 Samen beantwoord.\n3. Iemand."
    qa = find_qa(text)
    assert qa is not None
    assert [i.label for i in qa.answer.items] == ["1-2", "3"]
    assert [q.label for q in qa.question_for(qa.answer.items[0])] == ["1", "2"]


def test_document_without_answer_marker_has_no_qa_structure() -> None:
    assert find_qa("# Notes\n\n1. one\n2. two\n") is None


@pytest.mark.parametrize("path", [SEED, *CHAMBER[:15]], ids=lambda p: p.name)
def test_every_passage_is_the_exact_source_span(path: Path) -> None:
    doc = load(path)
    passages = Chunker(config()).split(doc)
    assert passages
    for p in passages:
        assert doc.text[p.start:p.end] == p.text
        assert p.text == p.text.strip()
        assert len(p.text) <= 1800
        # never cut mid-word: a span starts and ends at a word boundary
        assert p.start == 0 or not (doc.text[p.start - 1].isalnum() and doc.text[p.start].isalnum())
        assert p.end == len(doc.text) or not (doc.text[p.end - 1].isalnum() and doc.text[p.end].isalnum())


def test_answer_passage_carries_its_sub_question_as_context() -> None:
    doc = load(SEED)
    passages = Chunker(config()).split(doc)
    answer3 = next(p for p in passages if p.kind == "answer" and p.item == "3")
    assert "75.000 euro" in answer3.text
    assert "Vraag 3: 3. Wat is de budgettaire impact" in answer3.context
    assert answer3.section == "ANTWOORD"
    grouped = next(p for p in passages if p.item == "1-2")
    assert "Wat het onderzoek betreft" in grouped.context and "vorming van de hulpverleners" in grouped.context
    # paired question items are not separate passages; the preamble redirects to the first answer
    questions = [p for p in passages if p.kind == "question"]
    assert questions and all(p.extra["answer_id"] == grouped.passage_id for p in questions)
    assert not any(p.item for p in questions)


def test_long_items_split_at_sentence_or_line_bounds_with_overlap(tmp_path: Path) -> None:
    sentence = "Dit is een vrij lange zin over het beleid van de minister in Brussel. "
    text = "Titel\nVRAAG\n1. Vraag een?\n2. Vraag twee?\nANTWOORD\n1. " + sentence * 40 + "\n2. Kort antwoord.\n"
    path = tmp_path / "qa.txt"
    path.write_text(text, encoding="utf-8")
    doc = load(path)
    passages = [p for p in Chunker(config(chunk_size=400, chunk_overlap=80)).split(doc)
                if p.item == "1"]
    assert len(passages) >= 6
    for a, b in zip(passages, passages[1:], strict=False):
        assert b.start < a.end  # overlapping pieces
        assert a.text.endswith(".")
    assert all(p.context.endswith("Vraag 1: 1. Vraag een?") for p in passages)


def test_markdown_sections_become_passage_sections(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# Gids\n\nInleiding.\n\n## Installatie\n\nDraai make run.\n\n## Gebruik\n\nStel een vraag.\n",
                    encoding="utf-8")
    doc = load(path)
    passages = Chunker(config()).split(doc)
    by_text = {p.text: p for p in passages}
    assert by_text["## Installatie\n\nDraai make run."].section == "Gids > Installatie"
    assert by_text["## Gebruik\n\nStel een vraag."].context == "Gids\nGids > Gebruik"
    assert all(p.kind == "text" for p in passages)


def test_structure_off_gives_plain_sections() -> None:
    doc = load(SEED)
    passages = Chunker(config(structure=False)).split(doc)
    assert {p.kind for p in passages} == {"text"}
    assert all(doc.text[p.start:p.end] == p.text for p in passages)


def test_a_run_without_spaces_is_cut_into_passages_of_the_target_size(tmp_path: Path) -> None:
    # base64 or glued PDF text: no separator to split at; one 3 MB passage would outgrow any embedder
    run = "Qm" * 1_500_000
    path = tmp_path / "blob.txt"
    path.write_text(f"Bijlage\n\n{run}\n\nEinde van de bijlage.", encoding="utf-8")
    doc = load(path)
    passages = Chunker(ChunkingConfig(1200, 150, True)).split(doc)
    assert max(len(p.text) for p in passages) <= 2 * 1200
    assert all(doc.text[p.start:p.end] == p.text for p in passages)
    covered = sorted((p.start, p.end) for p in passages)
    start = doc.text.index(run)
    assert covered[1][0] == start and covered[-1][1] >= start + len(run)
    gaps = [doc.text[a[1]:b[0]] for a, b in zip(covered, covered[1:], strict=False) if b[0] > a[1]]
    assert all(not gap.strip() for gap in gaps)  # no character but blank lines left out
