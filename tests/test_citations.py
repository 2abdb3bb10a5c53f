"""Citation checking: markers parsed, verified, re-pointed, kept unverified or dropped; the flags
reach the Answer and its JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.assistant import Assistant, Token
from assistant.citations import (
    UNSUPPORTED,
    CitationChecker,
    cited_markers,
    normalise_markers,
    render,
)
from tests.conftest import ANSWER_ALL, SEED_QUESTION
from tests.fakes import ScriptedAnswerer
from values.text import Tokenizer

# MiniLM's similarities sit below the refusal thresholds calibrated for e5: answer everything here

PASSAGES = [
    "De Federale Gerechtelijke Politie van Bergen-Doornik beschikt momenteel over 70 voertuigen.",
    "De gemiddelde leeftijd van de voertuigen in dienst is 8 jaar.",
    "Voor de vernieuwing van het wagenpark is een budget van 2 miljoen euro vrijgemaakt.",
    "De minister van Justitie antwoordde op 12 mei 2017 op de schriftelijke vraag.",
    "Het aantal inbraken in woningen daalde in 2016 met tien procent.",
]


@pytest.fixture(scope="module")
def checker() -> CitationChecker:
    return CitationChecker(Tokenizer())


def test_a_supported_marker_is_kept_and_verified(checker: CitationChecker) -> None:
    [s] = checker.check("De politie van Bergen-Doornik beschikt over 70 voertuigen [1].", PASSAGES)
    assert s.cited == (1,) and s.verified and not s.repointed and not s.flagged


def test_a_wrong_marker_is_repointed_to_the_passage_that_supports_the_sentence(
        checker: CitationChecker) -> None:
    [s] = checker.check("De gemiddelde leeftijd van de voertuigen is 8 jaar [3].", PASSAGES)
    assert s.cited == (2,) and s.verified and s.repointed


def test_a_marker_outside_the_retrieved_passages_is_dropped(checker: CitationChecker) -> None:
    supported, unsupported = checker.check(
        "Er is 2 miljoen euro budget voor de vernieuwing van het wagenpark [7]. "
        "De maan is van kaas [9].", PASSAGES)
    assert supported.dropped == (7,) and supported.cited == (3,)  # re-pointed inside the five
    assert unsupported.dropped == (9,) and unsupported.cited == () and unsupported.unverified == ()
    assert unsupported.flagged
    shown = render([supported, unsupported])
    assert "[7]" not in shown and "[9]" not in shown
    assert all(1 <= n <= len(PASSAGES) for n, _ in cited_markers([supported, unsupported]))


def test_an_unsupported_claim_keeps_its_marker_unverified_and_is_flagged(checker: CitationChecker) -> None:
    checked = checker.check("De politie heeft 70 voertuigen [1]. De minister vertrekt naar Mars [2].",
                            PASSAGES)
    assert [s.verified for s in checked] == [True, False]
    assert checked[1].unverified == (2,)
    assert render(checked) == (
        f"De politie heeft 70 voertuigen. [1] De minister vertrekt naar Mars. [2] {UNSUPPORTED}")
    assert cited_markers(checked) == [(1, True), (2, False)]


def test_an_uncited_claim_is_flagged_but_an_empty_phrase_is_not(checker: CitationChecker) -> None:
    checked = checker.check("Inbraken daalden in 2016 met tien procent. Ja.", PASSAGES)
    assert checked[0].flagged and not checked[0].cited
    assert not checked[1].flagged  # no content words: nothing to support
    assert render(checked).count(UNSUPPORTED) == 1


def test_marker_forms_are_normalised_so_markers_stay_with_their_sentence(checker: CitationChecker) -> None:
    assert normalise_markers("Claim. [1] Next [2, 3].") == "Claim [1]. Next [2][3]."
    checked = checker.check("De voertuigen zijn gemiddeld 8 jaar oud. [2] Het budget is 2 miljoen euro. [3]",
                            PASSAGES)
    assert [s.cited for s in checked] == [(2,), (3,)]
    listed = checker.check("De politie heeft 70 voertuigen [1, 2].", PASSAGES)
    assert listed[0].cited == (1,)  # [2] does not support this sentence; [1] does


def test_lines_of_the_answer_keep_their_breaks(checker: CitationChecker) -> None:
    checked = checker.check("- 70 voertuigen [1]\n- gemiddeld 8 jaar [2]", PASSAGES)
    assert render(checked) == "- 70 voertuigen [1]\n- gemiddeld 8 jaar [2]"


def test_support_is_the_share_of_content_words_found(checker: CitationChecker) -> None:
    assert checker.support("70 voertuigen", PASSAGES[0]) == 1.0
    assert checker.support("70 fietsen", PASSAGES[0]) == 0.5
    assert checker.support("de het een", PASSAGES[0]) == 0.0  # no content words: supported by nothing


def test_answer_citations_carry_the_real_verified_flags(make_assistant: Callable[..., Assistant],
                                                         docs: Path) -> None:
    assistant = make_assistant(**ANSWER_ALL, top_k=3)
    assistant.ingest([docs])
    hits = assistant.retriever.retrieve(SEED_QUESTION, 3).hits
    first = " ".join(hits[0].passage.text.split()[:12])
    assistant.answerer = ScriptedAnswerer(f"{first} [1]. De maan is gemaakt van groene kaas [2]. "
                                          "Iets over niets [8].")
    events = list(assistant.ask_stream(SEED_QUESTION, k=3))
    assert sum(isinstance(e, Token) for e in events) > 3
    answer = events[-1]
    # one claim no passage supports: shown, flagged, and never presented as a confident answer
    assert not answer.answered and not answer.verified
    data = answer.to_json()
    assert [(c["n"], c["verified"]) for c in data["citations"]] == [(1, True), (2, False)]
    assert UNSUPPORTED in data["answer"] and "[8]" not in data["answer"]
    assert data["answer"].startswith("Niet bevestigd")
    assert data["citations"][0]["text"] == hits[0].passage.text
    assert data["index_version"] == assistant.index.version


def test_an_answer_without_any_supported_citation_is_a_refusal(make_assistant: Callable[..., Assistant],
                                                                docs: Path) -> None:
    assistant = make_assistant(**ANSWER_ALL, top_k=3,
                               answerer=ScriptedAnswerer("De maan is gemaakt van groene kaas [1]."))
    assistant.ingest([docs])
    answer = assistant.ask(SEED_QUESTION, k=3)
    assert not answer.answered and answer.citations == [] and len(answer.retrieved) == 3


def test_extractive_answers_verify(make_assistant: Callable[..., Assistant], docs: Path) -> None:
    assistant = make_assistant(**ANSWER_ALL)
    assistant.ingest([docs])
    answer = assistant.ask(SEED_QUESTION)
    assert answer.answered and answer.citations
    assert all(c.verified for c in answer.citations)
    assert UNSUPPORTED not in answer.answer
