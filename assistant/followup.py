"""Follow-up questions: "En in 2016?" becomes a standalone query built from the chat history.

A question counts as a follow-up when history exists and it starts with a connector (En, Maar,
And, What about, …), refers back (daarop, hij, it, they; or dat/die/that when it is short), or
has fewer than four content words. The rule-based rewriter then carries the previous
question's subject over: the previous question with its year or number replaced when the
follow-up only swaps that, else the follow-up plus the previous question's content words. With
an LLM configured, the model rewrites instead, and the rules stand in when its reply fails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from langchain_core.messages import HumanMessage, SystemMessage

from assistant.citations import MARKER
from assistant.llm import ChatModel
from values.errors import AnswerBackendError
from values.text import Tokenizer, shorten

History = Sequence[tuple[str, str]]
"""Earlier turns, oldest first: (question as asked, answer as shown)."""

_CONNECTOR = re.compile(
    r"^\s*(?:en|maar|ook|and|but|also|what about|how about|wat dan met|hoe zit het met)\b[\s,]*",
    re.IGNORECASE)
_REFER_STRONG = re.compile(
    r"\b(?:(?:daar|hier|waar)(?:op|over|van|mee|bij|in|na|voor|door|aan|uit|om|tegen|toe)|"
    r"hij|zij|ze|hem|he|she|it|its|they|them|their)\b", re.IGNORECASE)
_REFER_WEAK = re.compile(r"\b(?:dat|die|deze|dit|dezelfde|that|this|those|these|same)\b", re.IGNORECASE)
_WORD = re.compile(r"\w+")
_QUESTION_WORDS = frozenset(
    "hoeveel welke welk wat wie waarom hoe wanneer waar kan kunt zou wil graag gelieve "
    "what which who whom why how when where about many much".split())
_NUMBER = re.compile(r"\b\d[\d.,/-]*\d\b|\b\d\b")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_MIN_CONTENT_WORDS = 4
_WEAK_BELOW = 6
_TURNS = 4
_MAX_REWRITE_CHARS = 600  # a longer reply is the model answering, not rewriting


class Rewriter(Protocol):
    """Turns a question asked in a conversation into a query that stands on its own."""

    def rewrite(self, question: str, history: History | None) -> str:
        """The standalone query (``question`` itself when it needs no context)."""
        ...


class RuleRewriter:
    """Rewrites follow-ups by rule: no model, deterministic."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenize = tokenizer

    def is_followup(self, question: str) -> bool:
        """Whether ``question`` leans on an earlier turn."""
        content = len(self._content_words(question))
        return bool(_CONNECTOR.match(question) or _REFER_STRONG.search(question)
                    or (_REFER_WEAK.search(question) and content < _WEAK_BELOW)
                    or content < _MIN_CONTENT_WORDS)

    def rewrite(self, question: str, history: History | None) -> str:
        """``question`` made standalone from the last turns of ``history``."""
        turns = list(history or [])[-_TURNS:]
        if not turns or not self.is_followup(question):
            return question
        previous = self.rewrite(turns[-1][0], turns[:-1])
        return self.combine(question, previous)

    def combine(self, question: str, previous: str) -> str:
        """The previous question with the new number swapped in, or the question plus its subject."""
        swapped = self._swap_numbers(question, previous)
        if swapped is not None:
            return swapped
        asked = set(self.tokenize(question))
        kinds = {bool(_YEAR.match(n)) for n in _NUMBER.findall(question)}
        # a number of the kind the follow-up brings is replaced by it, so it is not carried over
        subject = [w for w in self._content_words(previous) if not asked & set(self.tokenize(w))
                   and not (_NUMBER.fullmatch(w) and bool(_YEAR.match(w)) in kinds)]
        return f"{question.strip()} ({' '.join(subject)})" if subject else question.strip()

    def _swap_numbers(self, question: str, previous: str) -> str | None:
        """``previous`` with its year/number replaced by the question's, if that is all it changes."""
        new = _NUMBER.findall(question)
        old = _NUMBER.findall(previous)
        if not new or not old:
            return None
        others = {stem for w in self._content_words(_CONNECTOR.sub("", _NUMBER.sub(" ", question)))
                  for stem in self.tokenize(w)}
        if others - set(self.tokenize(previous)):
            return None  # the follow-up brings its own subject words: keep them
        result, used = previous, set()
        for value in new:
            kind = bool(_YEAR.match(value))
            slot = next((o for o in old if o not in used and bool(_YEAR.match(o)) == kind), None)
            if slot is None:
                return None
            used.add(slot)
            result = re.sub(rf"(?<![\w.]){re.escape(slot)}(?![\w])", value, result, count=1)
        return result

    def _content_words(self, text: str) -> list[str]:
        """The words of ``text`` that are not stopwords, first spelling of each stem."""
        seen: set[str] = set()
        out: list[str] = []
        for word in _WORD.findall(MARKER.sub(" ", text)):
            if word.lower() in _QUESTION_WORDS:
                continue
            stems = self.tokenize(word)
            if stems and stems[0] not in seen:
                seen.add(stems[0])
                out.append(word)
        return out


REWRITE_SYSTEM = """Rewrite the user's last question so that it can be understood without the conversation:
replace words like "that", "he", "daarop", "hij" and elliptic questions such as "And in 2016?"
with what they refer to. Keep the language of the question. Do not answer it.
Reply with the rewritten question only, on one line."""


class LLMRewriter:
    """Rewrites follow-ups with the configured chat model; the rules stand in when it fails."""

    def __init__(self, model: ChatModel, rules: RuleRewriter) -> None:
        self.model = model
        self.rules = rules

    def rewrite(self, question: str, history: History | None) -> str:
        """The model's standalone question, or the rule-based one if the model fails or rambles."""
        turns = list(history or [])[-_TURNS:]
        if not turns or not self.rules.is_followup(question):
            return question
        try:
            reply = self.model.complete(self.messages(question, turns), stop=["\n"])
        except AnswerBackendError:
            # the answer call that follows reports the backend's failure; retrieval still gets a query
            return self.rules.rewrite(question, turns)
        rewritten = _clean(reply)
        if not rewritten or len(rewritten) > _MAX_REWRITE_CHARS or not self.rules.tokenize(rewritten):
            return self.rules.rewrite(question, turns)
        return rewritten

    def messages(self, question: str, turns: History) -> list[SystemMessage | HumanMessage]:
        """The conversation so far (answers shortened) and the question to rewrite."""
        lines = []
        for asked, answered in turns:
            lines.append(f"User: {asked}")
            lines.append(f"Assistant: {shorten(MARKER.sub('', answered), 300)}")
        lines.append(f"\nLast question: {question}\nRewritten question:")
        return [SystemMessage(REWRITE_SYSTEM), HumanMessage("\n".join(lines))]


def _clean(reply: str) -> str:
    line = next((ln for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^\s*(?:rewritten question|standalone question|herschreven vraag|vraag)\s*:\s*", "",
                  line, flags=re.IGNORECASE)
    return line.strip().strip("\"'“”").strip()
