"""Text → passages with exact offsets, page, section and item number.

Every passage satisfies ``document.text[p.start:p.end] == p.text``: pieces are located in the
source, never rebuilt from tokens, and only leading/trailing whitespace is trimmed from a span.
Splitting follows the structure: Q&A parts and numbered items, else headings; inside a block
LangChain's recursive splitter cuts at paragraphs, lines, sentences, then words, never mid-word.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.loaders import LoadedDocument
from ingest.structure import QAStructure, find_qa
from values.passage import Passage
from values.text import cut, squash

_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " "]
_CONTEXT_QUESTION_CHARS = 700


@dataclass(frozen=True)
class ChunkingConfig:
    """How big passages are; part of the index's recorded settings (defaults: ``Settings``)."""

    chunk_size: int
    chunk_overlap: int
    structure: bool


class Chunker:
    """Splits a loaded document into passages that keep their place in the source."""

    def __init__(self, config: ChunkingConfig) -> None:
        self.config = config
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=config.chunk_size,
            chunk_overlap=min(config.chunk_overlap, config.chunk_size // 2),
            separators=_SEPARATORS,
            keep_separator="end",
            strip_whitespace=True,
        )

    def split(self, doc: LoadedDocument) -> list[Passage]:
        """All passages of ``doc``, in document order."""
        qa = find_qa(doc.text) if self.config.structure else None
        if qa is not None and (qa.question.items or qa.answer.items or qa.answer.end > qa.answer.start):
            return self._split_qa(doc, qa)
        return self._split_sections(doc)

    def _split_qa(self, doc: LoadedDocument, qa: QAStructure) -> list[Passage]:
        text, title = doc.text, doc.title
        out: list[Passage] = []
        out += self._pieces(doc, 0, qa.header_end, kind="header", section="header", context="")
        question_text = squash(text[qa.question.start:qa.question.end])
        paired: set[int] = set()
        answers: list[Passage] = []
        answer = qa.answer
        answers += self._pieces(
            doc, answer.start, answer.preamble_end, kind="answer", section="ANTWOORD",
            context=_context(title, "Vraag", question_text),
        )
        for item in answer.items:
            questions = qa.question_for(item)
            paired.update(q.first for q in questions)
            asked = " ".join(squash(text[q.start:q.end]) for q in questions) or question_text
            answers += self._pieces(
                doc, item.start, item.end, kind="answer", section="ANTWOORD", item=item.label,
                context=_context(title, f"Vraag {item.label}", asked),
            )
        redirect = answers[0].passage_id if answers else None
        question_part = qa.question
        questions_out = self._pieces(
            doc, question_part.start, question_part.preamble_end, kind="question", section="VRAAG",
            context=title, answer_id=redirect,
        )
        for q_item in question_part.items:
            if q_item.first not in paired:
                questions_out += self._pieces(
                    doc, q_item.start, q_item.end, kind="question", section="VRAAG",
                    item=q_item.label, context=title, answer_id=redirect,
                )
        return out + questions_out + answers

    def _split_sections(self, doc: LoadedDocument) -> list[Passage]:
        # headings and page breaks both bound a block: a passage never straddles two pages
        bounds = sorted(({h.start for h in doc.headings} | set(doc.page_starts)) - {0})
        starts = [0, *bounds]
        ends = [*bounds, len(doc.text)]
        out: list[Passage] = []
        trail: list[tuple[int, str]] = []
        heading_at = {h.start: h for h in doc.headings}
        for start, end in zip(starts, ends, strict=True):
            heading = heading_at.get(start)
            if heading is not None:
                trail = [(lvl, t) for lvl, t in trail if lvl < heading.level] + [(heading.level, heading.title)]
            section = " > ".join(t for _, t in trail) or None
            context = doc.title if not section or section == doc.title else f"{doc.title}\n{section}"
            out += self._pieces(doc, start, end, kind="text", section=section, context=context)
        return out

    def _pieces(
        self, doc: LoadedDocument, start: int, end: int, *, kind: str, section: str | None,
        context: str, item: str | None = None, answer_id: str | None = None,
    ) -> list[Passage]:
        """Split ``doc.text[start:end]`` and locate every piece at its exact offsets."""
        block = doc.text[start:end]
        if not block.strip():
            return []
        limit = self.config.chunk_size
        whole = block.strip()
        # a block up to half again the target stays whole: an answer is best read (and
        # retrieved) in one piece, and cutting it leaves a stub that competes with its head
        pieces = [whole] if len(whole) <= limit * 1.5 else self._splitter.split_text(block)
        spans: list[tuple[int, int]] = []
        cursor = end_of_last = 0
        for piece in pieces:
            # a piece starts after the last one's start and ends after its end (pieces overlap by
            # at most the overlap): searching only from the last start + 1 could find repeated
            # text ("0000…") inside the last piece
            at = block.find(piece, max(cursor, end_of_last - len(piece) + 1))
            if at < 0:  # the splitter never rewrites text; this guards the offset invariant
                raise ValueError(f"{doc.source}: chunk not found at its offset")
            spans.extend(_hard_cut(start + at, start + at + len(piece), limit, self.config.chunk_overlap))
            cursor, end_of_last = at + 1, at + len(piece)
        extra: dict[str, str | int] = {"answer_id": answer_id} if answer_id else {}
        return [
            Passage(source=doc.source, start=p_start, end=p_end, text=doc.text[p_start:p_end],
                    page=doc.page_at(p_start), section=section, item=item, kind=kind, context=context,
                    title=doc.title, doc_type=doc.doc_type, extra=dict(extra))
            for p_start, p_end in _merge_stub(spans, limit // 6)
        ]


def _hard_cut(start: int, end: int, limit: int, overlap: int) -> list[tuple[int, int]]:
    """A span the splitter could not cut, in pieces of ``limit`` characters.

    A run without spaces or punctuation (base64, a hash, a broken PDF's glued text) would
    otherwise be one passage of megabytes, far past what the embedder reads.
    """
    if end - start <= limit * 2:
        return [(start, end)]
    step = max(1, limit - min(overlap, limit // 2))
    cuts = [(at, min(at + limit, end)) for at in range(start, end - min(overlap, limit // 2), step)]
    if len(cuts) > 1 and cuts[-1][1] - cuts[-1][0] < limit // 2:  # a short tail joins the cut before it
        cuts[-2:] = [(cuts[-2][0], end)]
    return cuts


def _merge_stub(spans: list[tuple[int, int]], shortest: int) -> list[tuple[int, int]]:
    """Fold a last piece shorter than ``shortest`` into the piece before it."""
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < shortest:
        return [*spans[:-2], (spans[-2][0], spans[-1][1])]
    return spans


def _context(title: str, label: str, question: str) -> str:
    """Title plus the (shortened) sub-question an answer passage answers.

    ``question`` comes squashed; ``cut`` (not ``shorten``) keeps the stored context exactly as it was.
    """
    question = cut(question, _CONTEXT_QUESTION_CHARS)
    return f"{title}\n{label}: {question}" if question else title
