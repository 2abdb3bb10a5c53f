"""Chat callbacks: stream an answer into the conversation, open a cited passage, apply settings."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

import gradio as gr

from assistant.answer import Answer
from assistant.assistant import Assistant, Token
from assistant.scope import Scope
from ui.format import conversation_html, panel_message
from ui.i18n import t
from ui.state import Prefs, Turn
from ui.viewer import Target, clicked, render_panel
from values.errors import QuestionError, StoreError


def history(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """Earlier (question, answer) pairs, oldest first, for rewriting a follow-up question."""
    return [(turn.question, turn.answer.answer) for turn in turns if turn.answer is not None]


class Chat:
    """The chat tab's callbacks over one (read-only, shared) assistant."""

    def __init__(self, assistant: Assistant, stream_interval: float = 0.1) -> None:
        self.assistant = assistant
        # every update re-sends the conversation's HTML: a token-by-token stream is sent in
        # pieces at most this often (seconds), never once per token
        self.stream_interval = stream_interval

    def render(self, turns: Sequence[Turn], prefs: Prefs) -> str:
        """The conversation as HTML for this session's preferences."""
        return conversation_html(turns, prefs, self.assistant.document_count())

    def ask(self, question: str, turns: list[Turn], prefs: Prefs, paths: list[str] | None,
            years: list[str] | None = None, types: list[str] | None = None,
            k: float | None = None, show_scores: bool | None = None,
            ) -> Iterator[tuple[str, str, list[Turn]]]:
        """Stream one answer: yields (conversation, question box, turns) as tokens arrive.

        ``k`` and ``show_scores`` are the settings as the window shows them when the question is
        sent: an edit of the setting just before asking may not have reached the session yet.

        ``paths`` (documents, or folders ending in "/"), ``years`` and ``types`` scope the question.
        """
        if k is not None:
            prefs = replace(prefs, k=int(k))
        if show_scores is not None:
            prefs = replace(prefs, show_scores=bool(show_scores))
        if not question.strip():
            yield self.render(turns, prefs), question, turns
            return
        try:
            question = self.assistant.validate(question)
            scope = Scope.of(paths or (), years or (), types or ())
        except QuestionError as e:  # keep the question in the box so it can be fixed
            gr.Warning(str(e))
            yield self.render(turns, prefs), question, turns
            return
        turns = [*turns, Turn(question)]
        yield self.render(turns, prefs), "", turns
        text = ""
        sent = time.monotonic()
        try:
            for event in self.assistant.ask_stream(question, prefs.k, scope, history(turns[:-1])):
                if isinstance(event, Token):
                    text += event.text
                    turns[-1] = Turn(question, partial=text)
                    if time.monotonic() - sent < self.stream_interval:
                        continue
                    sent = time.monotonic()
                elif isinstance(event, Answer):
                    turns[-1] = Turn(question, answer=event)
                yield self.render(turns, prefs), "", turns
        except (StoreError, QuestionError) as e:  # e.g. no document in the chosen scope
            turns[-1] = Turn(question, error=str(e))
            yield self.render(turns, prefs), "", turns

    def clear(self, prefs: Prefs) -> tuple[str, list[Turn]]:
        """Start a new conversation."""
        return self.render([], prefs), []

    def open(self, prefs: Prefs, evt: gr.EventData) -> tuple[str, Target | None]:
        """Show the clicked passage (or document) in the side panel; remember what is shown."""
        _, target = clicked(evt)
        return self.panel(target, prefs), target

    def panel(self, target: Target | None, prefs: Prefs) -> str:
        """The side panel for ``target`` (source, start, end) in this session's language."""
        if target is None:
            return panel_message(t(prefs.language, "panel_empty"), prefs.language)
        source, start, end, *rest = target
        return render_panel(self.assistant.open_document, source, start, end, prefs.language,
                            rest[0] if rest else None)

    @staticmethod
    def set_k(prefs: Prefs, k: float) -> Prefs:
        """This session's number of passages."""
        return replace(prefs, k=int(k))

    @staticmethod
    def set_scores(prefs: Prefs, show: bool) -> Prefs:
        """Show or hide scores in this session."""
        return replace(prefs, show_scores=bool(show))

    @staticmethod
    def set_language(prefs: Prefs, language: str) -> Prefs:
        """This session's interface language."""
        return replace(prefs, language=language)
