"""Answers that hold on a user's own documents: the right whole sentences, honest refusals at any
collection size and with any embedder. Real embedders (e5, MiniLM), real Chroma; refusal stays on."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.assistant import Assistant
from assistant.evidence import Evidence
from assistant.refusal import UNCALIBRATED, RefusalPolicy, model_key
from assistant.retrieval import Hit
from tests.conftest import SEED, SEED_QUESTION, SMALL_SET
from vraagbaak.cli import app

pytestmark = pytest.mark.model

BAKERY = """# Bakkerij De Korenschoof

## Over ons

De bakkerij werd in 1984 opgericht in Mechelen. De oven is een steenoven uit Italië.

## Personeel

De bedrijfsleider is Marieke de Boer. Zij werkt er sinds 2010.

## Cijfers

| jaar | omzet |
| --- | --- |
| 2022 | 410.000 euro |
| 2023 | 455.000 euro |

De omzet steeg in 2023 tot 455.000 euro.
"""

GHENT = """<html><head><title>Parkeren in Gent</title></head><body>
<h1>Parkeren in Gent</h1>
<p>Bewoners van de binnenstad kunnen een bewonerskaart aanvragen bij de dienst Mobiliteit.</p>
<p>De bewonerskaart kost 25 euro per jaar.</p>
<p>Een tweede wagen kost extra.</p>
</body></html>
"""


@pytest.fixture
def own_docs(tmp_path: Path) -> Path:
    """A user's own folder: the seed, a few Chamber documents, a Markdown page and an HTML page."""
    folder = tmp_path / "own"
    folder.mkdir()
    shutil.copy(SEED, folder)
    for path in SMALL_SET[:4]:
        shutil.copy(path, folder)
    (folder / "bakkerij.md").write_text(BAKERY, encoding="utf-8")
    (folder / "gent.html").write_text(GHENT, encoding="utf-8")
    return folder


@pytest.fixture
def seed_only(tmp_path: Path) -> Path:
    folder = tmp_path / "seed"
    folder.mkdir()
    shutil.copy(SEED, folder)
    return folder


@pytest.fixture
def uncalibrated(tmp_path: Path, minilm: str) -> str:
    """MiniLM under a name no calibration knows: a user's own sentence-transformers model."""
    link = tmp_path / "my-own-model"
    link.symlink_to(minilm.split(":", 1)[1], target_is_directory=True)
    name = f"sentence-transformers:{link}"
    assert model_key(name) == "my-own-model"
    return name


def test_the_seed_question_is_answered_over_the_seed_document_alone(
        make_assistant: Callable[..., Assistant], seed_only: Path) -> None:
    a = make_assistant(embedder="e5-small")
    a.ingest([seed_only])
    answer = a.ask(SEED_QUESTION)
    assert answer.answered, answer.extra
    assert answer.answer == ("Het aanbod van OTA zit in het open vormingsaanbod dat ze organiseren als opdracht "
                             "binnen de projectsubsidie die zij ontvangen van WVG van 75.000 euro in het totaal. [1]")
    (citation,) = answer.citations
    text = SEED.read_text(encoding="utf-8")
    (start, end), = citation.quotes
    assert " ".join(text[start:end].split()) == answer.answer.removesuffix(" [1]")


def test_a_sentence_wrapped_across_a_blank_line_is_quoted_whole(
        make_assistant: Callable[..., Assistant], seed_only: Path) -> None:
    a = make_assistant(embedder="e5-small")
    a.ingest([seed_only])
    answer = a.ask("How is the speaker of the OTA workshop paid?")
    assert answer.answered, answer.extra
    assert ("De spreker van de specifieke workshop aangeboden door OTA wordt vergoed in functie van het aantal "
            "keer dat de workshop wordt aangeboden. [1]") in answer.answer
    assert "vergoed in [1]" not in answer.answer


def test_a_follow_up_the_document_does_not_answer_is_refused(
        make_assistant: Callable[..., Assistant], own_docs: Path) -> None:
    a = make_assistant(embedder="e5-small")
    a.ingest([own_docs])
    first = a.ask(SEED_QUESTION)
    assert first.answered
    follow = a.ask("En hoeveel keer werd de workshop gegeven?", history=[(SEED_QUESTION, first.answer)])
    assert not follow.answered and follow.citations == []
    assert follow.answer.startswith("De documenten bevatten geen antwoord")


def test_answers_hold_the_answering_sentence_and_no_filler(
        make_assistant: Callable[..., Assistant], own_docs: Path) -> None:
    a = make_assistant(embedder="e5-small")
    assert not a.ingest([own_docs]).failed
    boss = a.ask("Wie is de bedrijfsleider van bakkerij De Korenschoof?")
    assert boss.answered and boss.answer == "De bedrijfsleider is Marieke de Boer. [1]"
    card = a.ask("Hoeveel kost de bewonerskaart in Gent?")
    assert card.answered and card.answer == "De bewonerskaart kost 25 euro per jaar. [1]"
    assert [Path(c.hit.passage.source).name for c in card.citations] == ["gent.html"]
    revenue = a.ask("Hoeveel omzet maakte de bakkerij in 2023?")
    assert revenue.answered and "455.000 euro" in revenue.answer
    assert "|" not in revenue.answer and "oven" not in revenue.answer  # no table dump, no unrelated sentence


@pytest.mark.parametrize("question", ["Wat is de hoofdstad van Mongolië?", "Who won the 1998 football world cup?",
                                      "Hoeveel kost de bewonerskaart in Antwerpen?"])
def test_questions_the_documents_do_not_answer_are_refused_with_e5(
        make_assistant: Callable[..., Assistant], own_docs: Path, question: str) -> None:
    a = make_assistant(embedder="e5-small")
    a.ingest([own_docs])
    answer = a.ask(question)
    assert not answer.answered and answer.citations == [], answer.answer
    assert answer.extra["reason"]


@pytest.mark.parametrize("question", ["Wat is de hoofdstad van Mongolië?", "Who won the 1998 football world cup?",
                                      "Wat is het verschil tussen een kat en een hond?"])
def test_an_uncalibrated_embedder_never_fails_open(
        make_assistant: Callable[..., Assistant], own_docs: Path, uncalibrated: str, question: str) -> None:
    a = make_assistant(embedder=uncalibrated)
    a.ingest([own_docs])
    assert not a.refusal_policy().calibrated
    answer = a.ask(question)
    assert not answer.answered and answer.citations == [], answer.answer


def test_an_uncalibrated_embedder_answers_on_strong_word_support(
        make_assistant: Callable[..., Assistant], own_docs: Path, uncalibrated: str) -> None:
    a = make_assistant(embedder=uncalibrated)
    a.ingest([own_docs])
    answer = a.ask("Wie is de bedrijfsleider van bakkerij De Korenschoof?")
    assert answer.answered and answer.answer.startswith("De bedrijfsleider is Marieke de Boer. [")
    (citation,) = answer.citations
    assert Path(citation.hit.passage.source).name == "bakkerij.md" and citation.verified
    assert a.status()["refusal"]["calibrated"] is False


def test_a_sentence_without_content_is_never_an_answer(
        make_assistant: Callable[..., Assistant], tmp_path: Path) -> None:
    folder = tmp_path / "markers"
    folder.mkdir()
    (folder / "lijst.txt").write_text("1.\n\n2.\n\n3. [1]\n\n4.\n", encoding="utf-8")
    (folder / "ander.txt").write_text("a)\n\nb)\n\n1-2\n", encoding="utf-8")
    a = make_assistant(embedder="e5-small", refuse_threshold=-10.0, refuse_foreign=-10.0)
    a.ingest([folder])
    # even with every similarity threshold at nothing, a quote needs words of its own
    answer = a.ask("Wat staat er in punt 1 en 2?")
    assert not answer.answered and answer.citations == []


def test_no_content_rule_in_the_policy() -> None:
    empty = Evidence([], similarity=0.99, lexical=1.0, content=False)
    assert not RefusalPolicy().decide(empty).answerable
    assert not UNCALIBRATED.decide(empty).answerable


class RecordingAnswerer:
    """An LLM stand-in that records whether it was asked at all."""

    name = "recording"

    def __init__(self) -> None:
        self.calls = 0

    def stream(self, question: str, hits: list[Hit], language: str, evidence: Evidence) -> Iterator[str]:
        self.calls += 1
        yield "De maan is van kaas [1]."


def test_an_llm_backend_gets_the_same_refusal_before_generation(
        make_assistant: Callable[..., Assistant], own_docs: Path) -> None:
    recorder = RecordingAnswerer()
    a = make_assistant(embedder="e5-small", answerer=recorder)
    a.ingest([own_docs])
    refused = a.ask("Wat is de hoofdstad van Mongolië?")
    assert not refused.answered and recorder.calls == 0
    unsupported = a.ask(SEED_QUESTION)
    assert recorder.calls == 1 and not unsupported.answered and unsupported.citations == []


def test_calibrate_fits_stores_and_status_shows_the_thresholds(tmp_path: Path, own_docs: Path,
                                                               embedding_cache: Path) -> None:
    runner = CliRunner()
    env = {"VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache)}
    data = str(tmp_path / "cal")
    assert runner.invoke(app, ["ingest", str(own_docs), "--data-dir", data], env=env).exit_code == 0
    before = json.loads(runner.invoke(app, ["status", "--data-dir", data, "--json"], env=env).stdout)
    assert before["refusal"]["source"] == "built-in" and before["calibration"] is None
    result = runner.invoke(app, ["calibrate", "--data-dir", data, "--json"], env=env)
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.stdout)
    report = fitted["report"]
    assert report["probes"] >= 20 and 0 < report["answerable"] < report["probes"]
    assert 0.0 <= report["answered"] <= 1.0 and 0.0 <= report["refused"] <= 1.0
    after = json.loads(runner.invoke(app, ["status", "--data-dir", data, "--json"], env=env).stdout)
    assert after["refusal"]["source"] == "calibrated" and after["refusal"]["threshold"] == fitted["policy"]["threshold"]
    assert after["calibration"]["probes"] == report["probes"]
    text = runner.invoke(app, ["status", "--data-dir", data], env=env).stdout
    assert "calibrated" in text and "probes" in text


def test_calibrate_refuses_an_index_too_small_to_fit(tmp_path: Path, seed_only: Path,
                                                     embedding_cache: Path) -> None:
    runner = CliRunner()
    env = {"VRAAGBAAK_EMBEDDING_CACHE_DIR": str(embedding_cache)}
    data = str(tmp_path / "tiny")
    assert runner.invoke(app, ["ingest", str(seed_only), "--data-dir", data], env=env).exit_code == 0
    result = runner.invoke(app, ["calibrate", "--data-dir", data], env=env)
    assert result.exit_code == 1 and "at least 2" in result.output


def test_a_calibration_stored_by_another_process_applies_at_once(
        make_assistant: Callable[..., Assistant], seed_only: Path) -> None:
    writer = make_assistant()
    writer.ingest([seed_only])
    reader = make_assistant()
    assert reader.refusal_policy().source == "built-in"
    writer.store_calibration(RefusalPolicy(threshold=1.5, foreign=1.4, source="calibrated"), {"probes": 1})
    # no ingest in between, so the index version did not move: the stored calibration is read anyway
    assert reader.refusal_policy().threshold == 1.5 and reader.refusal_policy().source == "calibrated"
    assert reader.status()["refusal"]["threshold"] == 1.5
