"""Follow-up questions rewritten into standalone queries: by rule, by LLM, and through ask."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.assistant import Assistant
from assistant.followup import LLMRewriter, RuleRewriter
from assistant.llm import make_chat_model
from assistant.settings import Settings
from tests.conftest import ANSWER_ALL, SEED_QUESTION
from values.text import Tokenizer

# MiniLM's similarities sit below the refusal thresholds calibrated for e5: answer everything here

ASYLUM = "Hoeveel asielaanvragen werden er in 2015 ingediend bij het Commissariaat-generaal?"


@pytest.fixture(scope="module")
def rules() -> RuleRewriter:
    return RuleRewriter(Tokenizer())


def test_a_new_year_replaces_the_previous_one(rules: RuleRewriter) -> None:
    history = [(ASYLUM, "In 2015 werden 44.760 aanvragen ingediend [1].")]
    assert rules.rewrite("En in 2016?", history) == ASYLUM.replace("2015", "2016")


def test_english_what_about(rules: RuleRewriter) -> None:
    history = [("How many asylum applications were filed in 2015?", "44,760 [1].")]
    assert rules.rewrite("What about 2016?", history) == "How many asylum applications were filed in 2016?"


def test_a_new_number_replaces_a_number_not_a_year(rules: RuleRewriter) -> None:
    previous = "Hoeveel agenten telt de politiezone 5300 in 2017?"
    assert rules.rewrite("En politiezone 5400?", [(previous, "…")]) == previous.replace("5300", "5400")
    # a new subject beside the number: the old number is not carried over, the year is
    assert rules.rewrite("En Brussel-Noord 5340?", [(previous, "…")]) == (
        "En Brussel-Noord 5340? (agenten telt politiezone 2017)")


def test_a_reference_back_carries_the_subject_over(rules: RuleRewriter) -> None:
    query = rules.rewrite("Welke minister antwoordde daarop?", [(SEED_QUESTION, "OTA ontvangt … [1]")])
    assert query.startswith("Welke minister antwoordde daarop?")
    for word in ("projectsubsidie", "OTA", "WVG"):
        assert word in query
    assert "Hoeveel" not in query  # question words are not the subject


def test_a_new_subject_with_a_connector_keeps_its_words(rules: RuleRewriter) -> None:
    query = rules.rewrite("En voor Brussel?", [(ASYLUM, "…")])
    assert query.startswith("En voor Brussel?") and "asielaanvragen" in query and "2015" in query


def test_follow_ups_chain_through_earlier_turns(rules: RuleRewriter) -> None:
    history = [(ASYLUM, "…"), ("En in 2016?", "…")]
    assert rules.rewrite("En in 2017?", history) == ASYLUM.replace("2015", "2017")


@pytest.mark.parametrize("question", [
    "Hoeveel voertuigen heeft de federale gerechtelijke politie van Bergen-Doornik momenteel?",
    "Welke maatregelen neemt de minister tegen de wachtlijsten die in de jeugdzorg ontstaan zijn?",
])
def test_a_standalone_question_is_left_alone(rules: RuleRewriter, question: str) -> None:
    assert not rules.is_followup(question)
    assert rules.rewrite(question, [(ASYLUM, "…")]) == question


@pytest.mark.parametrize("question", [
    "En in 2016?", "Maar hoeveel waren dat er in Brussel?", "Welke minister antwoordde daarop?",
    "Wat zei hij?", "And what did they decide?", "Waarom?",
])
def test_follow_ups_are_detected(rules: RuleRewriter, question: str) -> None:
    assert rules.is_followup(question)


def test_without_history_nothing_changes(rules: RuleRewriter) -> None:
    assert rules.rewrite("En in 2016?", []) == "En in 2016?"
    assert rules.rewrite("En in 2016?", None) == "En in 2016?"


def test_the_llm_rewriter_falls_back_to_the_rules_when_the_model_is_unreachable(
        rules: RuleRewriter) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    settings = Settings(llm="openai", llm_model="m", llm_base_url=f"http://127.0.0.1:{port}/v1",
                        llm_timeout=2, llm_retries=0)
    rewriter = LLMRewriter(make_chat_model(settings), rules)
    history = [(ASYLUM, "…")]
    assert rewriter.rewrite("En in 2016?", history) == rules.rewrite("En in 2016?", history)
    standalone = "Hoeveel voertuigen heeft de federale gerechtelijke politie van Bergen-Doornik momenteel?"
    assert rewriter.rewrite(standalone, history) == standalone  # no model call for a standalone question


@pytest.mark.model  # retrieval quality for the rewritten query
def test_ask_with_history_retrieves_for_the_rewritten_query(make_assistant: Callable[..., Assistant],
                                                              docs: Path) -> None:
    assistant = make_assistant(**ANSWER_ALL)
    assistant.ingest([docs])
    first = assistant.ask(SEED_QUESTION)
    answer = assistant.ask("Welke minister antwoordde daarop?", history=[(SEED_QUESTION, first.answer)])
    assert answer.question == "Welke minister antwoordde daarop?"
    assert "projectsubsidie" in answer.query and answer.to_json()["query"] == answer.query
    assert answer.retrieved[0].passage.source.endswith("000_f1983a13cfbb3364.txt")
    assert assistant.ask(SEED_QUESTION, history=[("Iets anders?", "…")]).query == SEED_QUESTION
